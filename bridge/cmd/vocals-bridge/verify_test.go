package main_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sign computes the provider's documented signature independently:
// base64(HMAC-SHA256(key, task_id + "." + timestamp)).
func sign(key, taskID string, ts int64) (string, string) {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(taskID + "." + strconv.FormatInt(ts, 10)))
	return strconv.FormatInt(ts, 10), base64.StdEncoding.EncodeToString(h.Sum(nil))
}

type reply struct {
	status int
	header http.Header
	a      answer
}

func postWith(t *testing.T, url string, body []byte, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &r.a)
	return r
}

func signedCallback(task, cbType string) []byte {
	return []byte(`{"code":200,"msg":"ok","data":{"callbackType":"` + cbType + `","task_id":"` + task + `","data":[]}}`)
}

// The provider's HMAC end to end, through the real binary: every way a
// signature can be wrong is a 401 that publishes nothing.
func TestBinaryProviderSignature(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=old-key,new-key")
	url := p.public + "/callbacks/vocals"
	now := time.Now().Unix()
	hdr := func(ts, sig string) map[string]string {
		return map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig}
	}
	ts, good := sign("new-key", "sig1", now)
	tsOld, oldKey := sign("old-key", "sig2", now)
	_, wrongKey := sign("another-key", "sig3", now)
	_, otherTask := sign("new-key", "victim", now)
	tsStale, stale := sign("new-key", "sig4", now-6*60)
	tsFuture, future := sign("new-key", "sig5", now+6*60)

	tests := []struct {
		name   string
		task   string
		header map[string]string
		status int
		reason string
	}{
		{"unsigned", "sig0", nil, 401, "signature"},
		{"valid", "sig1", hdr(ts, good), 200, ""},
		{"rotated: old key still accepted", "sig2", hdr(tsOld, oldKey), 200, ""},
		{"wrong key", "sig3", hdr(ts, wrongKey), 401, "signature"},
		{"another task's signature", "sig3", hdr(ts, otherTask), 401, "signature"},
		{"stale timestamp", "sig4", hdr(tsStale, stale), 401, "stale"},
		{"future timestamp", "sig5", hdr(tsFuture, future), 401, "stale"},
		{"malformed signature", "sig6", hdr(ts, "not base64!"), 401, "signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := postWith(t, url, signedCallback(tc.task, "complete"), tc.header)
			if r.status != tc.status || r.a.Reason != tc.reason {
				t.Fatalf("got %d %q, want %d %q", r.status, r.a.Reason, tc.status, tc.reason)
			}
		})
	}

	// Replay: the captured signature of sig1 with another body is refused;
	// the identical request again (a retry) is fine.
	r := postWith(t, url, []byte(`{"code":531,"msg":"forged","data":{"callbackType":"error","task_id":"sig1","data":null}}`), hdr(ts, good))
	if r.status != 401 || r.a.Reason != "replay" {
		t.Fatalf("replay with a changed body: %d %q", r.status, r.a.Reason)
	}
	if r := postWith(t, url, signedCallback("sig1", "complete"), hdr(ts, good)); r.status != 200 || !r.a.Duplicate {
		t.Fatalf("identical retry: %d %+v", r.status, r.a)
	}

	// The signature covers neither the route nor the body: the accepted
	// add-vocals request, replayed byte for byte to another family's route,
	// is refused there (every family reads a task id at data.task_id or
	// task_id, so each would otherwise make an event of it).
	for _, fam := range []string{"wav", "video", "midi", "lyrics", "stems", "cover-image", "voice", "generate"} {
		if r := postWith(t, p.public+"/callbacks/"+fam, signedCallback("sig1", "complete"), hdr(ts, good)); r.status != 401 || r.a.Reason != "replay" {
			t.Errorf("the vocals request replayed to /callbacks/%s: %d %q, want 401 replay", fam, r.status, r.a.Reason)
		}
	}

	msgs := streamMessages(t, p.natsURL, ">")
	if len(msgs) != 2 {
		t.Fatalf("stream holds %d events, want the 2 validly signed ones", len(msgs))
	}
	for _, m := range msgs {
		if !bytes.Contains(m.Data, []byte(`"bodysha256"`)) {
			t.Errorf("%s has no body hash", m.Subject)
		}
	}
	if v := metric(t, p, "vocals_bridge_verification_enabled"); v != 1 {
		t.Errorf("verification_enabled %v", v)
	}
	_, metrics := get(t, p.admin+"/metrics")
	for _, reason := range []string{"signature", "stale", "replay"} {
		if !strings.Contains(metrics, `vocals_bridge_callbacks_rejected_total{family="vocals",reason="`+reason+`"}`) {
			t.Errorf("no rejection counted for %s", reason)
		}
	}
	if err := p.stop(t); err != nil { // so that every log line has been read
		t.Fatal(err)
	}
	if strings.Contains(p.log(), "new-key") || strings.Contains(p.log(), good) {
		t.Error("a key or signature reached the log")
	}
}

