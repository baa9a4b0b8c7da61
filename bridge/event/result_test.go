package event_test

import (
	"reflect"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// Every family's data type says whether its task made something and
// what, so no caller needs a case per family.
func TestResults(t *testing.T) {
	dur := 12.5
	tests := []struct {
		name  string
		data  event.Result
		made  bool
		items []string
	}{
		{"tracks, folded", event.DataV1{Tracks: []event.TrackV1{
			{Title: "A", AudioURL: "https://a/1.mp3", Duration: &dur}, {Title: "B"}, {Title: "B"},
		}}, true, []string{`"A" 12.5s https://a/1.mp3`, `"B" (2 tracks)`}},
		{"tracks without audio", event.DataV1{Tracks: []event.TrackV1{{Title: "A", StreamAudioURL: "https://s/1"}}}, false, []string{`"A" https://s/1`}},
		{"lyrics", event.LyricsV1{Lyrics: []event.LyricV1{{Title: "T", Status: "complete", Text: "la la"}}}, true, []string{`"T" complete, 5 characters`}},
		{"no lyrics", event.LyricsV1{}, false, []string{}},
		{"wav", event.WavV1{AudioWavURL: "https://w"}, true, []string{"https://w"}},
		{"no wav", event.WavV1{}, false, nil},
		{"stems", event.StemsV1{Stems: event.StemURLsV1{VocalURL: "https://v", DrumsURL: "https://d"}}, true, []string{"https://v", "https://d"}},
		{"no stems", event.StemsV1{}, false, nil},
		{"midi", event.MIDIV1{Instruments: []event.InstrumentV1{{Name: "Piano", Notes: []event.NoteV1{{}}}, {Name: "Bass"}}}, true,
			[]string{`"Piano" 1 note`, `"Bass" 0 notes`}},
		{"video", event.VideoV1{VideoURL: "https://m"}, true, []string{"https://m"}},
		{"cover images", event.CoverImageV1{Images: []string{"https://i/1", "https://i/2"}}, true, []string{"https://i/1", "https://i/2"}},
		{"voice phrase", event.VoiceV1{Status: "wait_validating", ValidateInfo: "say this"}, true, []string{`wait_validating "say this"`}},
		{"no voice", event.VoiceV1{Status: "fail"}, false, []string{`fail ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.data.Made(); got != tt.made {
				t.Errorf("Made() = %v, want %v", got, tt.made)
			}
			if got := tt.data.Items(); !reflect.DeepEqual(got, tt.items) {
				t.Errorf("Items() = %q, want %q", got, tt.items)
			}
		})
	}
	// Every family's data type is a Result.
	for _, f := range event.Families() {
		if _, ok := reflect.ValueOf(f.NewData()).Elem().Interface().(event.Result); !ok {
			t.Errorf("%s: %T is not an event.Result", f, f.NewData())
		}
	}
}
