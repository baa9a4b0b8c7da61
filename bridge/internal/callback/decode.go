package callback

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// Limits on a body, checked by Peek before anything is built. The provider
// sends one or two tracks nested four levels deep; these leave far more
// room than that, and keep what one request can make the bridge allocate
// bounded by its size.
const (
	// MaxTracks is the most elements a modelled list of a callback may
	// hold: data.data (tracks or lyrics), data.lyricsData,
	// data.instruments, data.images.
	MaxTracks = 100
	// MaxDepth is the deepest nesting a body may have (the top-level
	// object is depth 1). The event nests the body's values two levels
	// deeper, and consumers' JSON decoders stop at 10,000.
	MaxDepth = 64
	// MaxMembers is the most object members a body may have, at every
	// level together. Each costs a decoder about 150 bytes for the
	// duplicate check, and a kept one a map entry.
	MaxMembers = 10_000
	// MaxItems is the most array elements a body may have, at every
	// level together: an element costs a decoded slice a whole value.
	MaxItems = 10_000
)

// Limits are the bounds of one kind of body beyond the fixed MaxDepth and
// MaxTracks. A MIDI callback carries thousands of notes; the others a few
// dozen values.
type Limits struct {
	Members int // object members, all levels
	Items   int // array elements, all levels
}

// DefaultLimits are the limits of every kind but MIDI.
var DefaultLimits = Limits{Members: MaxMembers, Items: MaxItems}

// Peeked is a body that passed Peek: well-formed JSON, valid UTF-8, no
// duplicate member names, within its limits.
type Peeked struct {
	body   []byte
	object bool // the top-level value is an object
	// TaskID is the task id the provider signs: the string at data.task_id,
	// data.taskId, task_id or taskId, wherever the family puts it, or ""
	// when there is none (Decode then says what is wrong).
	TaskID string
	hasID  bool // a task id member holds a string, maybe ""
}

var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewBuffer(nil)) }}

// Peek is PeekWith the DefaultLimits and data.data as the only list.
func Peek(body []byte) (Peeked, error) { return PeekWith(body, DefaultLimits, musicLists) }

// PeekWith reads body once with the JSON tokenizer, building nothing but
// the task id: an unauthenticated request costs time in proportion to its
// size and next to no memory. lists name the members of data that may
// hold at most MaxTracks elements. Two different task ids in one body are
// refused: the signature covers one of them only. Every error is an *Error
// wrapping ErrInvalid.
func PeekWith(body []byte, lim Limits, lists []string) (Peeked, error) {
	p := Peeked{body: body}
	if !utf8.Valid(body) {
		return p, &Error{Reason: ReasonInvalidEncoding, Detail: "body is not valid UTF-8"}
	}
	// A reused decoder keeps its name and state buffers: a new one
	// allocated about 20 times per callback growing them.
	dec := decoders.Get().(*jsontext.Decoder)
	defer decoders.Put(dec)
	dec.Reset(bytes.NewBuffer(body)) // parses body in place
	var (
		top, data string // member names being read at depth 1, and at depth 2 inside data
		tokens    int
		members   int
		items     int
		idAt      string // where p.TaskID was found
	)
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			if errors.Is(err, io.EOF) && tokens > 0 {
				return p, nil
			}
			return p, syntaxError(err)
		}
		if tokens++; tokens == 1 {
			p.object = tok.Kind() == '{'
		}
		depth := dec.StackDepth()
		if depth > MaxDepth {
			return p, &Error{Reason: ReasonTooDeep, Detail: fmt.Sprintf("nesting is deeper than %d levels", MaxDepth)}
		}
		if depth == 0 { // the top-level value ended: nothing may follow
			if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
				return p, &Error{Reason: ReasonMalformedJSON, Detail: "body is not one JSON value"}
			}
			return p, nil
		}
		// A token read into an object, at an odd count, is a member name.
		k, n := dec.StackIndex(depth)
		name := k == '{' && n%2 == 1
		switch {
		case name:
			if members++; members > lim.Members {
				return p, &Error{Reason: ReasonTooManyMembers, Detail: fmt.Sprintf("more than %d object members", lim.Members)}
			}
		case elementOf(dec, tok, depth) == '[':
			if items++; items > lim.Items {
				return p, &Error{Reason: ReasonTooManyItems, Detail: fmt.Sprintf("more than %d array elements", lim.Items)}
			}
		}
		if root, _ := dec.StackIndex(1); root != '{' {
			continue // Decode says a body must be an object
		}
		var id string // a task id member's value, and where it is
		switch {
		case depth == 1 && name:
			top = tok.String()
		case depth == 1:
			if isTaskID(top) && tok.Kind() == '"' {
				id = top
			}
		case top != "data" || depth < 2:
		case depth == 2 && name:
			data = tok.String()
		case depth == 2:
			if k == '{' && isTaskID(data) && tok.Kind() == '"' {
				id = "data.task_id" // a literal: no allocation per body
				if data == "taskId" {
					id = "data.taskId"
				}
			}
		case slices.Contains(lists, data):
			if k, n := dec.StackIndex(3); k == '[' && n > MaxTracks {
				return p, &Error{Reason: ReasonTooManyTracks, Field: "data." + data, Detail: fmt.Sprintf("more than %d elements", MaxTracks)}
			}
		}
		if id != "" {
			if idAt != "" && tok.String() != p.TaskID {
				return p, &Error{Reason: ReasonConflictingTaskID, Field: id,
					Detail: fmt.Sprintf("differs from the task id at %s", idAt)}
			}
			p.TaskID, p.hasID, idAt = tok.String(), true, id
		}
	}
}

