package callback_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeFixtures(t *testing.T) {
	tests := map[string]struct {
		file       string
		stage      event.Stage
		code       int
		cbType     string
		taskID     string
		tracks     int
		extraKeys  []string // keys kept from data
		envelope   []string // keys kept from the top level
		trackExtra []string // keys kept from the first track
	}{
		"complete": {file: "complete.json", stage: event.StageComplete, code: 200, cbType: "complete",
			taskID: "2fac4d1b9e0a4c8fb1d2e3f4a5b69f72", tracks: 1},
		"text with null duration": {file: "text.json", stage: event.StageText, code: 200, cbType: "text",
			taskID: "2fac4d1b9e0a4c8fb1d2e3f4a5b69f72", tracks: 1},
		"error 531 with null data": {file: "error-531.json", stage: event.StageError, code: 531, cbType: "error",
			taskID: "2fac4d1b9e0a4c8fb1d2e3f4a5b69f72"},
		"first with unknown keys at every level": {file: "first.json", stage: event.StageFirst, code: 200, cbType: "first",
			taskID: "7d1e0c2a9b3f4e5d8c6b1a0f2e3d4c5b", tracks: 2,
			extraKeys: []string{"queue_position"}, envelope: []string{"trace"}, trackExtra: []string{"lyrics_language"}},
		"failure code overrides callbackType": {file: "error-501-complete.json", stage: event.StageError, code: 501,
			cbType: "complete", taskID: "0b5c9f5e1d2a4b3c8e7f6a5b4c3d2e1f"},
		"failure without callbackType": {file: "error-408-no-type.json", stage: event.StageError, code: 408,
			taskID: "task_408-limit"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cb, err := callback.Decode(readFixture(t, tc.file))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if cb.Stage != tc.stage || cb.Code != tc.code || cb.CallbackType != tc.cbType || cb.TaskID != tc.taskID {
				t.Errorf("got stage=%q code=%d type=%q task=%q", cb.Stage, cb.Code, cb.CallbackType, cb.TaskID)
			}
			if len(cb.Tracks) != tc.tracks {
				t.Errorf("got %d tracks, want %d", len(cb.Tracks), tc.tracks)
			}
			assertKeys(t, "extra", cb.Extra, tc.extraKeys)
			assertKeys(t, "envelope extra", cb.EnvelopeExtra, tc.envelope)
			if len(cb.Tracks) > 0 {
				assertKeys(t, "track extra", cb.Tracks[0].Extra, tc.trackExtra)
			}
		})
	}
}

func assertKeys(t *testing.T, what string, m map[string]json.RawMessage, want []string) {
	t.Helper()
	if len(m) != len(want) {
		t.Errorf("%s: got keys %v, want %v", what, m, want)
		return
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: missing key %q", what, k)
		}
	}
}

func TestDecodeTrackFields(t *testing.T) {
	cb, err := callback.Decode(readFixture(t, "first.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := cb.Tracks[0]
	if got.Title != "城市之夜" || got.Tags != "mandopop, ballad" || got.SourceImageURL != "https://cdn.example.cn/9a8b.jpeg" ||
		got.CreateTime != "2025-03-04 05:06:07" || got.Duration == nil || *got.Duration != 201.5 {
		t.Errorf("first track decoded as %+v", got)
	}
	if second := cb.Tracks[1]; second.Duration != nil || second.AudioURL != "" || second.SourceAudioURL != "" {
		t.Errorf("second track: null duration and missing fields must stay empty, got %+v", second)
	}
}

func TestDecodeStageMapping(t *testing.T) {
	tests := map[string]struct {
		code   int
		cbType string
		want   event.Stage
		reason callback.Reason
	}{
		"text":                 {200, "text", event.StageText, ""},
		"first":                {200, "first", event.StageFirst, ""},
		"complete":             {200, "complete", event.StageComplete, ""},
		"error with 200":       {200, "error", event.StageError, ""},
		"400 text":             {400, "text", event.StageError, ""},
		"408 first":            {408, "first", event.StageError, ""},
		"413 complete":         {413, "complete", event.StageError, ""},
		"500 error":            {500, "error", event.StageError, ""},
		"531 unknown type":     {531, "whatever", event.StageError, ""},
		"undocumented 0":       {0, "complete", event.StageError, ""},
		"unknown type 200":     {200, "done", "", callback.ReasonUnknownCallbackType},
		"case matters":         {200, "Complete", "", callback.ReasonUnknownCallbackType},
		"missing type 200":     {200, "", "", callback.ReasonMissingField},
		"subject token as typ": {200, "complete.>", "", callback.ReasonUnknownCallbackType},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body := map[string]any{"code": tc.code, "msg": "m", "data": map[string]any{"task_id": "abc", "callbackType": tc.cbType}}
			if tc.cbType == "" {
				delete(body["data"].(map[string]any), "callbackType")
			}
			raw, _ := json.Marshal(body)
			cb, err := callback.Decode(raw)
			checkReason(t, err, tc.reason)
			if err == nil && cb.Stage != tc.want {
				t.Errorf("stage %q, want %q", cb.Stage, tc.want)
			}
		})
	}
}

