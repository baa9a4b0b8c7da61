// Package family is the one description of every callback family the
// bridge takes: the public contract's name (bridge/event.Family) joined
// with how its body decodes, where the provider takes its submissions and
// answers for its state, and the words that state is told in. The
// handler, the builder, the reconciler and the simulator read this table;
// none of them has a case per family.
package family

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
)

// Family is one family's description.
type Family struct {
	Name event.Family
	// Kind is the shape of its callback body.
	Kind *callback.Kind
	// Submit and Details are the provider's paths: the POST that creates
	// a task and the GET ?taskId= that reports its state.
	Submit, Details string
	// Status is the vocabulary of the details answer.
	Status Vocabulary
	// Result is where the details answer carries what the callback
	// would; the music families' answer is read as add-vocals' is.
	Result Result
	// CallbackField is the submit body's member naming the callback URL.
	CallbackField string
	// Undocumented: the provider lists the task without a callback page;
	// its callbacks are read as Kind's envelope, which is uncertain.
	Undocumented bool
}

// CallbackURL is the callBackUrl of f's submissions, made from the
// add-vocals one (submit_callback_url): its /callbacks/vocals becomes
// f's path, the token and query kept. A URL without that path is used
// as it is.
func (f Family) CallbackURL(vocals string) string {
	return strings.Replace(vocals, "/callbacks/vocals", f.Path(), 1)
}

// Result says how a details answer's result becomes the data object of
// the callback it stands for: the object at From (the answer's data
// itself when ""), its camelCase member names in snake_case when Snake,
// placed under Into (merged into data when "").
type Result struct {
	From, Into string
	Snake      bool
}

// Path is the callback route, /callbacks/<name>.
func (f Family) Path() string { return "/callbacks/" + string(f.Name) }

var table = []Family{
	music(event.FamilyVocals, "/api/v1/generate/add-vocals"),
	music(event.FamilyGenerate, "/api/v1/generate"),
	music(event.FamilyExtend, "/api/v1/generate/extend"),
	music(event.FamilyUploadCover, "/api/v1/generate/upload-cover"),
	music(event.FamilyUploadExtend, "/api/v1/generate/upload-extend"),
	music(event.FamilyAddInstrumental, "/api/v1/generate/add-instrumental"),
	{Name: event.FamilyReplaceSection, Kind: callback.MusicOneShot,
		Submit: "/api/v1/generate/replace-section", Details: "/api/v1/generate/record-info", Status: MusicStatus},
	{Name: event.FamilyLyrics, Kind: callback.Lyrics,
		Submit: "/api/v1/lyrics", Details: "/api/v1/lyrics/record-info", Status: LyricsStatus,
		Result: Result{From: "response"}},
	{Name: event.FamilyWAV, Kind: callback.WAV,
		Submit: "/api/v1/wav/generate", Details: "/api/v1/wav/record-info", Status: FlagStatus,
		Result: Result{From: "response", Snake: true}},
	{Name: event.FamilyStems, Kind: callback.Stems,
		Submit: "/api/v1/vocal-removal/generate", Details: "/api/v1/vocal-removal/record-info", Status: FlagStatus,
		Result: Result{From: "response", Into: "vocal_removal_info", Snake: true}},
	{Name: event.FamilyMIDI, Kind: callback.MIDI,
		Submit: "/api/v1/midi/generate", Details: "/api/v1/midi/record-info", Status: NumericFlagStatus,
		Result: Result{From: "midiData"}},
	{Name: event.FamilyVideo, Kind: callback.Video,
		Submit: "/api/v1/mp4/generate", Details: "/api/v1/mp4/record-info", Status: FlagStatus,
		Result: Result{From: "response", Snake: true}},
	{Name: event.FamilyCoverImage, Kind: callback.CoverImage,
		Submit: "/api/v1/suno/cover/generate", Details: "/api/v1/suno/cover/record-info", Status: CoverStatus,
		Result: Result{From: "response"}},
	{Name: event.FamilyVoiceValidate, Kind: callback.Voice,
		Submit: "/api/v1/voice/validate", Details: "/api/v1/voice/validate-info", Status: VoiceStatus},
	{Name: event.FamilyVoiceRegenerate, Kind: callback.Voice, CallbackField: "calBackUrl",
		Submit: "/api/v1/voice/regenerate", Details: "/api/v1/voice/validate-info", Status: VoiceStatus},
	{Name: event.FamilyVoice, Kind: callback.Voice,
		Submit: "/api/v1/voice/generate", Details: "/api/v1/voice/record-info", Status: VoiceStatus},
	undocumented(music(event.FamilySounds, "/api/v1/generate/sounds")),
	undocumented(music(event.FamilyMashup, "/api/v1/generate/mashup")),
}

func undocumented(f Family) Family {
	f.Undocumented = true
	return f
}

func init() {
	for i := range table {
		if table[i].CallbackField == "" {
			table[i].CallbackField = "callBackUrl"
		}
	}
}

func music(name event.Family, submit string) Family {
	return Family{Name: name, Kind: callback.Music,
		Submit: submit, Details: "/api/v1/generate/record-info", Status: MusicStatus}
}

// All lists every family, add-vocals first.
func All() []Family { return slices.Clone(table) }

// Get returns the family named name.
func Get(name event.Family) (Family, bool) {
	for _, f := range table {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}

// Enabled returns every family except those named in off, a
// comma-separated list; an unknown name is an error.
func Enabled(off string) ([]Family, error) {
	skip := map[event.Family]bool{}
	for _, name := range strings.Split(off, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if _, ok := Get(event.Family(name)); !ok {
			return nil, fmt.Errorf("%q is not a family (%s)", name, Names())
		}
		skip[event.Family(name)] = true
	}
	var out []Family
	for _, f := range table {
		if !skip[f.Name] {
			out = append(out, f)
		}
	}
	return out, nil
}

// Names lists the families' names, comma-separated.
func Names() string {
	names := make([]string, len(table))
	for i, f := range table {
		names[i] = string(f.Name)
	}
	return strings.Join(names, ", ")
}

// Durations parses "family=duration,...", such as "lyrics=10m,video=2h".
func Durations(list string) (map[event.Family]time.Duration, error) {
	out := map[event.Family]time.Duration{}
	return out, pairs(list, "duration", func(f event.Family, val string) error {
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s: %q is not a positive duration", f, val)
		}
		out[f] = d
		return nil
	})
}

// Prefixes parses "family=prefix,..." over the defaults: each family's
// own name, add-vocals' vocalsPrefix.
func Prefixes(vocalsPrefix, list string) (map[event.Family]string, error) {
	out := map[event.Family]string{}
	for _, f := range table {
		out[f.Name] = string(f.Name)
	}
	out[event.FamilyVocals] = vocalsPrefix
	return out, pairs(list, "prefix", func(f event.Family, prefix string) error {
		if f == event.FamilyVocals {
			return fmt.Errorf("add-vocals' prefix is subject_prefix")
		}
		out[f] = prefix
		return nil
	})
}

// pairs calls set for each item of a "family=value,..." list, refusing an
// item without "=" and a name that is not a family.
func pairs(list, what string, set func(event.Family, string) error) error {
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, "=")
		if !ok {
			return fmt.Errorf("%q is not family=%s", item, what)
		}
		if _, known := Get(event.Family(name)); !known {
			return fmt.Errorf("%q is not a family (%s)", name, Names())
		}
		if err := set(event.Family(name), val); err != nil {
			return err
		}
	}
	return nil
}
