package event_test

import (
	"strings"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// Each data type names its media once per id and kind, skips empty URLs,
// and never puts a provider's odd track id in an object name.
func TestMedia(t *testing.T) {
	for _, tt := range []struct {
		name string
		data event.MediaLister
		want []string // id/kind
	}{
		{"tracks", event.DataV1{Tracks: []event.TrackV1{
			{ID: "a1", AudioURL: "https://x/a.mp3", ImageURL: "https://x/a.jpeg"},
			{ID: "", AudioURL: "https://x/b.mp3"},
			{ID: "../../etc", AudioURL: "https://x/c.mp3", ImageURL: ""},
			{ID: strings.Repeat("x", 129), ImageURL: "https://x/d.jpeg"},
			{ID: "a1", AudioURL: "https://x/dup.mp3"},
		}}, []string{"a1/audio", "a1/image", "track-2/audio", "track-3/audio", "track-4/image"}},
		{"wav", event.WavV1{AudioWavURL: "https://x/a.wav"}, []string{"wav/audio"}},
		{"failed wav", event.WavV1{}, nil},
		{"stems", event.StemsV1{Stems: event.StemURLsV1{VocalURL: "https://x/v.mp3", DrumsURL: "https://x/d.mp3"}}, []string{"vocal/audio", "drums/audio"}},
		{"video", event.VideoV1{VideoURL: "https://x/v.mp4"}, []string{"video/video"}},
		{"cover images", event.CoverImageV1{Images: []string{"https://x/1.png", "", "https://x/3.png"}}, []string{"image-1/image", "image-3/image"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, m := range tt.data.Media() {
				got = append(got, m.ID+"/"+m.Kind)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("media %v, want %v", got, tt.want)
			}
		})
	}
	for _, f := range event.Families() {
		want := f != event.FamilyLyrics && f != event.FamilyMIDI && f != event.FamilyVoice && f != event.FamilyVoiceValidate && f != event.FamilyVoiceRegenerate
		if f.Archives() != want {
			t.Errorf("%s archives: %v", f, f.Archives())
		}
	}
}
