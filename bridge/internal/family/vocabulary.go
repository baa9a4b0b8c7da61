package family

import (
	"strings"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// Vocabulary is how a details answer tells a task's state: which member
// of its data holds it, and the stage each value stands for. A value
// missing from Stages is pending (or unknown) and stands for no stage.
type Vocabulary struct {
	Field  string                 // "status" or "successFlag"
	Stages map[string]event.Stage // upper-cased words, or numbers as written
	// Delivery is the value meaning "generated, but the provider failed
	// to call back": complete when the answer carries a result, else error.
	Delivery string
	// Codes are the callback codes of failed values that come without an
	// errorCode; any other is 500.
	Codes map[string]int
}

// Code is the callback code of a failed value that came without one.
func (v Vocabulary) Code(value string) int {
	if c, ok := v.Codes[strings.ToUpper(strings.TrimSpace(value))]; ok {
		return c
	}
	return 500
}

// Stage is the stage value stands for; false while pending or unknown.
func (v Vocabulary) Stage(value string) (event.Stage, bool) {
	s, ok := v.Stages[strings.ToUpper(strings.TrimSpace(value))]
	return s, ok
}

const callbackException = "CALLBACK_EXCEPTION"

// The vocabularies of the provider's details endpoints, as its documentation lists them.
var (
	MusicStatus = Vocabulary{Field: "status", Delivery: callbackException, Stages: map[string]event.Stage{
		"TEXT_SUCCESS": event.StageText, "FIRST_SUCCESS": event.StageFirst, "SUCCESS": event.StageComplete,
		"CREATE_TASK_FAILED": event.StageError, "GENERATE_AUDIO_FAILED": event.StageError,
		"SENSITIVE_WORD_ERROR": event.StageError,
	}, Codes: map[string]int{"SENSITIVE_WORD_ERROR": 400, "GENERATE_AUDIO_FAILED": 501}}
	LyricsStatus = Vocabulary{Field: "status", Delivery: callbackException, Stages: map[string]event.Stage{
		"SUCCESS": event.StageComplete, "CREATE_TASK_FAILED": event.StageError,
		"GENERATE_LYRICS_FAILED": event.StageError, "SENSITIVE_WORD_ERROR": event.StageError,
	}}
	// FlagStatus is the words of WAV, stem separation and video.
	FlagStatus = Vocabulary{Field: "successFlag", Delivery: callbackException, Stages: map[string]event.Stage{
		"SUCCESS": event.StageComplete, "CREATE_TASK_FAILED": event.StageError,
		"GENERATE_WAV_FAILED": event.StageError, "GENERATE_AUDIO_FAILED": event.StageError,
		"GENERATE_MP4_FAILED": event.StageError,
	}}
	// NumericFlagStatus is MIDI's: 0 pending, 1 success, 2 task creation
	// failed, 3 generation failed.
	NumericFlagStatus = Vocabulary{Field: "successFlag", Stages: map[string]event.Stage{
		"1": event.StageComplete, "2": event.StageError, "3": event.StageError,
	}}
	// CoverStatus is documented both ways: 0 pending, 1 success, 2
	// generating, 3 failed, and the words.
	CoverStatus = Vocabulary{Field: "successFlag", Stages: map[string]event.Stage{
		"1": event.StageComplete, "3": event.StageError,
		"SUCCESS": event.StageComplete, "CREATE_TASK_FAILED": event.StageError, "GENERATE_COVER_FAILED": event.StageError,
	}}
	VoiceStatus = Vocabulary{Field: "status", Stages: map[string]event.Stage{
		"WAIT_VALIDATING": event.StageComplete, "SUCCESS": event.StageComplete,
		"PROCESSING_VALIDATE_FAIL": event.StageError, "FAIL": event.StageError,
	}}
)
