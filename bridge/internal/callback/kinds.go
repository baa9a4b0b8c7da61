package callback

import (
	stdjson "encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// Kind is one shape of callback body, shared by the families that send it:
// its limits, the lists it models, and how it decodes into a Callback.
type Kind struct {
	Name   string
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
	Music = &Kind{Name: "music", Limits: DefaultLimits, Lists: musicLists, decode: decodeMusic(stagedStage)}
	// MusicOneShot is Music for replace-section: complete or error only
	// (a missing callbackType is complete), and a data.error string is a
	// failure.
	MusicOneShot = &Kind{Name: "music-one-shot", Limits: DefaultLimits, Lists: musicLists, decode: decodeMusic(oneShotMusicStage)}
	// Lyrics: items in data.data or data.lyricsData.
	Lyrics = &Kind{Name: "lyrics", Limits: DefaultLimits, Lists: []string{"data", "lyricsData"}, decode: decodeLyrics}
	// WAV: data.audioWavUrl or data.audio_wav_url.
	WAV = &Kind{Name: "wav", Limits: DefaultLimits, decode: decodeWAV}
	// Stems: data.vocal_removal_info or data.vocal_separation_info.
	Stems = &Kind{Name: "stems", Limits: DefaultLimits, decode: decodeStems}
	// MIDI: data.instruments with their notes; data.state complete on
	// success. A song has thousands of notes of four members each; an
	// event holds about 20,000 before it outgrows a 1 MiB max_payload, so
	// 50,000 elements leave room without letting a body cost much more.
	MIDI = &Kind{Name: "midi", Limits: Limits{Members: 200_000, Items: 50_000}, Lists: []string{"instruments"}, decode: decodeMIDI}
	// Video: data.video_url.
	Video = &Kind{Name: "video", Limits: DefaultLimits, decode: decodeVideo}
	// CoverImage: data.images.
	CoverImage = &Kind{Name: "cover-image", Limits: DefaultLimits, Lists: []string{"images"}, decode: decodeCoverImage}
	// Voice: data.status and its results, for the three voice families.
	Voice = &Kind{Name: "voice", Limits: DefaultLimits, decode: decodeVoice}
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
	ids
	Tracks []Track                       `json:"data"`
	Extra  map[string]stdjson.RawMessage `json:",embed"`
}

func decodeMusic(stage func(code int, d *wireMusic) (event.Stage, error)) func(Peeked, event.Family) (Callback, error) {
	return func(p Peeked, fam event.Family) (Callback, error) {
		w, cb, err := unmarshal[wireMusic](p, fam)
		if err != nil {
			return Callback{}, err
		}
		d := w.Data
		if d == nil {
			d = &wireMusic{}
		}
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

// oneShot is the stage of a family with complete and error only: error
// for any code but 200 and for a failure word, complete otherwise.
func oneShot(cb *Callback, d *ids, failed bool) {
	if d != nil {
		cb.CallbackType = d.CallbackType
	}
	cb.Stage = event.StageComplete
	if cb.Code != SuccessCode || failed || failureWord(cb.CallbackType) {
		cb.Stage = event.StageError
	}
}

// common is the event.Common of a decoded callback.
func common(cb Callback) event.Common {
	return event.Common{
		TaskID: cb.TaskID, Stage: string(cb.Stage), CallbackType: cb.CallbackType,
		Code: cb.Code, CodeReason: event.CodeReason(cb.Code), Msg: cb.Msg,
	}
}

func extras(cb Callback, data map[string]stdjson.RawMessage) event.Extras {
	return event.Extras{Extra: data, EnvelopeExtra: cb.EnvelopeExtra}
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
	ids
	Data       []wireLyric                   `json:"data"`
	LyricsData []wireLyric                   `json:"lyricsData"`
	Extra      map[string]stdjson.RawMessage `json:",embed"`
}

func decodeLyrics(p Peeked, fam event.Family) (Callback, error) {
	w, cb, err := unmarshal[wireLyrics](p, fam)
	if err != nil {
		return Callback{}, err
	}
	d := orZero(w.Data)
	oneShot(&cb, &d.ids, false)
	data := event.LyricsV1{Common: common(cb), Extras: extras(cb, d.Extra), Lyrics: []event.LyricV1{}}
	for _, l := range append(d.Data, d.LyricsData...) {
		data.Lyrics = append(data.Lyrics, event.LyricV1{
			Text: l.Text, Title: l.Title, Status: l.Status, Extra: l.Extra,
			ErrorMessage: first(l.ErrorMessage, l.ErrorMessageCamel),
		})
	}
	cb.Data, cb.Extra = data, d.Extra
	return cb, nil
}

type wireWAV struct {
	ids
	AudioWavURL      *string                       `json:"audioWavUrl"`
	AudioWavURLSnake *string                       `json:"audio_wav_url"`
	Extra            map[string]stdjson.RawMessage `json:",embed"`
}

func decodeWAV(p Peeked, fam event.Family) (Callback, error) {
	w, cb, err := unmarshal[wireWAV](p, fam)
	if err != nil {
		return Callback{}, err
	}
	d := orZero(w.Data)
	oneShot(&cb, &d.ids, false)
	cb.Data = event.WavV1{Common: common(cb), Extras: extras(cb, d.Extra), AudioWavURL: first(d.AudioWavURL, d.AudioWavURLSnake)}
	cb.Extra = d.Extra
	return cb, nil
}

type wireStemURLs struct {
	OriginURL        string                        `json:"origin_url"`
	VocalURL         string                        `json:"vocal_url"`
	InstrumentalURL  string                        `json:"instrumental_url"`
	BackingVocalsURL string                        `json:"backing_vocals_url"`
	DrumsURL         string                        `json:"drums_url"`
	BassURL          string                        `json:"bass_url"`
	GuitarURL        string                        `json:"guitar_url"`
	KeyboardURL      string                        `json:"keyboard_url"`
	PercussionURL    string                        `json:"percussion_url"`
	StringsURL       string                        `json:"strings_url"`
	SynthURL         string                        `json:"synth_url"`
	FxURL            string                        `json:"fx_url"`
	BrassURL         string                        `json:"brass_url"`
	WoodwindsURL     string                        `json:"woodwinds_url"`
	Extra            map[string]stdjson.RawMessage `json:",embed"`
}

type wireStems struct {
	ids
	Removal    *wireStemURLs                 `json:"vocal_removal_info"`
	Separation *wireStemURLs                 `json:"vocal_separation_info"`
	Extra      map[string]stdjson.RawMessage `json:",embed"`
}

func decodeStems(p Peeked, fam event.Family) (Callback, error) {
	w, cb, err := unmarshal[wireStems](p, fam)
	if err != nil {
		return Callback{}, err
	}
	d := orZero(w.Data)
	oneShot(&cb, &d.ids, false)
	// The pages name the object either way; should both come, the first
	// fills the URLs and the second only what the first left empty.
	s := event.StemURLsV1{}
	for _, u := range []*wireStemURLs{d.Removal, d.Separation} {
		if u == nil {
			continue
		}
		for dst, src := range map[*string]string{
			&s.OriginURL: u.OriginURL, &s.VocalURL: u.VocalURL, &s.InstrumentalURL: u.InstrumentalURL,
			&s.BackingVocalsURL: u.BackingVocalsURL, &s.DrumsURL: u.DrumsURL, &s.BassURL: u.BassURL,
			&s.GuitarURL: u.GuitarURL, &s.KeyboardURL: u.KeyboardURL, &s.PercussionURL: u.PercussionURL,
			&s.StringsURL: u.StringsURL, &s.SynthURL: u.SynthURL, &s.FxURL: u.FxURL, &s.BrassURL: u.BrassURL,
			&s.WoodwindsURL: u.WoodwindsURL,
		} {
			if *dst == "" {
				*dst = src
			}
		}
		if s.Extra == nil {
			s.Extra = u.Extra
		}
	}
	cb.Data = event.StemsV1{Common: common(cb), Extras: extras(cb, d.Extra), Stems: s}
	cb.Extra = d.Extra
	return cb, nil
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
	ids
	State       string                        `json:"state"`
	Instruments []wireInstrument              `json:"instruments"`
	Extra       map[string]stdjson.RawMessage `json:",embed"`
}

func decodeMIDI(p Peeked, fam event.Family) (Callback, error) {
	w, cb, err := unmarshal[wireMIDI](p, fam)
	if err != nil {
		return Callback{}, err
	}
	d := orZero(w.Data)
	oneShot(&cb, &d.ids, d.State != "" && d.State != string(event.StageComplete))
	data := event.MIDIV1{Common: common(cb), Extras: extras(cb, d.Extra), State: d.State, Instruments: []event.InstrumentV1{}}
	for _, in := range d.Instruments {
		notes := make([]event.NoteV1, len(in.Notes))
		for i, n := range in.Notes {
			notes[i] = event.NoteV1{Pitch: float64(n.Pitch), Start: float64(n.Start), End: float64(n.End), Velocity: float64(n.Velocity), Extra: n.Extra}
		}
		data.Instruments = append(data.Instruments, event.InstrumentV1{Name: in.Name, Notes: notes, Extra: in.Extra})
	}
	cb.Data, cb.Extra = data, d.Extra
	return cb, nil
}

type wireVideo struct {
	ids
	VideoURL *string                       `json:"video_url"`
	Extra    map[string]stdjson.RawMessage `json:",embed"`
}

func decodeVideo(p Peeked, fam event.Family) (Callback, error) {
	w, cb, err := unmarshal[wireVideo](p, fam)
	if err != nil {
		return Callback{}, err
	}
	d := orZero(w.Data)
	oneShot(&cb, &d.ids, false)
	cb.Data = event.VideoV1{Common: common(cb), Extras: extras(cb, d.Extra), VideoURL: first(d.VideoURL)}
	cb.Extra = d.Extra
	return cb, nil
}

type wireCoverImage struct {
	ids
	Images []string                      `json:"images"`
	Extra  map[string]stdjson.RawMessage `json:",embed"`
}

func decodeCoverImage(p Peeked, fam event.Family) (Callback, error) {
	w, cb, err := unmarshal[wireCoverImage](p, fam)
	if err != nil {
		return Callback{}, err
	}
	d := orZero(w.Data)
	oneShot(&cb, &d.ids, false)
	images := append([]string{}, d.Images...)
	cb.Data = event.CoverImageV1{Common: common(cb), Extras: extras(cb, d.Extra), Images: images}
	cb.Extra = d.Extra
	return cb, nil
}

type wireVoice struct {
	ids
	Status       string                        `json:"status"`
	ErrorCode    *number                       `json:"errorCode"`
	ErrorMessage string                        `json:"errorMessage"`
	ValidateInfo jsontext.Value                `json:"validateInfo"`
	VoiceID      string                        `json:"voiceId"`
	Extra        map[string]stdjson.RawMessage `json:",embed"`
}

func decodeVoice(p Peeked, fam event.Family) (Callback, error) {
	w, cb, err := unmarshal[wireVoice](p, fam)
	if err != nil {
		return Callback{}, err
	}
	d := orZero(w.Data)
	oneShot(&cb, &d.ids, failureWord(d.Status))
	data := event.VoiceV1{
		Common: common(cb), Extras: extras(cb, d.Extra),
		Status: d.Status, ErrorMessage: d.ErrorMessage, VoiceID: d.VoiceID,
	}
	if d.ErrorCode != nil {
		c := int(*d.ErrorCode)
		data.ErrorCode = &c
	}
	// The pages show the phrase as a string; any other value is kept as sent.
	if len(d.ValidateInfo) > 0 {
		if err := stdjson.Unmarshal(d.ValidateInfo, &data.ValidateInfo); err != nil || d.ValidateInfo.Kind() != '"' {
			data.ValidateInfo = ""
			if data.Extra == nil {
				data.Extra = map[string]stdjson.RawMessage{}
			}
			data.Extra["validateInfo"] = stdjson.RawMessage(d.ValidateInfo)
		}
	}
	cb.Data, cb.Extra = data, data.Extra
	return cb, nil
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
