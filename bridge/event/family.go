package event

import (
	"encoding/json"

	"github.com/google/uuid"
)

// Family is a kind of provider task, named as its callback route
// (/callbacks/<family>), its default subject prefix and the middle of its
// event types (com.sunoapi.<family>.<stage>.v1). Add-vocals is "vocals".
type Family string

// The families.
const (
	FamilyVocals          Family = "vocals" // add vocals
	FamilyGenerate        Family = "generate"
	FamilyExtend          Family = "extend"
	FamilyUploadCover     Family = "upload-cover"
	FamilyUploadExtend    Family = "upload-extend"
	FamilyAddInstrumental Family = "add-instrumental"
	FamilyReplaceSection  Family = "replace-section"
	FamilyLyrics          Family = "lyrics"
	FamilyWAV             Family = "wav"
	FamilyStems           Family = "stems" // vocal removal and stem separation
	FamilyMIDI            Family = "midi"
	FamilyVideo           Family = "video" // music video (MP4)
	FamilyCoverImage      Family = "cover-image"
	FamilyVoiceValidate   Family = "voice-validate"
	FamilyVoiceRegenerate Family = "voice-regenerate"
	FamilyVoice           Family = "voice" // custom voice
	FamilySounds          Family = "sounds"
	FamilyMashup          Family = "mashup"
)

// spec is what the contract says of a family: whether it reports text and
// first before complete, and the Go type of its data.
type spec struct {
	name    Family
	staged  bool
	newData func() any
}

func music() any { return new(DataV1) }

// families is every family, the add-vocals family first: one row each.
var families = []spec{
	{FamilyVocals, true, music},
	{FamilyGenerate, true, music},
	{FamilyExtend, true, music},
	{FamilyUploadCover, true, music},
	{FamilyUploadExtend, true, music},
	{FamilyAddInstrumental, true, music},
	{FamilyReplaceSection, false, music},
	{FamilyLyrics, false, func() any { return new(LyricsV1) }},
	{FamilyWAV, false, func() any { return new(WavV1) }},
	{FamilyStems, false, func() any { return new(StemsV1) }},
	{FamilyMIDI, false, func() any { return new(MIDIV1) }},
	{FamilyVideo, false, func() any { return new(VideoV1) }},
	{FamilyCoverImage, false, func() any { return new(CoverImageV1) }},
	{FamilyVoiceValidate, false, func() any { return new(VoiceV1) }},
	{FamilyVoiceRegenerate, false, func() any { return new(VoiceV1) }},
	{FamilyVoice, false, func() any { return new(VoiceV1) }},
	// The provider documents no callback for these two; they are read as
	// the music envelope (uncertain).
	{FamilySounds, true, music},
	{FamilyMashup, true, music},
}

// Families lists every family.
func Families() []Family {
	out := make([]Family, len(families))
	for i, s := range families {
		out[i] = s.name
	}
	return out
}

func (f Family) spec() (spec, bool) {
	for _, s := range families {
		if s.name == f {
			return s, true
		}
	}
	return spec{}, false
}

// Known reports whether f is one of Families.
func (f Family) Known() bool {
	_, ok := f.spec()
	return ok
}

// Staged reports whether f reports text and first before complete.
func (f Family) Staged() bool {
	s, _ := f.spec()
	return s.staged
}

// Tracks reports whether f's data is DataV1 (the music families); every
// other family has its own data type, see NewData.
func (f Family) Tracks() bool {
	s, ok := f.spec()
	if !ok {
		return false
	}
	_, music := s.newData().(*DataV1)
	return music
}

// Stages lists the stages f reports.
func (f Family) Stages() []Stage {
	if f.Staged() {
		return Stages()
	}
	return []Stage{StageComplete, StageError}
}

// EventStages lists every stage of f's events: the provider's (Stages),
// the bridge's timeout and, for a family whose media is archived,
// archived.
func (f Family) EventStages() []Stage {
	out := append(f.Stages(), StageTimeout)
	if f.Archives() {
		out = append(out, StageArchived)
	}
	return out
}

// Publishes reports whether f's events can carry stage s: one of
// EventStages.
func (f Family) Publishes(s Stage) bool {
	return s == StageTimeout || f.HasStage(s) || s == StageArchived && f.Archives()
}

// HasStage reports whether the provider reports stage s for f.
func (f Family) HasStage(s Stage) bool {
	for _, st := range f.Stages() {
		if st == s {
			return true
		}
	}
	return false
}

// Type is the CloudEvents type of f's stage: com.sunoapi.<family>.<stage>.v1.
func (f Family) Type(stage Stage) string {
	return "com.sunoapi." + string(f) + "." + string(stage) + "." + Version
}

// SubmittedType is the type of f's submitted event.
func (f Family) SubmittedType() string { return f.Type(StageSubmitted) }

// ID is the event id of f's task stage. Add-vocals keeps ID's
// "<task_id>/<stage>"; every other family names itself,
// "<family>/<task_id>/<stage>", so two families' tasks never share an id.
func (f Family) ID(taskID string, stage Stage) string {
	if f == FamilyVocals {
		return ID(taskID, stage)
	}
	return uuid.NewSHA1(idNamespace, []byte(string(f)+"/"+taskID+"/"+string(stage))).String()
}

// DataSchemaPath is the path of f's data schema below the schema base URL:
// SchemaPath for add-vocals, /v1/<family>.data.schema.json for the others.
func (f Family) DataSchemaPath() string {
	if f == FamilyVocals {
		return SchemaPath
	}
	return "/" + Version + "/" + string(f) + ".data.schema.json"
}