func TestBinaryWithoutVerificationWarns(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	if !strings.Contains(p.log(), "source verification is OFF") {
		t.Error("no start-up warning")
	}
	if v := metric(t, p, "vocals_bridge_verification_enabled"); v != 0 {
		t.Errorf("verification_enabled %v", v)
	}
}

func TestBinaryCallbackToken(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_CALLBACK_TOKEN=tok-123")
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/callbacks/vocals", 401},
		{"/callbacks/vocals?token=wrong", 401},
		{"/callbacks/vocals/wrong", 401},
		{"/callbacks/vocals?token=tok-123", 200},
		{"/callbacks/vocals/tok-123", 200},
	} {
		if r := postWith(t, p.public+tc.path, signedCallback("tok", "text"), nil); r.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.path, r.status, tc.status)
		}
	}
	if err := p.stop(t); err != nil { // so that every log line has been read
		t.Fatal(err)
	}
	if strings.Contains(p.log(), "tok-123") {
		t.Error("the token reached the log")
	}
}

func TestBinaryAllowList(t *testing.T) {
	t.Parallel()
	t.Run("direct", func(t *testing.T) {
		p := start(t, t.TempDir(), "VOCALS_BRIDGE_ALLOWED_CIDRS=10.0.0.0/8")
		if r := postWith(t, p.public+"/callbacks/vocals", signedCallback("ip1", "text"), nil); r.status != 403 || r.a.Reason != "ip" {
			t.Fatalf("loopback not in the list: %d %q", r.status, r.a.Reason)
		}
		// Without trusted proxies a forwarded header is not believed.
		if r := postWith(t, p.public+"/callbacks/vocals", signedCallback("ip1", "text"), map[string]string{"X-Forwarded-For": "10.1.2.3"}); r.status != 403 {
			t.Fatalf("spoofed X-Forwarded-For believed: %d", r.status)
		}
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		p := start(t, t.TempDir(), "VOCALS_BRIDGE_ALLOWED_CIDRS=10.0.0.0/8", "VOCALS_BRIDGE_TRUSTED_PROXIES=127.0.0.1/32")
		if r := postWith(t, p.public+"/callbacks/vocals", signedCallback("ip2", "text"), map[string]string{"X-Forwarded-For": "10.1.2.3"}); r.status != 200 {
			t.Fatalf("allowed client behind the proxy: %d %q", r.status, r.a.Reason)
		}
		if r := postWith(t, p.public+"/callbacks/vocals", signedCallback("ip3", "text"), map[string]string{"X-Forwarded-For": "10.1.2.3, 192.0.2.7"}); r.status != 403 {
			t.Fatalf("client outside the list behind the proxy: %d", r.status)
		}
	})
}

func TestBinaryRateLimit(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_RATE_LIMIT=0.01", "VOCALS_BRIDGE_RATE_BURST=3")
	for i := 0; i < 6; i++ { // accepted callbacks spend no budget
		if r := postWith(t, p.public+"/callbacks/vocals", signedCallback("rate"+strconv.Itoa(i), "text"), nil); r.status != 200 {
			t.Fatalf("accepted callback %d: %d", i, r.status)
		}
	}
	for i := 0; i < 3; i++ { // refused ones do, up to the burst
		if r := postWith(t, p.public+"/callbacks/vocals", []byte(`{"code":`), nil); r.status != 400 {
			t.Fatalf("refused request %d within the burst: %d", i, r.status)
		}
	}
	r := postWith(t, p.public+"/callbacks/vocals", signedCallback("rate9", "text"), nil)
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.a.Reason != "rate" {
		t.Fatalf("after the budget was spent: %d Retry-After=%q %q", r.status, r.header.Get("Retry-After"), r.a.Reason)
	}
}

// A client that sends its headers too slowly is cut off after the header
// timeout instead of holding a connection forever.
func TestBinarySlowClientIsCutOff(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_READ_HEADER_TIMEOUT=1s")
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(p.public, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /callbacks/vocals HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("slow client held the connection for %s (err %v)", d, err)
	}
}

