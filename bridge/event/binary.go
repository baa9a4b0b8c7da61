package event

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	ce "github.com/cloudevents/sdk-go/v2/event"
)

// Content modes of a published event.
const (
	Structured = "structured" // the whole event as JSON in the body (default)
	Binary     = "binary"     // attributes in ce-* headers, data as the body
)

// HeaderPrefix starts every attribute header in binary mode.
const HeaderPrefix = "ce-"

// ToBinary turns a structured-mode event into binary content mode as the
// CloudEvents NATS binding (1.0.3) defines it: every attribute, extensions
// and datacontenttype included, becomes a "ce-<name>" header, and the data
// is the body. There is no Content-Type header: a receiver tells binary
// from structured by its absence. Values are sent as they are: the NATS
// binding, unlike the HTTP one, does not percent-encode, and the SDKs read
// them back verbatim. A value holding CR or LF (which would end the header)
// is refused.
func ToBinary(structured []byte) (map[string]string, []byte, error) {
	e := ce.New()
	if err := e.UnmarshalJSON(structured); err != nil {
		return nil, nil, fmt.Errorf("event: not a structured CloudEvent: %w", err)
	}
	h := map[string]string{
		HeaderPrefix + "specversion": e.SpecVersion(),
		HeaderPrefix + "id":          e.ID(),
		HeaderPrefix + "source":      e.Source(),
		HeaderPrefix + "type":        e.Type(),
	}
	optional := map[string]string{
		"subject":         e.Subject(),
		"dataschema":      e.DataSchema(),
		"datacontenttype": e.DataContentType(),
	}
	if !e.Time().IsZero() {
		optional["time"] = e.Time().UTC().Format(time.RFC3339Nano)
	}
	for name, v := range e.Extensions() {
		optional[name] = fmt.Sprint(v)
	}
	for name, v := range optional {
		if v != "" {
			h[HeaderPrefix+name] = v
		}
	}
	for k, v := range h {
		if strings.ContainsAny(v, "\r\n") {
			return nil, nil, fmt.Errorf("event: attribute %s holds a line break", strings.TrimPrefix(k, HeaderPrefix))
		}
	}
	return h, e.Data(), nil
}

// FromBinary rebuilds an event from binary-mode headers and body. Header
// names are matched case-insensitively; values are taken as they are (the
// NATS binding does not percent-encode), may be double-quoted, and must be
// UTF-8. A Content-Type header stands in for a missing ce-datacontenttype
// (older senders).
func FromBinary(header map[string][]string, data []byte) (ce.Event, error) {
	e := ce.New()
	attrs := map[string]string{}
	contentType := ""
	for k, vs := range header {
		if len(vs) == 0 {
			continue
		}
		lk := strings.ToLower(k)
		switch {
		case lk == "content-type":
			contentType = vs[0]
		case strings.HasPrefix(lk, HeaderPrefix):
			v := unquote(vs[0])
			if !utf8.ValidString(v) {
				return e, fmt.Errorf("event: header %s is not UTF-8", k)
			}
			attrs[strings.TrimPrefix(lk, HeaderPrefix)] = v
		}
	}
	if _, ok := attrs["datacontenttype"]; !ok && contentType != "" {
		attrs["datacontenttype"] = contentType
	}
	if attrs["specversion"] != "1.0" {
		return e, fmt.Errorf("event: ce-specversion %q is not 1.0", attrs["specversion"])
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := attrs[n]
		switch n {
		case "specversion":
		case "id":
			e.SetID(v)
		case "source":
			e.SetSource(v)
		case "type":
			e.SetType(v)
		case "subject":
			e.SetSubject(v)
		case "dataschema":
			e.SetDataSchema(v)
		case "datacontenttype":
			e.SetDataContentType(v)
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return e, fmt.Errorf("event: ce-time: %w", err)
			}
			e.SetTime(t)
		default:
			e.SetExtension(n, v)
		}
	}
	e.DataEncoded, e.DataBase64 = data, false
	return e, e.Validate()
}

// unquote undoes an RFC 7230 quoted-string, which older senders may use.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