// EventSchemaPath is the path of the schema of f's whole structured-mode
// event.
func (f Family) EventSchemaPath() string {
	if f == FamilyVocals {
		return "/" + Version + "/event.schema.json"
	}
	return "/" + Version + "/" + string(f) + ".event.schema.json"
}

// TimeoutEventSchemaPath is the path of the schema of f's whole timeout
// event: its own type, the family's data (an error).
func (f Family) TimeoutEventSchemaPath() string {
	if f == FamilyVocals {
		return "/" + Version + "/timeout-event.schema.json"
	}
	return "/" + Version + "/" + string(f) + ".timeout-event.schema.json"
}

// NewData returns a pointer to a zero value of f's data type: *DataV1 for
// the music families, *LyricsV1, *WavV1, ... for the others (and *DataV1
// for a family that is not one).
func (f Family) NewData() any {
	if s, ok := f.spec(); ok {
		return s.newData()
	}
	return new(DataV1)
}

// Common opens the data of every family without tracks: the same fields,
// with the same meaning, as the first six of DataV1. callback_type is
// empty for the families whose callbacks have none.
type Common struct {
	TaskID       string `json:"task_id"`
	Stage        string `json:"stage"`
	CallbackType string `json:"callback_type"`
	Code         int    `json:"code"`
	CodeReason   string `json:"code_reason"`
	Msg          string `json:"msg"`
}

// Extras close the data of every family without tracks: the members of
// the callback's data object (Extra) and top-level object (EnvelopeExtra)
// that are not modelled, as raw JSON.
type Extras struct {
	Extra         map[string]json.RawMessage `json:"extra,omitempty"`
	EnvelopeExtra map[string]json.RawMessage `json:"envelope_extra,omitempty"`
}

// LyricsV1 is the data of a lyrics event.
type LyricsV1 struct {
	Common
	// Lyrics is empty, never null, when the provider sent none.
	Lyrics []LyricV1 `json:"lyrics"`
	Extras
}

// LyricV1 is one generated lyric. Status is the provider's, complete or
// failed; a failed item has an ErrorMessage.
type LyricV1 struct {
	Text         string                     `json:"text"`
	Title        string                     `json:"title"`
	Status       string                     `json:"status"`
	ErrorMessage string                     `json:"error_message"`
	Extra        map[string]json.RawMessage `json:"extra,omitempty"`
}

// WavV1 is the data of a WAV conversion event; the URL is "" on failure.
type WavV1 struct {
	Common
	AudioWavURL string `json:"audio_wav_url"`
	Extras
}

// StemsV1 is the data of a stem separation ("vocal removal") event.
type StemsV1 struct {
	Common
	Stems StemURLsV1 `json:"stems"`
	Extras
}

// StemURLsV1 are the separated stems' URLs; those the provider left out
// are "". separate_vocal fills origin, vocal and instrumental; split_stem
// the rest.
type StemURLsV1 struct {
	OriginURL        string                     `json:"origin_url"`
	VocalURL         string                     `json:"vocal_url"`
	InstrumentalURL  string                     `json:"instrumental_url"`
	BackingVocalsURL string                     `json:"backing_vocals_url"`
	DrumsURL         string                     `json:"drums_url"`
	BassURL          string                     `json:"bass_url"`
	GuitarURL        string                     `json:"guitar_url"`
	KeyboardURL      string                     `json:"keyboard_url"`
	PercussionURL    string                     `json:"percussion_url"`
	StringsURL       string                     `json:"strings_url"`
	SynthURL         string                     `json:"synth_url"`
	FxURL            string                     `json:"fx_url"`
	BrassURL         string                     `json:"brass_url"`
	WoodwindsURL     string                     `json:"woodwinds_url"`
	Extra            map[string]json.RawMessage `json:"extra,omitempty"`
}

// MIDIV1 is the data of a MIDI event.
type MIDIV1 struct {
	Common
	// State is the provider's data.state, complete on success.
	State       string         `json:"state"`
	Instruments []InstrumentV1 `json:"instruments"` // empty, never null
	Extras
}

// InstrumentV1 is one instrument's notes.
type InstrumentV1 struct {
	Name  string                     `json:"name"`
	Notes []NoteV1                   `json:"notes"` // empty, never null
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// NoteV1 is one note; times are in seconds. The provider sends the
// numbers as JSON numbers or strings; here they are always numbers.
type NoteV1 struct {
	Pitch    float64                    `json:"pitch"`
	Start    float64                    `json:"start"`
	End      float64                    `json:"end"`
	Velocity float64                    `json:"velocity"`
	Extra    map[string]json.RawMessage `json:"extra,omitempty"`
}

// VideoV1 is the data of a music video event; the URL is "" on failure.
type VideoV1 struct {
	Common
	VideoURL string `json:"video_url"`
	Extras
}

// CoverImageV1 is the data of a cover image event.
type CoverImageV1 struct {
	Common
	Images []string `json:"images"` // empty, never null (also on failure)
	Extras
}

// VoiceV1 is the data of the three voice families' events: the
// validation phrase (voice-validate, voice-regenerate) or the custom voice
// (voice).
type VoiceV1 struct {
	Common
	// Status is the provider's: wait_validating (phrase ready) or success;
	// processing_validate_fail and fail are error events.
	Status       string `json:"status"`
	ErrorCode    *int   `json:"error_code"` // null when absent
	ErrorMessage string `json:"error_message"`
	ValidateInfo string `json:"validate_info"` // the phrase to read, when a string
	VoiceID      string `json:"voice_id"`
	Extras
}
