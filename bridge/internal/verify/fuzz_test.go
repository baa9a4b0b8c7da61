package verify_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/verify"
)

// FuzzVerify throws arbitrary headers, task ids and bodies at the
// verification path. It must never panic, and it may accept only a request
// whose signature the fuzzer cannot forge: every accepted one must carry
// the signature computed from the formula.
func FuzzVerify(f *testing.F) {
	ts := strconv.FormatInt(now.Unix(), 10)
	f.Add(ts, providerSig("k", task, ts), task, []byte(`{}`), "msg_1", "v1,AAAA")
	f.Add("0", "", "", []byte{}, "", "")
	f.Add("99999999999999999999", "====", "a.b", []byte{0xff}, "x", "v1,"+providerSig("k", task, ts))
	f.Add("-1", "kiAGc8YfWQedFYE47vbRHWUcrfwdd5rcCQwUn5wuCr8", task, []byte(nil), "id", "v1 v1, v1,=")
	v, err := verify.New(verify.Config{
		ProviderKeys: [][]byte{[]byte("k")}, StandardSecrets: []string{"whsec_c2VjcmV0"},
		Tolerance: 5 * time.Minute, ReplayCacheSize: 64,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tsRaw, sig, taskID string, body []byte, swID, swSig string) {
		h := http.Header{}
		h.Set(verify.HeaderTimestamp, tsRaw)
		h.Set(verify.HeaderSignature, sig)
		h.Set(verify.HeaderSWID, swID)
		h.Set(verify.HeaderSWTimestamp, tsRaw)
		h.Set(verify.HeaderSWSignature, swSig)
		err := v.Verify(verify.Request{Header: h, Body: body, TaskID: taskID, Now: now})
		if err != nil {
			return
		}
		// Accepted: the provider signature must be the real one (the
		// fuzzer knows key "k" only through the seeds), or the standard one.
		// Base64 decoders skip line breaks and the padding is optional, so
		// compare the signature in that normal form.
		norm := strings.TrimRight(strings.NewReplacer("\r", "", "\n", "").Replace(strings.TrimSpace(sig)), "=")
		want := strings.TrimRight(providerSig("k", taskID, strings.TrimSpace(tsRaw)), "=")
		if norm != want && h.Get(verify.HeaderSignature) != "" && h.Get(verify.HeaderTimestamp) != "" && swSig == "" {
			t.Fatalf("accepted a forged provider signature %q for task %q ts %q", sig, taskID, tsRaw)
		}
	})
}
