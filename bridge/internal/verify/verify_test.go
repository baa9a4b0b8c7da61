package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/verify"
)

const task = "2fac4d1b9e0a4c8fb1d2e3f4a5b69f72"

var now = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z

// providerSig computes the documented formula directly, independently of
// the package: base64(HMAC-SHA256(key, task_id + "." + timestamp)).
func providerSig(key, taskID, ts string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(taskID + "." + ts))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func newVerifier(t *testing.T, cfg verify.Config) *verify.Verifier {
	t.Helper()
	if cfg.Tolerance == 0 {
		cfg.Tolerance = 5 * time.Minute
	}
	v, err := verify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkReason(t *testing.T, err error, want verify.Reason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var vErr *verify.Error
	if !errors.As(err, &vErr) || !errors.Is(err, verify.ErrUnauthorized) {
		t.Fatalf("want refusal %s, got %v", want, err)
	}
	if vErr.Reason != want {
		t.Fatalf("reason %s, want %s (%v)", vErr.Reason, want, err)
	}
}

// A vector computed outside Go (openssl dgst -sha256 -hmac test-key over
// "<task>.1767225600", base64) pins the formula itself.
func TestProviderSignatureFixedVector(t *testing.T) {
	v := newVerifier(t, verify.Config{ProviderKeys: [][]byte{[]byte("test-key")}})
	err := v.Verify(verify.Request{
		Header: headers(verify.HeaderTimestamp, "1767225600", verify.HeaderSignature, "kiAGc8YfWQedFYE47vbRHWUcrfwdd5rcCQwUn5wuCr8="),
		TaskID: task, Body: []byte(`{}`), Now: now,
	})
	checkReason(t, err, "")
}

func TestProviderSignature(t *testing.T) {
	ts := strconv.FormatInt(now.Unix(), 10)
	good := providerSig("key-2", task, ts)
	tests := map[string]struct {
		header http.Header
		taskID string
		now    time.Time
		reason verify.Reason
	}{
		"valid":                  {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, good), task, now, ""},
		"valid, unpadded base64": {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, good[:len(good)-1]), task, now, ""},
		"rotated old key":        {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, providerSig("key-1", task, ts)), task, now, ""},
		"unknown key":            {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, providerSig("key-3", task, ts)), task, now, verify.ReasonSignature},
		"other task's signature": {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, providerSig("key-2", "othertask", ts)), task, now, verify.ReasonSignature},
		"signed other timestamp": {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, providerSig("key-2", task, "1767225601")), task, now, verify.ReasonSignature},
		"no headers":             {http.Header{}, task, now, verify.ReasonSignature},
		"no timestamp":           {headers(verify.HeaderSignature, good), task, now, verify.ReasonSignature},
		"no signature":           {headers(verify.HeaderTimestamp, ts), task, now, verify.ReasonSignature},
		"signature not base64":   {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, "!!!"), task, now, verify.ReasonSignature},
		"signature too short":    {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, "AAAA"), task, now, verify.ReasonSignature},
		"hex instead of base64":  {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, "9a0b"), task, now, verify.ReasonSignature},
		"timestamp in ms":        {headers(verify.HeaderTimestamp, ts+"000", verify.HeaderSignature, providerSig("key-2", task, ts+"000")), task, now, verify.ReasonStale},
		"timestamp garbage":      {headers(verify.HeaderTimestamp, "yesterday", verify.HeaderSignature, good), task, now, verify.ReasonSignature},
		"6 minutes old":          {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, good), task, now.Add(6 * time.Minute), verify.ReasonStale},
		"6 minutes ahead":        {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, good), task, now.Add(-6 * time.Minute), verify.ReasonStale},
		"4 minutes old":          {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, good), task, now.Add(4 * time.Minute), ""},
		"4 minutes ahead":        {headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, good), task, now.Add(-4 * time.Minute), ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := newVerifier(t, verify.Config{ProviderKeys: [][]byte{[]byte("key-1"), []byte("key-2")}})
			err := v.Verify(verify.Request{Header: tc.header, TaskID: tc.taskID, Body: []byte(`{}`), Now: tc.now})
			checkReason(t, err, tc.reason)
		})
	}
}

// The provider's signature does not cover the body: a captured request
// replayed with another body inside the tolerance must be refused, while a
// plain retry of the same request passes.
func TestReplayWithChangedBody(t *testing.T) {
	v := newVerifier(t, verify.Config{ProviderKeys: [][]byte{[]byte("k")}})
	ts := strconv.FormatInt(now.Unix(), 10)
	h := headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, providerSig("k", task, ts))
	req := func(body string, at time.Time) error {
		return v.Verify(verify.Request{Header: h, TaskID: task, Body: []byte(body), Now: at})
	}
	checkReason(t, req(`{"code":200,"callbackType":"text"}`, now), "")
	checkReason(t, req(`{"code":200,"callbackType":"text"}`, now.Add(time.Second)), "")
	checkReason(t, req(`{"code":200,"callbackType":"complete"}`, now.Add(2*time.Second)), verify.ReasonReplay)
	checkReason(t, req(`{"code":200,"callbackType":"complete"}`, now.Add(6*time.Minute)), verify.ReasonStale)
}

