package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendData writes d exactly as encoding/json does with HTML escaping
// off: same field order, escapes, number and time formats, sorted and
// compacted extras. It exists because the reflective encoder was the larger
// part of building an event; FuzzAppendData holds the two to the same bytes.
func appendData(b []byte, d *DataV1) ([]byte, error) {
	b = append(b, `{"task_id":`...)
	b = appendString(b, d.TaskID)
	b = append(b, `,"stage":`...)
	b = appendString(b, d.Stage)
	b = append(b, `,"callback_type":`...)
	b = appendString(b, d.CallbackType)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(d.Code), 10)
	b = append(b, `,"code_reason":`...)
	b = appendString(b, d.CodeReason)
	b = append(b, `,"msg":`...)
	b = appendString(b, d.Msg)
	b = append(b, `,"tracks":`...)
	if d.Tracks == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range d.Tracks {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendTrack(b, &d.Tracks[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	var err error
	if b, err = appendExtra(b, "extra", d.Extra); err != nil {
		return nil, err
	}
	if b, err = appendExtra(b, "envelope_extra", d.EnvelopeExtra); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func appendTrack(b []byte, t *TrackV1) ([]byte, error) {
	for _, f := range [...]struct {
		key string
		val *string
	}{
		{`{"id":`, &t.ID},
		{`,"audio_url":`, &t.AudioURL},
		{`,"source_audio_url":`, &t.SourceAudioURL},
		{`,"stream_audio_url":`, &t.StreamAudioURL},
		{`,"source_stream_audio_url":`, &t.SourceStreamAudioURL},
		{`,"image_url":`, &t.ImageURL},
		{`,"source_image_url":`, &t.SourceImageURL},
		{`,"prompt":`, &t.Prompt},
		{`,"model_name":`, &t.ModelName},
		{`,"title":`, &t.Title},
		{`,"tags":`, &t.Tags},
	} {
		b = appendString(append(b, f.key...), *f.val)
	}
	b = append(b, `,"create_time":`...)
	if t.CreateTime == nil {
		b = append(b, "null"...)
	} else {
		if y := t.CreateTime.Year(); y < 0 || y > 9999 {
			return nil, errors.New("event: create_time year outside of [0,9999]")
		}
		b = append(b, '"')
		b = t.CreateTime.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"create_time_raw":`...)
	b = appendString(b, t.CreateTimeRaw)
	b = append(b, `,"duration":`...)
	if t.Duration == nil {
		b = append(b, "null"...)
	} else {
		var err error
		if b, err = appendFloat(b, *t.Duration); err != nil {
			return nil, err
		}
	}
	b, err := appendExtra(b, "extra", t.Extra)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendExtra writes ,"name":{...} with keys sorted and values compacted,
// or nothing for an empty map (omitempty).
func appendExtra(b []byte, name string, m map[string]json.RawMessage) ([]byte, error) {
	if len(m) == 0 {
		return b, nil
	}
	b = append(append(append(b, `,"`...), name...), `":{`...)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, k), ':')
		v := m[k]
		if v == nil {
			b = append(b, "null"...)
			continue
		}
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, v); err != nil {
			return nil, errors.New("event: extra value for " + strconv.Quote(k) + " is not JSON")
		}
		b = buf.Bytes()
	}
	return append(b, '}'), nil
}

// appendFloat formats f as encoding/json does: shortest representation,
// exponent form only below 1e-6 or from 1e21, and a two-digit exponent
// trimmed to one ("1e-07" is written "1e-7").
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errors.New("event: duration is not a finite number")
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b) - start; n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does
// without HTML escaping: control characters, quote and backslash escaped,
// invalid UTF-8 replaced by \ufffd, U+2028 and U+2029 escaped for
// JavaScript's sake.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