func checkReason(t *testing.T, err error, want callback.Reason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var cbErr *callback.Error
	if !errors.As(err, &cbErr) {
		t.Fatalf("want *callback.Error with reason %s, got %v", want, err)
	}
	if !errors.Is(err, callback.ErrInvalid) {
		t.Errorf("error does not wrap ErrInvalid: %v", err)
	}
	if cbErr.Reason != want {
		t.Errorf("reason %s, want %s (%v)", cbErr.Reason, want, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := map[string]struct {
		body   string
		reason callback.Reason
		field  string
	}{
		"empty body":             {``, callback.ReasonMalformedJSON, ""},
		"truncated":              {`{"code":200,"data":{"task_id":"a"`, callback.ReasonMalformedJSON, ""},
		"trailing garbage":       {`{"code":200,"data":{"task_id":"a","callbackType":"text"}} x`, callback.ReasonMalformedJSON, ""},
		"two objects":            {`{} {}`, callback.ReasonMalformedJSON, ""},
		"array":                  {`[1,2]`, callback.ReasonInvalidField, ""},
		"null":                   {`null`, callback.ReasonInvalidField, ""},
		"string":                 {`"hello"`, callback.ReasonInvalidField, ""},
		"invalid utf-8":          {"{\"code\":200,\"msg\":\"\xff\",\"data\":{}}", callback.ReasonInvalidEncoding, ""},
		"missing code":           {`{"data":{"task_id":"a","callbackType":"text"}}`, callback.ReasonMissingField, "code"},
		"null code":              {`{"code":null,"data":{"task_id":"a","callbackType":"text"}}`, callback.ReasonMissingField, "code"},
		"string code":            {`{"code":"200","data":{"task_id":"a","callbackType":"text"}}`, callback.ReasonInvalidField, "code"},
		"fractional code":        {`{"code":200.5,"data":{"task_id":"a","callbackType":"text"}}`, callback.ReasonInvalidField, "code"},
		"huge code":              {`{"code":1e400,"data":{"task_id":"a","callbackType":"text"}}`, callback.ReasonInvalidField, "code"},
		"numeric msg":            {`{"code":200,"msg":5,"data":{"task_id":"a","callbackType":"text"}}`, callback.ReasonInvalidField, "msg"},
		"missing data":           {`{"code":200}`, callback.ReasonMissingField, "data"},
		"null data":              {`{"code":200,"data":null}`, callback.ReasonMissingField, "data"},
		"data is array":          {`{"code":200,"data":[]}`, callback.ReasonInvalidField, "data"},
		"missing task_id":        {`{"code":200,"data":{"callbackType":"text"}}`, callback.ReasonMissingField, "data.task_id"},
		"numeric task_id":        {`{"code":200,"data":{"task_id":12,"callbackType":"text"}}`, callback.ReasonInvalidField, "data.task_id"},
		"task_id wrong case key": {`{"code":200,"data":{"Task_ID":"abc","callbackType":"text"}}`, callback.ReasonMissingField, "data.task_id"},
		"numeric callbackType":   {`{"code":200,"data":{"task_id":"a","callbackType":1}}`, callback.ReasonInvalidField, "data.callbackType"},
		"tracks is object":       {`{"code":200,"data":{"task_id":"a","callbackType":"text","data":{}}}`, callback.ReasonInvalidField, "data.data"},
		"track is string":        {`{"code":200,"data":{"task_id":"a","callbackType":"text","data":["x"]}}`, callback.ReasonInvalidField, "data.data[0]"},
		"track title number":     {`{"code":200,"data":{"task_id":"a","callbackType":"text","data":[{"title":1}]}}`, callback.ReasonInvalidField, "data.data[0].title"},
		"duration string":        {`{"code":200,"data":{"task_id":"a","callbackType":"text","data":[{},{"duration":"9"}]}}`, callback.ReasonInvalidField, "data.data[1].duration"},
		// Under "last wins" two parsers can disagree on which task id a
		// body carries; a duplicate name is refused wherever it is.
		"duplicate task_id":     {`{"code":200,"data":{"task_id":"a","task_id":"b","callbackType":"text"}}`, callback.ReasonDuplicateKey, "data.task_id"},
		"duplicate code":        {`{"code":200,"code":500,"data":{"task_id":"a","callbackType":"text"}}`, callback.ReasonDuplicateKey, "code"},
		"duplicate deep inside": {`{"code":200,"data":{"task_id":"a","callbackType":"text","x":{"y":[{"z":1,"z":2}]}}}`, callback.ReasonDuplicateKey, "data.x.y[0].z"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := callback.Decode([]byte(tc.body))
			checkReason(t, err, tc.reason)
			var cbErr *callback.Error
			if errors.As(err, &cbErr) && cbErr.Field != tc.field {
				t.Errorf("field %q, want %q", cbErr.Field, tc.field)
			}
		})
	}
}

// Task ids become a NATS subject token: anything that could add a token,
// a wildcard or a control character must be refused.
func TestDecodeTaskIDInjection(t *testing.T) {
	tests := map[string]struct {
		id string
		ok bool
	}{
		"hex":              {"2fac4d1b9e0a4c8fb1d2e3f4a5b69f72", true},
		"dash underscore":  {"a-b_C9", true},
		"128 chars":        {strings.Repeat("a", 128), true},
		"empty":            {"", false},
		"129 chars":        {strings.Repeat("a", 129), false},
		"dot":              {"abc.def", false},
		"star":             {"*", false},
		"gt":               {">", false},
		"wildcard tail":    {"abc.>", false},
		"space":            {"abc def", false},
		"tab":              {"abc\tdef", false},
		"newline":          {"abc\ndef", false},
		"carriage return":  {"abc\r\nPUB x 1", false},
		"nul":              {"abc\x00", false},
		"unicode":          {"ταχίστη", false},
		"fullwidth dot":    {"abc．def", false},
		"slash":            {"a/b", false},
		"percent-encoding": {"a%2Eb", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]any{"code": 200, "data": map[string]any{"task_id": tc.id, "callbackType": "complete"}})
			cb, err := callback.Decode(raw)
			if tc.ok {
				checkReason(t, err, "")
				if cb.TaskID != tc.id {
					t.Errorf("task id %q, want %q", cb.TaskID, tc.id)
				}
				return
			}
			checkReason(t, err, callback.ReasonInvalidTaskID)
		})
	}
}

