package event

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// dataFrom makes a DataV1 that puts the fuzzer's values in every kind of
// field the hand-written encoder writes.
func dataFrom(s1, s2 string, raw []byte, code int, dur float64, secs int64, nanos int) DataV1 {
	created := time.Unix(secs, int64(nanos)).UTC()
	var extra map[string]json.RawMessage
	if len(raw) > 0 {
		extra = map[string]json.RawMessage{s1: raw, "z" + s2: json.RawMessage(`[1, 2]`), "nil": nil}
	}
	return DataV1{
		TaskID: s1, Stage: "complete", CallbackType: s2, Code: code, CodeReason: CodeReason(code), Msg: s1 + s2,
		Tracks: []TrackV1{
			{ID: s2, Title: s1, Prompt: s2, Tags: s1, CreateTime: &created, CreateTimeRaw: s2, Duration: &dur, Extra: extra},
			{},
		},
		Extra:         extra,
		EnvelopeExtra: map[string]json.RawMessage{s2: json.RawMessage(" {\"a\" : \"<&>\" } ")},
	}
}

func assertSameAsEncodingJSON(t *testing.T, d DataV1) {
	t.Helper()
	got, gotErr := appendData(nil, &d)
	want, wantErr := encodeJSON(&d)(nil)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("errors differ: hand-written %v, encoding/json %v", gotErr, wantErr)
	}
	if string(got) != string(want) {
		t.Fatalf("hand-written encoding differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

func TestAppendDataMatchesEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s1, s2 string
		raw    string
		dur    float64
		secs   int64
	}{
		{"plain", "task1", "complete", `{"k":1}`, 198.44, 1735689600},
		{"escapes", "a\"b\\c\n\r\t\b\f\x00\x1f", "<script>&amp;</script>", `"x"`, 0, 0},
		{"unicode", "héllo \u2028 \u2029 日本 😀", "\xff\xfe invalid \xc3", `null`, 1e-7, -62135596800},
		{"tiny and huge numbers", "x", "y", `[ ]`, 1e21, 253402300799},
		{"negative exponent trimmed", "x", "y", `1.5e3`, 1.234e-9, 5},
		{"negative zero", "x", "y", `true`, math.Copysign(0, -1), 5},
		{"no extras", "x", "y", ``, 12345678.9, 5},
		{"year out of range", "x", "y", ``, 1, 253402300800},
		{"infinite duration", "x", "y", ``, math.Inf(1), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertSameAsEncodingJSON(t, dataFrom(tc.s1, tc.s2, []byte(tc.raw), 200, tc.dur, tc.secs, 123456789))
		})
	}
	t.Run("nil tracks", func(t *testing.T) { assertSameAsEncodingJSON(t, DataV1{}) })
	t.Run("broken raw extra", func(t *testing.T) {
		assertSameAsEncodingJSON(t, DataV1{Extra: map[string]json.RawMessage{"k": json.RawMessage(`{`)}})
	})
}

// FuzzAppendData holds the hand-written encoder to encoding/json's bytes
// for any strings, numbers, times and raw extras.
func FuzzAppendData(f *testing.F) {
	f.Add("task", "complete", []byte(`{"a":[1,2]}`), 200, 198.44, int64(1735689600), 0)
	f.Add("\u2028<\x01", "\xff", []byte(` "s" `), 531, 1e-7, int64(-1), 999999999)
	f.Fuzz(func(t *testing.T, s1, s2 string, raw []byte, code int, dur float64, secs int64, nanos int) {
		if len(raw) > 0 && !json.Valid(raw) {
			raw = nil // the decoder only ever hands over valid JSON
		}
		assertSameAsEncodingJSON(t, dataFrom(s1, s2, raw, code, dur, secs, nanos))
	})
}
