package callback

import (
	stdjson "encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// Kind is one shape of callback body, shared by the families that send it:
// its limits, the lists it models, and how it decodes into a Callback.
type Kind struct {
	Limits Limits
	Lists  []string // members of data holding at most MaxTracks elements
	decode func(Peeked, event.Family) (Callback, error)
}

// Peek is PeekWith the kind's limits and lists.
func (k *Kind) Peek(body []byte) (Peeked, error) { return PeekWith(body, k.Limits, k.Lists) }

// Decode reads a body peeked with k as a callback of family fam.
func (k *Kind) Decode(p Peeked, fam event.Family) (Callback, error) { return k.decode(p, fam) }

var musicLists = []string{"data"}

// The kinds of body the provider sends.
var (
	// Music is the add-vocals envelope, shared by every music family with
	// stages: {code, msg, data: {callbackType, task_id, data: [track]}}.
	// With code 200 the stage is the callbackType (text, first, complete,
	// error, or failed for error); any other code is error whatever the
	// callbackType says (kept as sent, and may be missing, so that no
	// failure report is refused).
	Music = &Kind{Limits: DefaultLimits, Lists: musicLists, decode: decodeMusic(stagedStage)}
	// MusicOneShot is Music for replace-section: complete or error only
	// (a missing callbackType is complete), and a data.error string is a
	// failure.
	MusicOneShot = &Kind{Limits: DefaultLimits, Lists: musicLists, decode: decodeMusic(oneShotMusicStage)}
	// Lyrics: items in data.data or data.lyricsData.
	Lyrics = &Kind{Limits: DefaultLimits, Lists: []string{"data", "lyricsData"}, decode: oneShot(nil, lyricsData)}
	// WAV: data.audioWavUrl or data.audio_wav_url.
	WAV = &Kind{Limits: DefaultLimits, decode: oneShot(nil, wavData)}
	// Stems: data.vocal_removal_info or data.vocal_separation_info.
	Stems = &Kind{Limits: DefaultLimits, decode: oneShot(nil, stemsData)}
	// MIDI: data.instruments with their notes; data.state complete on
	// success. A song has a few thousand notes of four members each; an
	// event holds about 20,000 before it outgrows a 1 MiB max_payload.
	// 25,000 elements leave room while eight such bodies at once stay
	// within the memory bound of the others.
	MIDI = &Kind{Limits: Limits{Members: 100_000, Items: 25_000}, Lists: []string{"instruments"}, decode: oneShot(midiFailed, midiData)}
	// Video: data.video_url.
	Video = &Kind{Limits: DefaultLimits, decode: oneShot(nil, videoData)}
	// CoverImage: data.images.
	CoverImage = &Kind{Limits: DefaultLimits, Lists: []string{"images"}, decode: oneShot(nil, coverImageData)}
	// Voice: data.status and its results, for the three voice families.
	Voice = &Kind{Limits: DefaultLimits, decode: oneShot(voiceFailed, voiceData)}
)

// failureWord reports the callbackType and status words that mean failure.
func failureWord(s string) bool {
	switch s {
	case "error", "failed", "fail", "processing_validate_fail":
		return true
	}
	return false
}

type wireMusic struct {
	base
	Tracks []Track `json:"data"`
}

func decodeMusic(stage func(code int, d *wireMusic) (event.Stage, error)) func(Peeked, event.Family) (Callback, error) {
	return func(p Peeked, fam event.Family) (Callback, error) {
		w, cb, err := unmarshal[wireMusic](p, fam)
		if err != nil {
			return Callback{}, err
		}
		d := orZero(w.Data)
		if cb.Stage, err = stage(cb.Code, d); err != nil {
			return Callback{}, err
		}
		cb.CallbackType, cb.Tracks, cb.Extra = d.CallbackType, d.Tracks, d.Extra
		return cb, nil
	}
}

func stagedStage(code int, d *wireMusic) (event.Stage, error) {
	if code != SuccessCode || failureWord(d.CallbackType) {
		return event.StageError, nil
	}
	switch s := event.Stage(d.CallbackType); s {
	case event.StageText, event.StageFirst, event.StageComplete:
		return s, nil
	case "":
		return "", &Error{Reason: ReasonMissingField, Field: "data.callbackType", Detail: "required when code is 200"}
	default:
		return "", &Error{Reason: ReasonUnknownCallbackType, Field: "data.callbackType",
			Detail: fmt.Sprintf("%q is not text, first, complete or error", truncate(d.CallbackType, 40))}
	}
}

func oneShotMusicStage(code int, d *wireMusic) (event.Stage, error) {
	var failure string
	if raw, ok := d.Extra["error"]; ok {
		_ = stdjson.Unmarshal(raw, &failure)
	}
	switch {
	case code != SuccessCode || failureWord(d.CallbackType) || failure != "":
		return event.StageError, nil
	case d.CallbackType == "" || d.CallbackType == string(event.StageComplete):
		return event.StageComplete, nil
	}
	return "", &Error{Reason: ReasonUnknownCallbackType, Field: "data.callbackType",
		Detail: fmt.Sprintf("%q is not complete or error", truncate(d.CallbackType, 40))}
}

// oneShot decodes the body of a family with complete and error only into
// the family's event data, which data makes from the common fields, the
// extras and the wire data. The stage is error for any code but 200, for
// a failure word as callbackType and when failed says so; else complete.
func oneShot[W any, P interface {
	*W
	fields() *base
}](failed func(*W) bool, data func(event.Common, event.Extras, *W) any) func(Peeked, event.Family) (Callback, error) {
	return func(p Peeked, fam event.Family) (Callback, error) {
		w, cb, err := unmarshal[W](p, fam)
		if err != nil {
			return Callback{}, err
		}
		d := orZero(w.Data)
		b := P(d).fields()
		cb.CallbackType, cb.Extra, cb.Stage = b.CallbackType, b.Extra, event.StageComplete
		if cb.Code != SuccessCode || failureWord(cb.CallbackType) || failed != nil && failed(d) {
			cb.Stage = event.StageError
		}
		c := event.Common{
			TaskID: cb.TaskID, Stage: string(cb.Stage), CallbackType: cb.CallbackType,
			Code: cb.Code, CodeReason: event.CodeReason(cb.Code), Msg: cb.Msg,
		}
		cb.Data = data(c, event.Extras{Extra: b.Extra, EnvelopeExtra: cb.EnvelopeExtra}, d)
		return cb, nil
	}
}

type wireLyric struct {
	Text              string                        `json:"text"`
	Title             string                        `json:"title"`
	Status            string                        `json:"status"`
	ErrorMessage      *string                       `json:"error_message"`
	ErrorMessageCamel *string                       `json:"errorMessage"`
	Extra             map[string]stdjson.RawMessage `json:",embed"`
}

type wireLyrics struct {
	base
	Data       []wireLyric `json:"data"`
	LyricsData []wireLyric `json:"lyricsData"`
}

func lyricsData(c event.Common, x event.Extras, d *wireLyrics) any {
	data := event.LyricsV1{Common: c, Extras: x, Lyrics: []event.LyricV1{}}
	for _, l := range append(d.Data, d.LyricsData...) {
		data.Lyrics = append(data.Lyrics, event.LyricV1{
			Text: l.Text, Title: l.Title, Status: l.Status, Extra: l.Extra,
			ErrorMessage: first(l.ErrorMessage, l.ErrorMessageCamel),
		})
	}
	return data
}

type wireWAV struct {
	base
	AudioWavURL      *string `json:"audioWavUrl"`
	AudioWavURLSnake *string `json:"audio_wav_url"`
}

func wavData(c event.Common, x event.Extras, d *wireWAV) any {
	return event.WavV1{Common: c, Extras: x, AudioWavURL: first(d.AudioWavURL, d.AudioWavURLSnake)}
}

// wireStemURLs reads the provider's stem object into the event's own
// type; its members not modelled go to Extra.
type wireStemURLs struct {
	event.StemURLsV1
	Extra map[string]stdjson.RawMessage `json:",embed"`
}

type wireStems struct {
	base
	Removal    *wireStemURLs `json:"vocal_removal_info"`
	Separation *wireStemURLs `json:"vocal_separation_info"`
}

func stemsData(c event.Common, x event.Extras, d *wireStems) any {
	// The pages name the object either way; should both come, the first
	// gives the URLs and the second only those the first left empty.
	var s event.StemURLsV1
	for _, u := range []*wireStemURLs{d.Separation, d.Removal} {
		if u == nil {
			continue
		}
		next := u.StemURLsV1
		next.Extra = u.Extra
		fill(&next, s)
		s = next
	}
	return event.StemsV1{Common: c, Extras: x, Stems: s}
}

// fill sets the empty string fields of *dst to src's.
func fill(dst *event.StemURLsV1, src event.StemURLsV1) {
	d, v := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for i := range d.NumField() {
		if f := d.Field(i); f.Kind() == reflect.String && f.String() == "" {
			f.SetString(v.Field(i).String())
		}
	}
	if dst.Extra == nil {
		dst.Extra = src.Extra
	}
}

// number is a JSON number or a string holding one, as MIDI note times
// come; null is 0.
type number float64

func (n *number) UnmarshalJSON(b []byte) error {
	s := string(b)
	if v := jsontext.Value(b); v.Kind() == '"' {
		if err := stdjson.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
	}
	if s == "null" {
		*n = 0
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %w", err)
	}
	*n = number(f)
	return nil
}

type wireNote struct {
	Pitch    number                        `json:"pitch"`
	Start    number                        `json:"start"`
	End      number                        `json:"end"`
	Velocity number                        `json:"velocity"`
	Extra    map[string]stdjson.RawMessage `json:",embed"`
}

type wireInstrument struct {
	Name  string                        `json:"name"`
	Notes []wireNote                    `json:"notes"`
	Extra map[string]stdjson.RawMessage `json:",embed"`
}

type wireMIDI struct {
	base
	State       string           `json:"state"`
	Instruments []wireInstrument `json:"instruments"`
}

func midiFailed(d *wireMIDI) bool { return d.State != "" && d.State != string(event.StageComplete) }

func midiData(c event.Common, x event.Extras, d *wireMIDI) any {
	data := event.MIDIV1{Common: c, Extras: x, State: d.State, Instruments: []event.InstrumentV1{}}
	for _, in := range d.Instruments {
		notes := make([]event.NoteV1, len(in.Notes))
		for i, n := range in.Notes {
			notes[i] = event.NoteV1{Pitch: float64(n.Pitch), Start: float64(n.Start), End: float64(n.End), Velocity: float64(n.Velocity), Extra: n.Extra}
		}
		data.Instruments = append(data.Instruments, event.InstrumentV1{Name: in.Name, Notes: notes, Extra: in.Extra})
	}
	return data
}

type wireVideo struct {
	base
	VideoURL *string `json:"video_url"`
}

func videoData(c event.Common, x event.Extras, d *wireVideo) any {
	return event.VideoV1{Common: c, Extras: x, VideoURL: first(d.VideoURL)}
}

type wireCoverImage struct {
	base
	Images []string `json:"images"`
}

func coverImageData(c event.Common, x event.Extras, d *wireCoverImage) any {
	return event.CoverImageV1{Common: c, Extras: x, Images: append([]string{}, d.Images...)}
}

type wireVoice struct {
	base
	Status       string         `json:"status"`
	ErrorCode    *number        `json:"errorCode"`
	ErrorMessage string         `json:"errorMessage"`
	ValidateInfo jsontext.Value `json:"validateInfo"`
	VoiceID      string         `json:"voiceId"`
}

func voiceFailed(d *wireVoice) bool { return failureWord(d.Status) }

func voiceData(c event.Common, x event.Extras, d *wireVoice) any {
	data := event.VoiceV1{Common: c, Extras: x, Status: d.Status, ErrorMessage: d.ErrorMessage, VoiceID: d.VoiceID}
	if d.ErrorCode != nil {
		code := int(*d.ErrorCode)
		data.ErrorCode = &code
	}
	// The pages show the phrase as a string; any other value is kept as sent.
	if len(d.ValidateInfo) > 0 {
		if d.ValidateInfo.Kind() != '"' || stdjson.Unmarshal(d.ValidateInfo, &data.ValidateInfo) != nil {
			data.ValidateInfo = ""
			if data.Extra == nil {
				data.Extra = map[string]stdjson.RawMessage{}
			}
			data.Extra["validateInfo"] = stdjson.RawMessage(d.ValidateInfo)
		}
	}
	return data
}

// orZero is *d, or a zero D for a body whose data is absent or null.
func orZero[D any](d *D) *D {
	if d == nil {
		return new(D)
	}
	return d
}

// first is the first of ss that is set and not empty, else "".
func first(ss ...*string) string {
	for _, s := range ss {
		if s != nil && *s != "" {
			return *s
		}
	}
	return ""
}