// ValidTaskID is the documented pattern, written as a loop.
func TestValidTaskIDMatchesThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	ids := []string{"", "a", "A-z_09", strings.Repeat("x", 128), strings.Repeat("x", 129), "a.b", "a*", "a>", "a b",
		"é", "a\x00", "2fac4d1b9e0a4c8fb1d2e3f4a5b69f72", "-", "_", "a\n"}
	for c := 0; c < 256; c++ {
		ids = append(ids, "ab"+string(rune(c)), string([]byte{byte(c)}))
	}
	for _, id := range ids {
		if got, want := event.ValidTaskID(id), pattern.MatchString(id); got != want {
			t.Errorf("ValidTaskID(%q) = %v, the pattern says %v", id, got, want)
		}
	}
}

// nested is a valid callback whose deepest value sits depth levels down
// (the top-level object is level 1), in an unknown member.
func nested(depth int) []byte {
	return []byte(`{"code":200,"data":{"task_id":"deep","callbackType":"text","x":` +
		strings.Repeat("[", depth-2) + strings.Repeat("]", depth-2) + `}}`)
}

// members is a valid callback with n object members in all.
func members(n int) []byte {
	var b strings.Builder
	for i := range n - 5 { // code, data, task_id, callbackType and x are five
		fmt.Fprintf(&b, `{"k%d":0},`, i)
	}
	return []byte(`{"code":200,"data":{"task_id":"wide","callbackType":"text","x":[` + strings.TrimSuffix(b.String(), ",") + `]}}`)
}