func writeCert(t *testing.T, dir, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	// Write the key first and the certificate last, as a secret update
	// would land, and give them a new mtime.
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// HTTPS straight from the binary, and a renewed certificate picked up
// without a restart.
func TestBinaryTLSWithReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir, "first")
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_TLS_CERT_FILE="+filepath.Join(dir, "tls.crt"), "VOCALS_BRIDGE_TLS_KEY_FILE="+filepath.Join(dir, "tls.key"))
	addr := strings.TrimPrefix(p.public, "http://")
	servedCN := func() string {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test reads the served certificate
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := servedCN(); cn != "first" {
		t.Fatalf("served %q", cn)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test certificate
	resp, err := client.Post("https://"+addr+"/callbacks/vocals", "application/json", bytes.NewReader(signedCallback("tls1", "text")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("callback over HTTPS: %d", resp.StatusCode)
	}

	writeCert(t, dir, "second")
	// The reloader compares mtimes: make them differ on any file system.
	for _, f := range []string{"tls.key", "tls.crt"} {
		if err := os.Chtimes(filepath.Join(dir, f), time.Time{}, time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for servedCN() != "second" {
		if time.Now().After(deadline) {
			t.Fatal("renewed certificate not served after 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Header names are case-insensitive, and Standard Webhooks documents them in
// lower case. The verifier looks them up in net/http's canonical form, so
// this writes the request by hand to be sure the names on the wire are
// lower case for both schemes.
func TestBinarySignatureHeadersInLowerCase(t *testing.T) {
	t.Parallel()
	secret := []byte("standard-secret")
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=provider-key",
		"VOCALS_BRIDGE_STANDARD_WEBHOOK_SECRET=whsec_"+base64.StdEncoding.EncodeToString(secret))
	host := strings.TrimPrefix(p.public, "http://")
	now := time.Now().Unix()

	ts, sig := sign("provider-key", "lower1", now)
	swBody := signedCallback("lower2", "complete")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("msg_1." + strconv.FormatInt(now, 10) + "." + string(swBody)))
	swSig := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))

	tests := []struct {
		name   string
		body   []byte
		header string
	}{
		{"provider scheme", signedCallback("lower1", "complete"),
			"x-webhook-timestamp: " + ts + "\r\nx-webhook-signature: " + sig + "\r\n"},
		{"standard webhooks", swBody,
			"webhook-id: msg_1\r\nwebhook-timestamp: " + strconv.FormatInt(now, 10) + "\r\nwebhook-signature: " + swSig + "\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", host, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
			req := "POST /callbacks/vocals HTTP/1.1\r\nhost: " + host + "\r\ncontent-type: application/json\r\n" +
				tc.header + "content-length: " + strconv.Itoa(len(tc.body)) + "\r\nconnection: close\r\n\r\n" + string(tc.body)
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got %d %s", resp.StatusCode, raw)
			}
		})
	}
	if n := len(streamMessages(t, p.natsURL, ">")); n != 2 {
		t.Fatalf("stream holds %d events, want 2", n)
	}
}

// With verification on the signature is checked after the bounding peek
// and before the body is decoded: a well-formed body that would not decode
// is refused as unsigned (401), not as invalid (400), so an unauthenticated
// request never reaches the decoder; a body that is not JSON at all fails
// the peek first.
func TestBinarySignatureBeforeDecode(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=right-key")
	ts, wrong := sign("wrong-key", "order1", time.Now().Unix())
	hdr := map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": wrong}
	url := p.public + "/callbacks/vocals"
	if r := postWith(t, url, []byte(`{"code":"200","data":{"task_id":"order1","callbackType":"text"}}`), hdr); r.status != 401 || r.a.Reason != "signature" {
		t.Errorf("undecodable body with a wrong signature: %d %q, want 401 signature", r.status, r.a.Reason)
	}
	if r := postWith(t, url, []byte(`{"code":200,"data":{"task_id":"order1"`), hdr); r.status != 400 || r.a.Reason != "malformed_json" {
		t.Errorf("not JSON, with a wrong signature: %d %q, want 400 malformed_json", r.status, r.a.Reason)
	}
	ts, right := sign("right-key", "order1", time.Now().Unix())
	hdr = map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": right}
	if r := postWith(t, url, []byte(`{"code":"200","data":{"task_id":"order1","callbackType":"text"}}`), hdr); r.status != 400 || r.a.Reason != "invalid_field" {
		t.Errorf("undecodable body, rightly signed: %d %q, want 400 invalid_field", r.status, r.a.Reason)
	}
}