// Nor does it cover the route: a request accepted on one family's route
// is refused on another's, byte for byte the same; a retry on its own
// route passes.
func TestReplayOnAnotherRoute(t *testing.T) {
	v := newVerifier(t, verify.Config{ProviderKeys: [][]byte{[]byte("k")}})
	ts := strconv.FormatInt(now.Unix(), 10)
	h := headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, providerSig("k", task, ts))
	req := func(route string) error {
		return v.Verify(verify.Request{Header: h, TaskID: task, Body: []byte(`{"code":200}`), Route: route, Now: now})
	}
	checkReason(t, req("vocals"), "")
	checkReason(t, req("wav"), verify.ReasonReplay)
	checkReason(t, req("lyrics"), verify.ReasonReplay)
	checkReason(t, req("vocals"), "")
}

// The check and the replay cache follow one rule: a signature is accepted
// while now is within the tolerance of its timestamp, and remembered for as
// long. Before, the check accepted until ts+301 s in whole seconds while
// the cache forgot at ts+300 s, and a forged body got through at ts+300.2 s.
func TestReplayAtTheEdgesOfTheTolerance(t *testing.T) {
	const tol = 5 * time.Minute
	ts := strconv.FormatInt(now.Unix(), 10)
	h := headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, providerSig("k", task, ts))
	tests := map[string]struct {
		first, second time.Time // when the genuine body, then a forged one, arrive
		reason        verify.Reason
	}{
		"forged at ts+tolerance":      {now, now.Add(tol), verify.ReasonReplay},
		"forged at ts+tolerance+1ns":  {now, now.Add(tol + time.Nanosecond), verify.ReasonStale},
		"forged at ts+tolerance+0.2s": {now, now.Add(tol + 200*time.Millisecond), verify.ReasonStale},
		"forged at ts+tolerance-1ns":  {now, now.Add(tol - time.Nanosecond), verify.ReasonReplay},
		"genuine at ts-tolerance":     {now.Add(-tol), now.Add(tol), verify.ReasonReplay},
		"genuine at ts-tolerance-1ns": {now.Add(-tol - time.Nanosecond), now, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := newVerifier(t, verify.Config{ProviderKeys: [][]byte{[]byte("k")}, Tolerance: tol})
			genuine := v.Verify(verify.Request{Header: h, TaskID: task, Body: []byte(`{"genuine":1}`), Now: tc.first})
			wantFirst := verify.Reason("")
			if tc.first.Before(now.Add(-tol)) {
				wantFirst = verify.ReasonStale
			}
			checkReason(t, genuine, wantFirst)
			forged := v.Verify(verify.Request{Header: h, TaskID: task, Body: []byte(`{"forged":1}`), Now: tc.second})
			checkReason(t, forged, tc.reason)
		})
	}
}

