package callback

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Decode validates the whole body once with json.Valid and then walks it
// with the small splitter below, instead of calling json.Unmarshal at every
// nesting level and for every field (each call re-validates the bytes it is
// given: four passes over a track list). The splitter may therefore assume
// well-formed JSON; FuzzDecode holds it to encoding/json's reading.

// member is one key and its raw value. The key is a slice of the body (or
// its unescaped copy), so reading an object allocates one slice, not a map
// and a string per key.
type member struct{ key, val []byte }

// members are an object's members in order. Lookups are linear: objects
// here have a dozen keys at most.
type members []member

// splitObject returns the members of the object raw, or ok=false if raw is
// not an object.
func splitObject(raw []byte) (members, bool) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, false
	}
	m := make(members, 0, 16)
	i = skipWS(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return m, true
	}
	for i < len(raw) {
		kEnd := skipString(raw, i)
		key, ok := unquoteBytes(raw[i:kEnd])
		if !ok {
			return nil, false
		}
		i = skipWS(raw, kEnd) + 1 // past ':'
		i = skipWS(raw, i)
		vEnd := skipValue(raw, i)
		m = append(m, member{key, raw[i:vEnd]})
		i = skipWS(raw, vEnd)
		if i >= len(raw) || raw[i] == '}' {
			return m, true
		}
		i = skipWS(raw, i+1) // past ','
	}
	return m, true
}

// splitArray returns the elements of the array raw, or ok=false.
func splitArray(raw []byte) ([]json.RawMessage, bool) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, false
	}
	var out []json.RawMessage
	i = skipWS(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return out, true
	}
	for i < len(raw) {
		end := skipValue(raw, i)
		out = append(out, raw[i:end])
		i = skipWS(raw, end)
		if i >= len(raw) || raw[i] == ']' {
			return out, true
		}
		i = skipWS(raw, i+1)
	}
	return out, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// unquoteBytes is unquote without a copy when lit has no escapes.
func unquoteBytes(lit []byte) ([]byte, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return nil, false
	}
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	s, ok := unquote(lit)
	return []byte(s), ok
}

// unquote returns the string a JSON string literal holds; escapes are left
// to encoding/json, which is rare for callback bodies.
func unquote(lit []byte) (string, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", false
	}
	inner := lit[1 : len(lit)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			if err := json.Unmarshal(lit, &s); err != nil {
				return "", false
			}
			return s, true
		}
	}
	return string(inner), true
}

// parseInt reads a JSON number literal that must be a whole number.
func parseInt(lit []byte) (int, bool) {
	n, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil || n != int64(int(n)) {
		return 0, false
	}
	return int(n), true
}

// parseFloat reads a JSON number literal.
func parseFloat(lit []byte) (float64, bool) {
	if len(lit) == 0 || (lit[0] != '-' && (lit[0] < '0' || lit[0] > '9')) {
		return 0, false // a string, object, bool...
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	return f, err == nil
}
