package callback

import "encoding/json"

// Decode reads a body in one pass: the scanner below validates it as
// strictly as json.Valid and, on the way, notes the raw values of the
// members the decoder models. The earlier design (json.Valid, then
// splitting each nesting level again) read every byte four or five times
// and was a tenth of the bridge's CPU. FuzzValid holds the scanner to
// json.Valid and FuzzDecode the whole decoder to encoding/json's reading.

// maxDepth is encoding/json's nesting limit; deeper bodies are malformed.
const maxDepth = 10000

// scanner walks src from i. Every method returns false on a syntax error.
type scanner struct {
	src   string
	i     int
	depth int
}

// member is a key that is not modelled, and its raw value.
type member struct{ key, val string }

// raw values of the modelled members. A value is "" when absent or null:
// a later duplicate replaces an earlier one, as in encoding/json, and a
// null counts as absent.
type (
	rawCallback struct {
		isObject        bool
		code, msg, data string
		extra           []member
		body            rawData // data's members, when data is an object
	}
	rawData struct {
		isObject             bool
		taskID, callbackType string
		tracks               string // data.data
		items                []rawTrack
		extra                []member
	}
	rawTrack struct {
		isObject bool
		fields   [len(trackKeys)]string
		duration string
		extra    []member
	}
)

// trackKeys are the string members of a track, in Track's order.
var trackKeys = [...]string{"id", "audio_url", "source_audio_url", "stream_audio_url", "source_stream_audio_url",
	"image_url", "source_image_url", "prompt", "model_name", "title", "tags", "createTime"}

// scanCallback scans a whole body; false means it is not JSON.
func scanCallback(src string) (rawCallback, bool) {
	var r rawCallback
	p := scanner{src: src}
	p.ws()
	if p.peek() == '{' {
		r.isObject = true
		if !p.object(func(key string) bool { return p.topMember(&r, key) }) {
			return r, false
		}
	} else if !p.value() {
		return r, false
	}
	p.ws()
	return r, p.i == len(src)
}

func (p *scanner) topMember(r *rawCallback, key string) bool {
	switch key {
	case "code":
		return p.capture(&r.code)
	case "msg":
		return p.capture(&r.msg)
	case "data":
		r.body = rawData{}
		return p.captureWith(&r.data, '{', func() bool {
			r.body.isObject = true
			return p.object(func(key string) bool { return p.dataMember(&r.body, key) })
		})
	}
	return p.extra(&r.extra, key)
}

func (p *scanner) dataMember(d *rawData, key string) bool {
	switch key {
	case "task_id":
		return p.capture(&d.taskID)
	case "callbackType":
		return p.capture(&d.callbackType)
	case "data":
		d.items = d.items[:0]
		return p.captureWith(&d.tracks, '[', func() bool {
			return p.array(func() bool { return p.track(d) })
		})
	}
	return p.extra(&d.extra, key)
}

func (p *scanner) track(d *rawData) bool {
	d.items = append(d.items, rawTrack{})
	t := &d.items[len(d.items)-1]
	if p.peek() != '{' {
		return p.value()
	}
	t.isObject = true
	return p.object(func(key string) bool {
		for i, k := range trackKeys {
			if key == k {
				return p.capture(&t.fields[i])
			}
		}
		if key == "duration" {
			return p.capture(&t.duration)
		}
		return p.extra(&t.extra, key)
	})
}

// capture scans a value into *dst ("" for null).
func (p *scanner) capture(dst *string) bool {
	return p.captureWith(dst, 0, nil)
}

// captureWith is capture for a member whose own members matter: a value
// that opens with open is scanned by descend, which notes them.
func (p *scanner) captureWith(dst *string, open byte, descend func() bool) bool {
	start := p.i
	var ok bool
	if descend != nil && p.peek() == open {
		ok = descend()
	} else {
		ok = p.value()
	}
	if !ok {
		return false
	}
	*dst = nonNull(p.src[start:p.i])
	return true
}

