package event

import (
	"cmp"
	"fmt"
)

// Result is what every family's data type says of what its task made, so
// code that handles any family (the bridge's polling, a terminal's view)
// needs no case per family.
type Result interface {
	// Made reports whether the data carries something the task made: a
	// track with audio, a lyric, a URL, an image, a note, a voice.
	Made() bool
	// Items describe what it carries, one line each, for people. Values
	// are as sent: a terminal must still escape control characters.
	Items() []string
}

var (
	_ Result = DataV1{}
	_ Result = LyricsV1{}
	_ Result = WavV1{}
	_ Result = StemsV1{}
	_ Result = MIDIV1{}
	_ Result = VideoV1{}
	_ Result = CoverImageV1{}
	_ Result = VoiceV1{}
)

// Made reports whether a track has audio.
func (d DataV1) Made() bool {
	for _, t := range d.Tracks {
		if t.AudioURL != "" {
			return true
		}
	}
	return false
}

// Items are the tracks: title, length when known, audio (or stream) URL;
// tracks that read the same (a text stage's, before any audio) are one
// item with their count.
func (d DataV1) Items() []string {
	var shown []string
	counts := map[string]int{}
	for _, t := range d.Tracks {
		s := fmt.Sprintf("%q", t.Title)
		if t.Duration != nil {
			s += fmt.Sprintf(" %.1fs", *t.Duration)
		}
		if url := cmp.Or(t.AudioURL, t.StreamAudioURL); url != "" {
			s += " " + url
		}
		if counts[s]++; counts[s] == 1 {
			shown = append(shown, s)
		}
	}
	for i, s := range shown {
		if n := counts[s]; n > 1 {
			shown[i] = s + fmt.Sprintf(" (%d tracks)", n)
		}
	}
	return shown
}

// Made reports whether there is a lyric.
func (d LyricsV1) Made() bool { return len(d.Lyrics) > 0 }

// Items are the lyrics: title, status, length in characters.
func (d LyricsV1) Items() []string {
	out := make([]string, 0, len(d.Lyrics))
	for _, l := range d.Lyrics {
		out = append(out, fmt.Sprintf("%q %s, %d characters", l.Title, l.Status, len([]rune(l.Text))))
	}
	return out
}

// Made reports whether there is a WAV URL.
func (d WavV1) Made() bool { return d.AudioWavURL != "" }

// Items is the WAV URL.
func (d WavV1) Items() []string { return nonEmpty(d.AudioWavURL) }

// Made reports whether there is a stem.
func (d StemsV1) Made() bool { return len(d.Items()) > 0 }

// Items are the stems' URLs.
func (d StemsV1) Items() []string {
	s := d.Stems
	return nonEmpty(s.VocalURL, s.InstrumentalURL, s.BackingVocalsURL, s.DrumsURL, s.BassURL, s.GuitarURL,
		s.KeyboardURL, s.PercussionURL, s.StringsURL, s.SynthURL, s.FxURL, s.BrassURL, s.WoodwindsURL)
}

// Made reports whether there is an instrument.
func (d MIDIV1) Made() bool { return len(d.Instruments) > 0 }

// Items are the instruments and their number of notes.
func (d MIDIV1) Items() []string {
	out := make([]string, 0, len(d.Instruments))
	for _, in := range d.Instruments {
		word := "notes"
		if len(in.Notes) == 1 {
			word = "note"
		}
		out = append(out, fmt.Sprintf("%q %d %s", in.Name, len(in.Notes), word))
	}
	return out
}

// Made reports whether there is a video URL.
func (d VideoV1) Made() bool { return d.VideoURL != "" }

// Items is the video URL.
func (d VideoV1) Items() []string { return nonEmpty(d.VideoURL) }

// Made reports whether there is an image.
func (d CoverImageV1) Made() bool { return len(d.Images) > 0 }

// Items are the images' URLs.
func (d CoverImageV1) Items() []string { return nonEmpty(d.Images...) }

// Made reports whether there is a phrase to read or a voice.
func (d VoiceV1) Made() bool { return d.ValidateInfo != "" || d.VoiceID != "" }

// Items is the status, the voice id and the phrase.
func (d VoiceV1) Items() []string {
	return []string{fmt.Sprintf("%s %s%q", d.Status, d.VoiceID, d.ValidateInfo)}
}

// nonEmpty are the values of vs that are not "".
func nonEmpty(vs ...string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
