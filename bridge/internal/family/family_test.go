package family_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
)

// The table and the public contract name the same families, in order.
func TestTableCoversEveryFamily(t *testing.T) {
	all := family.All()
	if len(all) != len(event.Families()) {
		t.Fatalf("%d families in the table, %d in the contract", len(all), len(event.Families()))
	}
	for i, f := range event.Families() {
		if all[i].Name != f {
			t.Errorf("table[%d] is %s, want %s", i, all[i].Name, f)
		}
		if all[i].Kind == nil || all[i].Submit == "" || all[i].Details == "" || all[i].Status.Field == "" {
			t.Errorf("%s: incomplete description %+v", f, all[i])
		}
	}
}

func decode(t *testing.T, f family.Family, body []byte) (callback.Callback, error) {
	t.Helper()
	p, err := f.Kind.Peek(body)
	if err != nil {
		return callback.Callback{}, err
	}
	return f.Kind.Decode(p, f.Name)
}

// Every family has success and failure examples in both spellings; each
// decodes to the stage its name says, and its event's data decodes back
// into the family's type with the task id and stage.
func TestEveryExampleDecodes(t *testing.T) {
	b := cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost/schemas", time.UTC)
	for _, f := range family.All() {
		have := map[string]bool{}
		for _, ex := range f.Examples() {
			have[ex.Spelling+"-"+string(ex.Stage)] = true
			t.Run(string(f.Name)+"/"+ex.Name, func(t *testing.T) {
				cb, err := decode(t, f, ex.For("task-1"))
				if err != nil {
					t.Fatal(err)
				}
				if cb.Stage != ex.Stage || cb.TaskID != "task-1" || cb.Family != f.Name {
					t.Fatalf("decoded %s %s %s, want %s %s task-1", cb.Family, cb.TaskID, cb.Stage, f.Name, ex.Stage)
				}
				m, err := b.Build(cb, cloudevent.Source{Body: ex.Body})
				if err != nil {
					t.Fatal(err)
				}
				if want := b.Prefix(f.Name) + ".task-1." + string(ex.Stage); m.Subject != want {
					t.Errorf("subject %s, want %s", m.Subject, want)
				}
				var ce struct {
					Type string          `json:"type"`
					Data json.RawMessage `json:"data"`
				}
				if err := json.Unmarshal(m.Body, &ce); err != nil {
					t.Fatal(err)
				}
				if ce.Type != f.Name.Type(ex.Stage) {
					t.Errorf("type %s", ce.Type)
				}
				data := f.Name.NewData()
				dec := json.NewDecoder(strings.NewReader(string(ce.Data)))
				dec.DisallowUnknownFields() // the type models every member the builder writes
				if err := dec.Decode(data); err != nil {
					t.Fatalf("data does not decode into %T: %v\n%s", data, err, ce.Data)
				}
				var common struct {
					TaskID string `json:"task_id"`
					Stage  string `json:"stage"`
				}
				_ = json.Unmarshal(ce.Data, &common)
				if common.TaskID != "task-1" || common.Stage != string(ex.Stage) {
					t.Errorf("data says %+v", common)
				}
			})
		}
		for _, want := range []string{"s-complete", "k-complete", "s-error", "k-error"} {
			if !have[want] {
				t.Errorf("%s has no %s example", f.Name, want)
			}
		}
	}
}

