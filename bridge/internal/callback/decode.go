package callback

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
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
	// MaxTracks is the most tracks (elements of data.data) a callback may carry.
	MaxTracks = 100
	// MaxDepth is the deepest nesting a body may have (the top-level
	// object is depth 1). The event nests the body's values two levels
	// deeper, and consumers' JSON decoders stop at 10,000.
	MaxDepth = 64
	// MaxMembers is the most object members a body may have, at every
	// level together. Each costs a decoder about 150 bytes for the
	// duplicate check, and a kept one a map entry.
	MaxMembers = 10_000
)

// Peeked is a body that passed Peek: well-formed JSON, valid UTF-8, no
// duplicate member names, within MaxDepth, MaxMembers and MaxTracks.
type Peeked struct {
	body   []byte
	object bool // the top-level value is an object
	// TaskID is data.task_id when it is a string, else "" (Decode then
	// says what is wrong with it). It is what the provider signs.
	TaskID string
}

var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewBuffer(nil)) }}

// Peek reads body once with the JSON tokenizer, building nothing but the
// task id: an unauthenticated request costs time in proportion to its size
// and next to no memory. Every error is an *Error wrapping ErrInvalid.
func Peek(body []byte) (Peeked, error) {
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
		if name {
			if members++; members > MaxMembers {
				return p, &Error{Reason: ReasonTooManyMembers, Detail: fmt.Sprintf("more than %d object members", MaxMembers)}
			}
		}
		if root, _ := dec.StackIndex(1); root != '{' {
			continue // Decode says a body must be an object
		}
		switch {
		case depth == 1 && name:
			top = tok.String()
		case top != "data" || depth < 2:
		case depth == 2 && name:
			data = tok.String()
		case depth == 2:
			if k == '{' && data == "task_id" && tok.Kind() == '"' {
				p.TaskID = tok.String()
			}
		case data == "data":
			if k, n := dec.StackIndex(3); k == '[' && n > MaxTracks {
				return p, &Error{Reason: ReasonTooManyTracks, Field: "data.data", Detail: fmt.Sprintf("more than %d tracks", MaxTracks)}
			}
		}
	}
}

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

// The wire form of a callback: what the provider documents, as Go types.
// Pointers tell a member that is absent or null from one that is empty;
// the embedded fallback maps (",embed") keep every member not modelled.
type (
	wireCallback struct {
		Code  *int                          `json:"code"`
		Msg   string                        `json:"msg"`
		Data  *wireData                     `json:"data"`
		Extra map[string]stdjson.RawMessage `json:",embed"`
	}
	wireData struct {
		TaskID       *string                       `json:"task_id"`
		CallbackType string                        `json:"callbackType"`
		Tracks       []Track                       `json:"data"`
		Extra        map[string]stdjson.RawMessage `json:",embed"`
	}
)

// Decode parses a callback body: Peek, then Peeked.Decode.
func Decode(body []byte) (Callback, error) {
	p, err := Peek(body)
	if err != nil {
		return Callback{}, err
	}
	return p.Decode()
}

// Decode reads the peeked body into a Callback. Member names match exactly
// (case matters), unknown members are kept as raw JSON, and every error is
// an *Error wrapping ErrInvalid.
//
// Stage rules: with code 200 the stage is the callbackType, which must be
// text, first, complete or error; any other code is a failure and the stage
// is error whatever the callbackType says (it is kept as sent, and may be
// missing, so that no failure report is refused).
func (p Peeked) Decode() (Callback, error) {
	if !p.object {
		return Callback{}, &Error{Reason: ReasonInvalidField, Detail: "body must be a JSON object"}
	}
	var w wireCallback
	// Peek checked the names already.
	if err := json.Unmarshal(p.body, &w, jsontext.AllowDuplicateNames(true)); err != nil {
		var serr *json.SemanticError
		if errors.As(err, &serr) {
			return Callback{}, fieldError(serr)
		}
		return Callback{}, syntaxError(err)
	}
	switch {
	case w.Code == nil:
		return Callback{}, &Error{Reason: ReasonMissingField, Field: "code", Detail: "required"}
	case w.Data == nil:
		return Callback{}, &Error{Reason: ReasonMissingField, Field: "data", Detail: "required"}
	case w.Data.TaskID == nil:
		return Callback{}, &Error{Reason: ReasonMissingField, Field: "data.task_id", Detail: "required"}
	case !event.ValidTaskID(*w.Data.TaskID):
		return Callback{}, &Error{Reason: ReasonInvalidTaskID, Field: "data.task_id",
			Detail: "must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'"}
	}
	cb := Callback{
		Code: *w.Code, Msg: w.Msg, CallbackType: w.Data.CallbackType, TaskID: *w.Data.TaskID,
		Extra: w.Data.Extra, EnvelopeExtra: w.Extra,
	}
	var err error
	if cb.Stage, err = stageOf(cb.Code, cb.CallbackType); err != nil {
		return Callback{}, err
	}
	cb.Tracks = w.Data.Tracks
	return cb, nil
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

func stageOf(code int, callbackType string) (event.Stage, error) {
	if code != SuccessCode {
		return event.StageError, nil
	}
	switch s := event.Stage(callbackType); s {
	case event.StageText, event.StageFirst, event.StageComplete, event.StageError:
		return s, nil
	case "":
		return "", &Error{Reason: ReasonMissingField, Field: "data.callbackType", Detail: "required when code is 200"}
	default:
		return "", &Error{Reason: ReasonUnknownCallbackType, Field: "data.callbackType",
			Detail: fmt.Sprintf("%q is not text, first, complete or error", truncate(callbackType, 40))}
	}
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