func tracks(n int) []byte {
	return []byte(`{"code":200,"data":{"task_id":"many","callbackType":"complete","data":[` +
		strings.TrimSuffix(strings.Repeat(`{"title":"t"},`, n), ",") + `]}}`)
}

// The bounds on one body, each at the limit and one past it.
func TestDecodeLimits(t *testing.T) {
	tests := map[string]struct {
		body   []byte
		reason callback.Reason
	}{
		"depth at the limit":     {nested(callback.MaxDepth), ""},
		"depth past the limit":   {nested(callback.MaxDepth + 1), callback.ReasonTooDeep},
		"depth of 10,000":        {nested(10000), callback.ReasonTooDeep},
		"tracks at the limit":    {tracks(callback.MaxTracks), ""},
		"tracks past the limit":  {tracks(callback.MaxTracks + 1), callback.ReasonTooManyTracks},
		"349,496 empty tracks":   {[]byte(`{"code":200,"data":{"task_id":"x","callbackType":"complete","data":[` + strings.Repeat("{},", 349495) + `{}]}}`), callback.ReasonTooManyTracks},
		"members at the limit":   {members(callback.MaxMembers), ""},
		"members past the limit": {members(callback.MaxMembers + 1), callback.ReasonTooManyMembers},
		"an unknown array of 1k": {[]byte(`{"code":200,"data":{"task_id":"x","callbackType":"complete","other":[` + strings.Repeat("{},", 999) + `{}]}}`), ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cb, err := callback.Decode(tc.body)
			checkReason(t, err, tc.reason)
			if err != nil {
				return
			}
			if strings.HasPrefix(name, "tracks") && len(cb.Tracks) != callback.MaxTracks {
				t.Errorf("%d tracks decoded", len(cb.Tracks))
			}
			// What is accepted is stored, and every stored event must
			// decode for consumers, two levels deeper than the body.
			m, err := cloudevent.NewBuilder("vocals", "/s", "http://localhost/schemas", time.UTC).Build(cb, cloudevent.Source{Body: tc.body})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := consumer.Decode(m.Subject, nats.Header{"Content-Type": {event.ContentType}}, m.Body); err != nil {
				t.Errorf("bridge/consumer cannot decode the event: %v", err)
			}
		})
	}
}

// Peek finds the task id the provider signs without decoding the body,
// and agrees with Decode on it.
func TestPeekFindsTheSignedTaskID(t *testing.T) {
	tests := map[string]struct{ body, want string }{
		"usual":               {`{"code":200,"msg":"ok","data":{"callbackType":"text","task_id":"abc","data":[]}}`, "abc"},
		"task id first":       {`{"data":{"task_id":"abc"},"code":200}`, "abc"},
		"nested task_id only": {`{"code":200,"data":{"x":{"task_id":"evil"}}}`, ""},
		"top-level task_id":   {`{"code":200,"task_id":"abc","data":{}}`, "abc"}, // where MIDI puts it
		"top-level taskId":    {`{"code":200,"taskId":"abc"}`, "abc"},
		"both places, same":   {`{"code":200,"task_id":"abc","data":{"taskId":"abc"}}`, "abc"},
		"numeric task_id":     {`{"code":200,"data":{"task_id":12}}`, ""},
		"data not an object":  {`{"code":200,"data":["task_id","abc"]}`, ""},
		"escaped":             {`{"code":200,"data":{"task_\u0069d":"a\u0062c"}}`, "abc"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := callback.Peek([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if p.TaskID != tc.want {
				t.Errorf("task id %q, want %q", p.TaskID, tc.want)
			}
			if cb, err := p.Decode(); err == nil && cb.TaskID != p.TaskID {
				t.Errorf("Decode read task id %q, Peek %q", cb.TaskID, p.TaskID)
			}
		})
	}
}