// The variants the provider's documentation shows, each read into the same typed data.
func TestVariantsReadAlike(t *testing.T) {
	get := func(name event.Family) family.Family {
		f, ok := family.Get(name)
		if !ok {
			t.Fatalf("no family %s", name)
		}
		return f
	}
	tests := map[string]struct {
		family event.Family
		body   string
		check  func(t *testing.T, cb callback.Callback)
	}{
		"wav camelCase": {event.FamilyWAV, `{"code":200,"msg":"ok","data":{"task_id":"a","audioWavUrl":"https://x/a.wav"}}`,
			func(t *testing.T, cb callback.Callback) {
				wantEq(t, cb.Data.(event.WavV1).AudioWavURL, "https://x/a.wav")
			}},
		"wav snake_case": {event.FamilyWAV, `{"code":200,"msg":"ok","data":{"task_id":"a","audio_wav_url":"https://x/a.wav"}}`,
			func(t *testing.T, cb callback.Callback) {
				wantEq(t, cb.Data.(event.WavV1).AudioWavURL, "https://x/a.wav")
			}},
		"lyrics in data.data with errorMessage": {event.FamilyLyrics, `{"code":200,"msg":"ok","data":{"taskId":"a","data":[{"text":"t","status":"failed","errorMessage":"e"}]}}`,
			func(t *testing.T, cb callback.Callback) {
				l := cb.Data.(event.LyricsV1).Lyrics
				wantEq(t, len(l), 1)
				wantEq(t, l[0].ErrorMessage, "e")
			}},
		"lyrics in lyricsData with error_message": {event.FamilyLyrics, `{"code":200,"msg":"ok","data":{"task_id":"a","lyricsData":[{"text":"t","status":"failed","error_message":"e"}]}}`,
			func(t *testing.T, cb callback.Callback) {
				wantEq(t, cb.Data.(event.LyricsV1).Lyrics[0].ErrorMessage, "e")
			}},
		"stems, a subset under vocal_separation_info": {event.FamilyStems, `{"code":200,"msg":"ok","data":{"task_id":"a","vocal_separation_info":{"origin_url":"","drums_url":"d"}}}`,
			func(t *testing.T, cb callback.Callback) {
				s := cb.Data.(event.StemsV1).Stems
				wantEq(t, s.DrumsURL, "d")
				wantEq(t, s.VocalURL, "")
			}},
		"midi times as numbers and strings in one body": {event.FamilyMIDI, `{"code":200,"msg":"ok","task_id":"a","data":{"state":"complete","instruments":[{"name":"p","notes":[{"pitch":60,"start":"0.5","end":1,"velocity":" 90 "}]}]}}`,
			func(t *testing.T, cb callback.Callback) {
				n := cb.Data.(event.MIDIV1).Instruments[0].Notes[0]
				wantEq(t, [4]float64{n.Pitch, n.Start, n.End, n.Velocity}, [4]float64{60, 0.5, 1, 90})
			}},
		"midi state other than complete": {event.FamilyMIDI, `{"code":200,"msg":"ok","data":{"taskId":"a","state":"processing"}}`,
			func(t *testing.T, cb callback.Callback) { wantEq(t, cb.Stage, event.StageError) }},
		"replace-section failure with data.error": {event.FamilyReplaceSection, `{"code":200,"msg":"ok","data":{"task_id":"a","error":"nope"}}`,
			func(t *testing.T, cb callback.Callback) {
				wantEq(t, cb.Stage, event.StageError)
				wantEq(t, string(cb.Extra["error"]), `"nope"`)
			}},
		"failure word as callbackType": {event.FamilyGenerate, `{"code":200,"msg":"ok","data":{"task_id":"a","callbackType":"failed","data":null}}`,
			func(t *testing.T, cb callback.Callback) { wantEq(t, cb.Stage, event.StageError) }},
		"voice processing_validate_fail": {event.FamilyVoiceValidate, `{"code":200,"msg":"ok","data":{"taskId":"a","status":"processing_validate_fail"}}`,
			func(t *testing.T, cb callback.Callback) { wantEq(t, cb.Stage, event.StageError) }},
		"voice validateInfo that is not a string is kept": {event.FamilyVoiceValidate, `{"code":200,"msg":"ok","data":{"taskId":"a","status":"wait_validating","validateInfo":{"text":"x"}}}`,
			func(t *testing.T, cb callback.Callback) {
				v := cb.Data.(event.VoiceV1)
				wantEq(t, v.ValidateInfo, "")
				wantEq(t, string(v.Extra["validateInfo"]), `{"text":"x"}`)
			}},
		"unknown members kept": {event.FamilyVideo, `{"code":200,"msg":"ok","x":1,"data":{"task_id":"a","video_url":"v","y":[2]}}`,
			func(t *testing.T, cb callback.Callback) {
				v := cb.Data.(event.VideoV1)
				wantEq(t, string(v.Extra["y"]), `[2]`)
				wantEq(t, string(v.EnvelopeExtra["x"]), `1`)
			}},
		"the same id in two places": {event.FamilyMIDI, `{"code":200,"msg":"ok","task_id":"a","data":{"taskId":"a"}}`,
			func(t *testing.T, cb callback.Callback) { wantEq(t, cb.TaskID, "a") }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cb, err := decode(t, get(tc.family), []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cb)
		})
	}
}

