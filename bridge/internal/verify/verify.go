// Package verify decides whether a callback comes from the provider: its
// HMAC signature (the provider's scheme or Standard Webhooks), a secret
// token in the URL, and replay protection. Each check is independent and
// configured on its own; a Verifier runs the configured ones.
package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the provider's signature scheme.
const (
	HeaderTimestamp = "X-Webhook-Timestamp"
	HeaderSignature = "X-Webhook-Signature"
)

// Header names of Standard Webhooks (standardwebhooks.com).
const (
	HeaderSWID        = "Webhook-Id"
	HeaderSWTimestamp = "Webhook-Timestamp"
	HeaderSWSignature = "Webhook-Signature"
)

// Reason names why a request was refused. The set is fixed: it is a metric
// label.
type Reason string

// Refusal reasons.
const (
	ReasonSignature Reason = "signature" // missing, malformed or wrong
	ReasonStale     Reason = "stale"     // timestamp outside the tolerance
	ReasonReplay    Reason = "replay"    // a used signature with another body or route
	ReasonToken     Reason = "token"     // missing or wrong URL token
)

// ErrUnauthorized is wrapped by every refusal.
var ErrUnauthorized = errors.New("unauthorized")

// Error is a refusal.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Reason, e.Detail) }

// Unwrap makes errors.Is(err, ErrUnauthorized) true.
func (e *Error) Unwrap() error { return ErrUnauthorized }

func refuse(r Reason, format string, a ...any) error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, a...)}
}

// Config selects the checks. Zero values turn a check off.
type Config struct {
	// ProviderKeys are the provider's HMAC keys; any of them may sign
	// (several during a rotation).
	ProviderKeys [][]byte
	// StandardSecrets are Standard Webhooks secrets ("whsec_<base64>").
	StandardSecrets []string
	// Token is a secret expected in the URL path or the token query parameter.
	Token string
	// Tolerance bounds |now - timestamp| for signed requests.
	Tolerance time.Duration
	// ReplayCacheSize bounds how many used signatures are remembered.
	ReplayCacheSize int
}

// Request is what the checks look at.
type Request struct {
	// Header has canonical keys, as net/http delivers them and Header.Set
	// stores them.
	Header http.Header
	Body   []byte
	// BodySum is the SHA-256 of Body, for a caller that has it already;
	// when zero, Verify computes it.
	BodySum [sha256.Size]byte
	TaskID  string // data.task_id of the decoded body
	Token   string // from the URL; "" when none was given
	// Route is the callback route (the family) the request came to. The
	// provider's signature does not cover it, so a signature is good only
	// for the route it was first accepted on.
	Route string
	Now   time.Time
	// Redrive is a dead letter run again by an operator: its signature
	// must match today's keys, but its timestamp may be old, the URL token
	// is not kept (it passed, or the request was never read), and the
	// replay cache is not consulted (the stream keeps one event per stage).
	Redrive bool
}

// SignatureHeaders is the part of h a signature check reads, kept with a
// dead letter so that it can be verified again.
func SignatureHeaders(h http.Header) http.Header {
	out := http.Header{}
	for _, k := range []string{HeaderTimestamp, HeaderSignature, HeaderSWID, HeaderSWTimestamp, HeaderSWSignature} {
		if v := h.Values(k); len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

// Verifier runs the configured checks. It is safe for concurrent use.
type Verifier struct {
	cfg     Config
	secrets [][]byte // decoded StandardSecrets
	replays *replayCache
}

// New checks cfg and returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{cfg: cfg}
	for i, s := range cfg.StandardSecrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || len(key) == 0 {
			return nil, fmt.Errorf("verify: standard webhooks secret %d is not whsec_<base64>", i+1)
		}
		v.secrets = append(v.secrets, key)
	}
	for i, k := range cfg.ProviderKeys {
		if len(k) == 0 {
			return nil, fmt.Errorf("verify: provider key %d is empty", i+1)
		}
	}
	if v.Signed() {
		if cfg.Tolerance <= 0 {
			return nil, errors.New("verify: a signature tolerance is required")
		}
		size := cfg.ReplayCacheSize
		if size <= 0 {
			size = 100_000
		}
		v.replays = newReplayCache(size)
	}
	return v, nil
}

// Signed reports whether requests must carry a signature.
func (v *Verifier) Signed() bool { return len(v.cfg.ProviderKeys) > 0 || len(v.secrets) > 0 }

// Enabled reports whether any check is configured.
func (v *Verifier) Enabled() bool { return v.Signed() || v.cfg.Token != "" }

// TokenRequired reports whether the URL token is checked.
func (v *Verifier) TokenRequired() bool { return v.cfg.Token != "" }

// CheckEarly runs what needs no body: the URL token, and that a signature
// is present at all. Refusing here spares decoding unauthenticated bodies.
func (v *Verifier) CheckEarly(r Request) error {
	if v.cfg.Token != "" && !r.Redrive {
		// Hash both sides so the comparison time does not reveal the length.
		want, got := sha256.Sum256([]byte(v.cfg.Token)), sha256.Sum256([]byte(r.Token))
		if r.Token == "" || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
			return refuse(ReasonToken, "missing or wrong callback token")
		}
	}
	if v.Signed() && !v.hasProviderHeaders(r.Header) && !v.hasStandardHeaders(r.Header) {
		return refuse(ReasonSignature, "no signature headers")
	}
	return nil
}

