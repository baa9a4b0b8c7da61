package tail_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tail"
)

// golden decodes a golden event after edit changed its data.
func golden(t *testing.T, path, subject string, edit func(data map[string]any)) consumer.Event {
	t.Helper()
	raw, err := os.ReadFile("../../event/testdata/golden/" + path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc["data"].(map[string]any))
	raw, _ = json.Marshal(doc)
	e, err := consumer.Decode(subject, nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLine(t *testing.T) {
	const task = "2fac4d1b9e0a4c8fb1d2e3f4a5b69f72"
	tests := map[string]struct {
		e       consumer.Event
		want    string
		wantNot string
	}{
		// A hostile provider's URL must not retitle or clear the terminal.
		"control characters in a URL": {
			e: golden(t, "video/k-complete.json", "video."+task+".complete", func(d map[string]any) {
				d["video_url"] = "https://example.cn/\u001b]0;pwned\u0007\u001b[2J\u009b31m.mp4"
			}),
			want: "https://example.cn/\uFFFD]0;pwned\uFFFD\uFFFD[2J\uFFFD31m.mp4",
		},
		"one note": {
			e: golden(t, "midi/k-complete.json", "midi."+task+".complete", func(d map[string]any) {
				in := d["instruments"].([]any)[0].(map[string]any)
				in["notes"] = in["notes"].([]any)[:1]
			}),
			want: `"Acoustic Grand Piano" 1 note`, wantNot: "1 notes",
		},
		// A text stage's two tracks have a title and nothing else yet.
		"tracks that show the same": {
			e: golden(t, "vocals/s-text.json", "vocals."+task+".text", func(d map[string]any) {
				tracks := d["tracks"].([]any)
				d["tracks"] = append(tracks, tracks[0])
			}),
			want: "\n    \"Iron Man\" (2 tracks)", wantNot: "\"Iron Man\"\n",
		},
		// The archiver's report, each file a line, a refusal with its reason.
		"archived": {
			e:    golden(t, "../archived.json", "vocals.task1.archived", func(map[string]any) {}),
			want: "vocals            archived  task1\n    audio e231c0de-1a2b-4c3d-8e9f-0a1b8cadc7dc: vocals/task1/e231c0de-1a2b-4c3d-8e9f-0a1b8cadc7dc/audio (3175552 bytes, audio/mpeg)\n    image e231c0de-1a2b-4c3d-8e9f-0a1b8cadc7dc: not kept, host_not_allowed",
		},
		"two notes": {
			e:    golden(t, "midi/k-complete.json", "midi."+task+".complete", func(map[string]any) {}),
			want: `"Acoustic Grand Piano" 2 notes`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			line := tail.Line(tc.e)
			if !strings.Contains(line, tc.want) || tc.wantNot != "" && strings.Contains(line, tc.wantNot) {
				t.Errorf("line %q, want %q", line, tc.want)
			}
			for _, r := range line {
				if unicode.IsControl(r) && r != '\n' {
					t.Errorf("line %q holds control character %U", line, r)
				}
			}
		})
	}
}