func standardSig(secret []byte, id, ts string, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(id + "." + ts + "."))
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestStandardWebhooks(t *testing.T) {
	secret := []byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	whsec := "whsec_" + base64.StdEncoding.EncodeToString(secret)
	body := []byte(`{"a":1}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	// Computed with openssl dgst -sha256 -hmac <secret> over
	// 'msg_p5jXN8AQM9LWM0D4loKWxJek.1767225600.{"a":1}'.
	fixed := "v1,1l1UCHY/1oGgy/HknMb0BTRHzALlv88jKLHJgLmSv5U="
	tests := map[string]struct {
		id, sig string
		body    []byte
		reason  verify.Reason
	}{
		"fixed vector":         {"msg_p5jXN8AQM9LWM0D4loKWxJek", fixed, body, ""},
		"computed":             {"msg_1", standardSig(secret, "msg_1", ts, body), body, ""},
		"one of several":       {"msg_1", "v1,AAAA " + standardSig(secret, "msg_1", ts, body), body, ""},
		"body changed":         {"msg_1", standardSig(secret, "msg_1", ts, body), []byte(`{"a":2}`), verify.ReasonSignature},
		"id changed":           {"msg_2", standardSig(secret, "msg_1", ts, body), body, verify.ReasonSignature},
		"wrong version":        {"msg_1", "v2" + standardSig(secret, "msg_1", ts, body)[2:], body, verify.ReasonSignature},
		"other secret":         {"msg_1", standardSig([]byte("other"), "msg_1", ts, body), body, verify.ReasonSignature},
		"signature not base64": {"msg_1", "v1,***", body, verify.ReasonSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := newVerifier(t, verify.Config{StandardSecrets: []string{whsec}})
			err := v.Verify(verify.Request{
				Header: headers(verify.HeaderSWID, tc.id, verify.HeaderSWTimestamp, ts, verify.HeaderSWSignature, tc.sig),
				Body:   tc.body, TaskID: task, Now: now,
			})
			checkReason(t, err, tc.reason)
		})
	}
}

func TestToken(t *testing.T) {
	v := newVerifier(t, verify.Config{Token: "s3cr3t-token"})
	for token, reason := range map[string]verify.Reason{
		"s3cr3t-token":  "",
		"":              verify.ReasonToken,
		"s3cr3t":        verify.ReasonToken,
		"s3cr3t-token ": verify.ReasonToken,
		"S3CR3T-TOKEN":  verify.ReasonToken,
	} {
		checkReason(t, v.Verify(verify.Request{Header: http.Header{}, Token: token, Now: now}), reason)
	}
}

// Token and signature together: both must hold.
func TestTokenAndSignature(t *testing.T) {
	v := newVerifier(t, verify.Config{Token: "tok", ProviderKeys: [][]byte{[]byte("k")}})
	ts := strconv.FormatInt(now.Unix(), 10)
	h := headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, providerSig("k", task, ts))
	checkReason(t, v.Verify(verify.Request{Header: h, TaskID: task, Token: "tok", Now: now}), "")
	checkReason(t, v.Verify(verify.Request{Header: h, TaskID: task, Token: "bad", Now: now}), verify.ReasonToken)
	checkReason(t, v.Verify(verify.Request{Header: http.Header{}, TaskID: task, Token: "tok", Now: now}), verify.ReasonSignature)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]verify.Config{
		"standard secret not base64": {StandardSecrets: []string{"whsec_***"}, Tolerance: time.Minute},
		"empty provider key":         {ProviderKeys: [][]byte{{}}, Tolerance: time.Minute},
		"no tolerance":               {ProviderKeys: [][]byte{[]byte("k")}},
	} {
		if _, err := verify.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	v, err := verify.New(verify.Config{})
	if err != nil || v.Enabled() {
		t.Errorf("empty config: %v enabled=%v", err, v.Enabled())
	}
}

// One signature written two ways (with and without padding) is still one
// signature: the second spelling with another body is a replay.
func TestReplayCannotHideBehindEncoding(t *testing.T) {
	v := newVerifier(t, verify.Config{ProviderKeys: [][]byte{[]byte("k")}})
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := providerSig("k", task, ts)
	first := headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, sig)
	second := headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, sig[:len(sig)-1])
	checkReason(t, v.Verify(verify.Request{Header: first, TaskID: task, Body: []byte("a"), Now: now}), "")
	checkReason(t, v.Verify(verify.Request{Header: second, TaskID: task, Body: []byte("b"), Now: now}), verify.ReasonReplay)
}

// A redrive checks the signature with today's keys but not its age, does
// not ask for the URL token (never kept), and is not a replay of itself.
func TestRedrive(t *testing.T) {
	v := newVerifier(t, verify.Config{Token: "tok", ProviderKeys: [][]byte{[]byte("k")}})
	old := strconv.FormatInt(now.Add(-30*24*time.Hour).Unix(), 10)
	good := headers(verify.HeaderTimestamp, old, verify.HeaderSignature, providerSig("k", task, old))
	tests := map[string]struct {
		req  verify.Request
		want verify.Reason
	}{
		"old and signed":         {verify.Request{Header: good, TaskID: task, Redrive: true}, ""},
		"again":                  {verify.Request{Header: good, TaskID: task, Redrive: true}, ""},
		"other key":              {verify.Request{Header: headers(verify.HeaderTimestamp, old, verify.HeaderSignature, providerSig("x", task, old)), TaskID: task, Redrive: true}, verify.ReasonSignature},
		"other task":             {verify.Request{Header: good, TaskID: "other", Redrive: true}, verify.ReasonSignature},
		"no signature kept":      {verify.Request{Header: http.Header{}, TaskID: task, Redrive: true}, verify.ReasonSignature},
		"not a redrive: stale":   {verify.Request{Header: good, TaskID: task, Token: "tok"}, verify.ReasonStale},
		"not a redrive: a token": {verify.Request{Header: good, TaskID: task}, verify.ReasonToken},
	}
	for _, name := range []string{"old and signed", "again", "other key", "other task", "no signature kept", "not a redrive: stale", "not a redrive: a token"} {
		tc := tests[name]
		tc.req.Now = now
		t.Run(name, func(t *testing.T) { checkReason(t, v.Verify(tc.req), tc.want) })
	}
}