func (v *Verifier) hasProviderHeaders(h http.Header) bool {
	return len(v.cfg.ProviderKeys) > 0 && h.Get(HeaderSignature) != "" && h.Get(HeaderTimestamp) != ""
}

func (v *Verifier) hasStandardHeaders(h http.Header) bool {
	return len(v.secrets) > 0 && h.Get(HeaderSWSignature) != "" && h.Get(HeaderSWTimestamp) != "" && h.Get(HeaderSWID) != ""
}

// Verify runs every configured check on a decoded request. On success it
// returns nil; the request's signature is then remembered, so the same
// signature with another body is refused as a replay until it goes stale.
func (v *Verifier) Verify(r Request) error {
	if err := v.CheckEarly(r); err != nil {
		return err
	}
	if !v.Signed() {
		return nil
	}
	var (
		sig replayKey
		ts  time.Time
		err error
	)
	switch {
	case v.hasProviderHeaders(r.Header):
		sig, ts, err = v.verifyProvider(r)
	default:
		sig, ts, err = v.verifyStandard(r)
	}
	if err != nil {
		return err
	}
	if r.Redrive {
		return nil
	}
	if r.BodySum == ([sha256.Size]byte{}) {
		r.BodySum = sha256.Sum256(r.Body)
	}
	if !v.replays.use(sig, ts.Add(v.cfg.Tolerance), bound(r.Route, r.BodySum), r.Now) {
		return refuse(ReasonReplay, "signature already used with a different body or on another route")
	}
	return nil
}

// bound is what a remembered signature may be used with again: the same
// body on the same route (a plain retry of the provider's).
func bound(route string, body [sha256.Size]byte) [sha256.Size]byte {
	if route == "" {
		return body
	}
	h := sha256.New()
	h.Write([]byte(route))
	h.Write([]byte{0})
	h.Write(body[:])
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// timestamp parses Unix seconds and checks the tolerance both ways, to the
// nanosecond: a request is fresh while ts-tolerance <= now <= ts+tolerance.
// The replay cache remembers a signature until ts+tolerance (see use), so a
// signature is remembered for exactly as long as this check accepts it.
func (v *Verifier) timestamp(raw string, now time.Time, redrive bool) (time.Time, error) {
	secs, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, refuse(ReasonSignature, "timestamp is not Unix seconds")
	}
	ts := time.Unix(secs, 0)
	if redrive {
		return ts, nil
	}
	// Whole seconds first, with a second to spare: time.Duration overflows
	// for absurd timestamps.
	tolSecs := int64(v.cfg.Tolerance / time.Second)
	if diff := now.Unix() - secs; diff > tolSecs+1 || -diff > tolSecs+1 || !fresh(ts, now, v.cfg.Tolerance) {
		return ts, refuse(ReasonStale, "timestamp is %ds away from now, beyond the %s tolerance", now.Unix()-secs, v.cfg.Tolerance)
	}
	return ts, nil
}

// fresh is the one freshness rule: now within tolerance of ts, either way.
func fresh(ts, now time.Time, tolerance time.Duration) bool {
	return !now.Before(ts.Add(-tolerance)) && !now.After(ts.Add(tolerance))
}

// verifyProvider checks X-Webhook-Signature = base64(HMAC-SHA256(key,
// task_id + "." + timestamp)) against every configured key. The provider
// does not sign the body.
func (v *Verifier) verifyProvider(r Request) (replayKey, time.Time, error) {
	rawTS := r.Header.Get(HeaderTimestamp)
	ts, err := v.timestamp(rawTS, r.Now, r.Redrive)
	if err != nil {
		return replayKey{}, ts, err
	}
	sigRaw := strings.TrimSpace(r.Header.Get(HeaderSignature))
	got, err := decodeBase64(sigRaw)
	if err != nil || len(got) != sha256.Size {
		return replayKey{}, ts, refuse(ReasonSignature, "signature is not base64 of 32 bytes")
	}
	msg := []byte(r.TaskID + "." + strings.TrimSpace(rawTS))
	for _, key := range v.cfg.ProviderKeys {
		if hmac.Equal(got, mac(key, msg)) {
			// The decoded bytes are the replay key: padding or line breaks
			// in the header must not make one signature look like two.
			return replayKey(got), ts, nil
		}
	}
	return replayKey{}, ts, refuse(ReasonSignature, "signature does not match")
}

// verifyStandard checks a Standard Webhooks signature: any "v1,<base64>"
// entry equal to HMAC-SHA256(secret, id + "." + timestamp + "." + body).
func (v *Verifier) verifyStandard(r Request) (replayKey, time.Time, error) {
	rawTS := r.Header.Get(HeaderSWTimestamp)
	ts, err := v.timestamp(rawTS, r.Now, r.Redrive)
	if err != nil {
		return replayKey{}, ts, err
	}
	id := r.Header.Get(HeaderSWID)
	msg := make([]byte, 0, len(id)+len(rawTS)+len(r.Body)+2)
	msg = append(append(append(append(append(msg, id...), '.'), strings.TrimSpace(rawTS)...), '.'), r.Body...)
	for _, entry := range strings.Fields(r.Header.Get(HeaderSWSignature)) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := decodeBase64(sig)
		if err != nil {
			continue
		}
		for _, secret := range v.secrets {
			if hmac.Equal(got, mac(secret, msg)) {
				return sha256.Sum256([]byte("s:" + id + ":" + string(got))), ts, nil
			}
		}
	}
	return replayKey{}, ts, refuse(ReasonSignature, "no v1 signature matches")
}

func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