// elementOf is the kind of container tok is an element (or member name) of,
// 0 for a closing token or the top-level value.
func elementOf(dec *jsontext.Decoder, tok jsontext.Token, depth int) jsontext.Kind {
	switch tok.Kind() {
	case '}', ']':
		return 0
	case '{', '[':
		depth-- // tok opened a container: its parent holds it
	}
	if depth < 1 {
		return 0
	}
	k, _ := dec.StackIndex(depth)
	return k
}

func isTaskID(name string) bool { return name == "task_id" || name == "taskId" }

func syntaxError(err error) error {
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		var serr *jsontext.SyntacticError
		field := ""
		if errors.As(err, &serr) {
			field = fieldOf(serr.JSONPointer)
		}
		return &Error{Reason: ReasonDuplicateKey, Field: field, Detail: "a member name appears twice in one object"}
	}
	return &Error{Reason: ReasonMalformedJSON, Detail: "body is not valid JSON"}
}

// envelope is the wire form every callback shares: what the provider
// documents, as Go types, with the family's data object D. Pointers tell
// a member that is absent or null from one that is empty; the embedded
// fallback maps (",embed") keep every member not modelled.
type envelope[D any] struct {
	Code        *int                          `json:"code"`
	Msg         string                        `json:"msg"`
	TaskID      *string                       `json:"task_id"` // MIDI puts it here
	TaskIDCamel *string                       `json:"taskId"`
	Data        *D                            `json:"data"`
	Extra       map[string]stdjson.RawMessage `json:",embed"`
}

// base is what every family's data object has: the task id members (Peek
// read them already), the callback type, and the members not modelled.
type base struct {
	TaskID       *string                       `json:"task_id"`
	TaskIDCamel  *string                       `json:"taskId"`
	CallbackType string                        `json:"callbackType"`
	Extra        map[string]stdjson.RawMessage `json:",embed"`
}

func (b *base) fields() *base { return b }

// Decode parses an add-vocals callback body: Peek, then Peeked.Decode.
func Decode(body []byte) (Callback, error) {
	p, err := Peek(body)
	if err != nil {
		return Callback{}, err
	}
	return p.Decode()
}

// Decode reads the peeked body as an add-vocals callback; see Music.
func (p Peeked) Decode() (Callback, error) { return Music.Decode(p, event.FamilyVocals) }

// unmarshal reads the peeked body into its envelope and fills what every
// family shares: code, msg, the task id and the envelope's extras. Member
// names match exactly (case matters). Every error is an *Error wrapping
// ErrInvalid.
func unmarshal[D any](p Peeked, fam event.Family) (envelope[D], Callback, error) {
	var w envelope[D]
	if !p.object {
		return w, Callback{}, &Error{Reason: ReasonInvalidField, Detail: "body must be a JSON object"}
	}
	// Peek checked the names already.
	if err := json.Unmarshal(p.body, &w, jsontext.AllowDuplicateNames(true)); err != nil {
		var serr *json.SemanticError
		if errors.As(err, &serr) {
			return w, Callback{}, fieldError(serr)
		}
		return w, Callback{}, syntaxError(err)
	}
	// Peek found the task id wherever it is; a null one counts as absent.
	switch {
	case w.Code == nil:
		return w, Callback{}, &Error{Reason: ReasonMissingField, Field: "code", Detail: "required"}
	case w.Data == nil && (!p.hasID || w.TaskID == nil && w.TaskIDCamel == nil):
		return w, Callback{}, &Error{Reason: ReasonMissingField, Field: "data", Detail: "required"}
	case !p.hasID:
		return w, Callback{}, &Error{Reason: ReasonMissingField, Field: "data.task_id", Detail: "required"}
	case !event.ValidTaskID(p.TaskID):
		return w, Callback{}, &Error{Reason: ReasonInvalidTaskID, Field: "data.task_id",
			Detail: "must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'"}
	}
	return w, Callback{Family: fam, Code: *w.Code, Msg: w.Msg, TaskID: p.TaskID, EnvelopeExtra: w.Extra}, nil
}

var trackIndex = regexp.MustCompile(`\[\d+\]`)

// fieldError names the member a value of the wrong type was found at.
func fieldError(serr *json.SemanticError) error {
	field := fieldOf(serr.JSONPointer)
	detail := "has the wrong type"
	switch shape := trackIndex.ReplaceAllString(field, "[]"); {
	case field == "":
		detail = "body must be a JSON object"
	case shape == "code":
		detail = "must be an integer"
	case shape == "data":
		detail = "must be an object"
	case shape == "data.task_id":
		detail = "must be a string"
	case shape == "data.data":
		detail = "must be an array of tracks or null"
	case shape == "data.data[]":
		detail = "must be an object"
	case shape == "data.data[].duration":
		detail = "must be a number or null"
	case strings.Count(shape, ".") <= 2:
		detail = "must be a string or null"
	}
	return &Error{Reason: ReasonInvalidField, Field: field, Detail: detail}
}

// fieldOf turns a JSON pointer such as /data/data/0/title into the path
// the answers use, data.data[0].title.
func fieldOf(ptr jsontext.Pointer) string {
	var b strings.Builder
	for tok := range ptr.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
