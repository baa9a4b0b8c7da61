// Package redact keeps credentials that travel inside URLs out of logs and
// errors: a NATS user and password or token (nats://user:pass@host), and a
// callback token in a query (?token=...).
package redact

import "strings"

// URL returns s with its userinfo and its query replaced by "***". It
// works on text, not a parsed URL, so that a URL too broken to parse (the
// subject of a configuration error) is redacted too; an "@" in a path is
// taken for the end of userinfo, which hides more than needed, never less.
func URL(s string) string {
	start := 0
	if i := strings.Index(s, "//"); i >= 0 {
		start = i + 2
	}
	end := len(s)
	if i := strings.IndexAny(s[start:], "?#"); i >= 0 {
		end = start + i
	}
	if at := strings.LastIndex(s[start:end], "@"); at >= 0 {
		s = s[:start] + "***" + s[start+at:]
	}
	if q := strings.IndexByte(s, '?'); q >= 0 {
		s = s[:q+1] + "***"
	}
	return s
}

// URLs redacts each of a list of URLs and joins them with commas.
func URLs(list []string) string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = URL(s)
	}
	return strings.Join(out, ",")
}