// extra keeps an unmodelled member; a later duplicate wins when the list
// becomes a map.
func (p *scanner) extra(list *[]member, key string) bool {
	start := p.i
	if !p.value() {
		return false
	}
	*list = append(*list, member{key, p.src[start:p.i]})
	return true
}

func nonNull(raw string) string {
	if raw == "null" {
		return ""
	}
	return raw
}

func (p *scanner) peek() byte {
	if p.i < len(p.src) {
		return p.src[p.i]
	}
	return 0
}

func (p *scanner) ws() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value scans any value starting at p.i (no leading whitespace).
func (p *scanner) value() bool {
	switch c := p.peek(); {
	case c == '{':
		return p.object(func(string) bool { return p.value() })
	case c == '[':
		return p.array(p.value)
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return false
}

// object scans the object at p.i, calling member with each key (unescaped)
// positioned at its value, which member must scan.
func (p *scanner) object(member func(key string) bool) bool {
	return p.container('}', func() bool {
		lit, ok := p.str()
		if !ok {
			return false
		}
		key, ok := unquote(lit)
		if !ok {
			return false
		}
		p.ws()
		if p.peek() != ':' {
			return false
		}
		p.i++
		p.ws()
		return member(key)
	})
}

// array scans the array at p.i, calling elem positioned at each element.
func (p *scanner) array(elem func() bool) bool { return p.container(']', elem) }

// container scans what opens at p.i up to closing: items separated by
// commas, each scanned by item.
func (p *scanner) container(closing byte, item func() bool) bool {
	if p.depth++; p.depth > maxDepth {
		return false
	}
	p.i++ // '{' or '['
	p.ws()
	if p.peek() == closing {
		p.i++
		p.depth--
		return true
	}
	for {
		if !item() {
			return false
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			p.ws()
		case closing:
			p.i++
			p.depth--
			return true
		default:
			return false
		}
	}
}

// str scans a string literal and returns it with its quotes. Like
// json.Valid it refuses control characters and unknown escapes, and leaves
// UTF-8 to the caller.
func (p *scanner) str() (string, bool) {
	if p.peek() != '"' {
		return "", false
	}
	start := p.i
	for p.i++; p.i < len(p.src); p.i++ {
		switch c := p.src[p.i]; {
		case c == '"':
			p.i++
			return p.src[start:p.i], true
		case c < 0x20:
			return "", false
		case c == '\\':
			p.i++
			if p.i >= len(p.src) {
				return "", false
			}
			switch p.src[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if p.i+4 >= len(p.src) {
					return "", false
				}
				for _, h := range []byte(p.src[p.i+1 : p.i+5]) {
					if !isHex(h) {
						return "", false
					}
				}
				p.i += 4
			default:
				return "", false
			}
		}
	}
	return "", false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *scanner) number() bool {
	if p.peek() == '-' {
		p.i++
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return false
	}
	if p.peek() == '.' {
		p.i++
		if !p.digits() {
			return false
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// digits scans one or more digits.
func (p *scanner) digits() bool {
	start := p.i
	for p.i < len(p.src) && '0' <= p.src[p.i] && p.src[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

func (p *scanner) literal(word string) bool {
	if len(p.src)-p.i < len(word) || p.src[p.i:p.i+len(word)] != word {
		return false
	}
	p.i += len(word)
	return true
}

// unquote returns the string a JSON string literal holds. Without escapes
// it is a slice of the literal; escapes are left to encoding/json, which is
// rare for callback bodies.
func unquote(lit string) (string, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", false
	}
	inner := lit[1 : len(lit)-1]
	for i := 0; i < len(inner); i++ {
		if inner[i] == '\\' {
			var s string
			if err := json.Unmarshal([]byte(lit), &s); err != nil {
				return "", false
			}
			return s, true
		}
	}
	return inner, true
}