// What the families refuse, with the reason the answer gives.
func TestFamiliesRefuse(t *testing.T) {
	tests := map[string]struct {
		family event.Family
		body   string
		reason callback.Reason
	}{
		"two different task ids":        {event.FamilyMIDI, `{"code":200,"task_id":"a","data":{"taskId":"b"}}`, callback.ReasonConflictingTaskID},
		"task_id and taskId disagree":   {event.FamilyLyrics, `{"code":200,"data":{"task_id":"a","taskId":"b"}}`, callback.ReasonConflictingTaskID},
		"no task id anywhere":           {event.FamilyWAV, `{"code":200,"data":{"audioWavUrl":"x"}}`, callback.ReasonMissingField},
		"text for replace-section":      {event.FamilyReplaceSection, `{"code":200,"data":{"task_id":"a","callbackType":"text"}}`, callback.ReasonUnknownCallbackType},
		"a note time that is no number": {event.FamilyMIDI, `{"code":200,"task_id":"a","data":{"instruments":[{"notes":[{"start":"soon"}]}]}}`, callback.ReasonInvalidField},
		"101 images":                    {event.FamilyCoverImage, `{"code":200,"data":{"taskId":"a","images":[` + strings.TrimSuffix(strings.Repeat(`"u",`, 101), ",") + `]}}`, callback.ReasonTooManyTracks},
		"10,001 unknown array elements": {event.FamilyVideo, `{"code":200,"data":{"task_id":"a","x":[` + strings.TrimSuffix(strings.Repeat(`0,`, 10_001), ",") + `]}}`, callback.ReasonTooManyItems},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f, _ := family.Get(tc.family)
			_, err := decode(t, f, []byte(tc.body))
			var cbErr *callback.Error
			if !errors.As(err, &cbErr) || cbErr.Reason != tc.reason {
				t.Fatalf("error %v, want reason %s", err, tc.reason)
			}
		})
	}
}

func wantEq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

// The family settings' lists, parsed; a name that is not a family, or a
// malformed item, is an error that says so.
func TestSettingLists(t *testing.T) {
	tests := map[string]struct {
		parse func() (any, error)
		want  string // fmt of the result, or "error"
	}{
		"none off":    {func() (any, error) { f, err := family.Enabled(""); return len(f), err }, fmt.Sprint(len(family.All()))},
		"two off":     {func() (any, error) { f, err := family.Enabled(" midi,video "); return len(f), err }, fmt.Sprint(len(family.All()) - 2)},
		"unknown off": {func() (any, error) { return family.Enabled("mp4") }, "error"},
		"prefix renamed": {func() (any, error) {
			p, err := family.Prefixes("v", "lyrics=songtext")
			return p["lyrics"] + " " + p["vocals"] + " " + p["wav"], err
		}, "songtext v wav"},
		"vocals renamed":   {func() (any, error) { return family.Prefixes("v", "vocals=x") }, "error"},
		"prefix malformed": {func() (any, error) { return family.Prefixes("v", "lyrics") }, "error"},
		"deadlines": {func() (any, error) {
			d, err := family.Durations("lyrics=10m, video=2h")
			return d["lyrics"].String() + " " + d["video"].String(), err
		}, "10m0s 2h0m0s"},
		"deadline zero":    {func() (any, error) { return family.Durations("lyrics=0s") }, "error"},
		"deadline unknown": {func() (any, error) { return family.Durations("songs=1h") }, "error"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.parse()
			if tc.want == "error" {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// A family's callBackUrl is the add-vocals one with the family's route,
// the token kept in either form; a URL without the route stays as it is.
func TestCallbackURL(t *testing.T) {
	lyrics, _ := family.Get(event.FamilyLyrics)
	for in, want := range map[string]string{
		"https://b.example/callbacks/vocals":             "https://b.example/callbacks/lyrics",
		"https://b.example/callbacks/vocals?token=t":     "https://b.example/callbacks/lyrics?token=t",
		"https://b.example/callbacks/vocals/t":           "https://b.example/callbacks/lyrics/t",
		"https://b.example/hooks/suno":                   "https://b.example/hooks/suno",
		"https://b.example/base/callbacks/vocals?token=": "https://b.example/base/callbacks/lyrics?token=",
	} {
		if got := lyrics.CallbackURL(in); got != want {
			t.Errorf("CallbackURL(%q) = %q, want %q", in, got, want)
		}
	}
}
