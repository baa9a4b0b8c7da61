package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
)

// binary is built with the race detector, plainBinary without it.
var binary, natsServer, plainBinary string

// TestMain builds the real binary once; every test here runs it as a
// separate process and talks to it over HTTP and NATS on loopback.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vocals-bridge-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "vocals-bridge")
	natsServer = filepath.Join(dir, "nats-server")
	plainBinary = filepath.Join(dir, "vocals-bridge-plain")
	// Built side by side: each build waits on its own link step.
	var builds errgroup.Group
	for _, args := range [][]string{
		{"build", "-race", "-o", binary, "."},
		// The fault tests need NATS as a separate process they can kill;
		// it is built from the module go.mod pins, so nothing is installed.
		{"build", "-o", natsServer, "github.com/nats-io/nats-server/v2"},
		// The memory test measures a build without the race detector,
		// whose shadow memory would dwarf what is measured.
		{"build", "-o", plainBinary, "."},
	} {
		builds.Go(func() error {
			out, err := exec.Command("go", args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		})
	}
	if err := builds.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running bridge process and what its log said.
type proc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	lines   []map[string]any
	raw     bytes.Buffer
	done    chan struct{}
	public  string
	admin   string
	submit  string
	natsURL string
}

// start runs the binary with env on random loopback ports and waits until
// it logs that it started.
func start(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	return startBinary(t, binary, dataDir, env...)
}

// startBinary is start for another build of the bridge.
func startBinary(t *testing.T, bin, dataDir string, env ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:0",
		"VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:0",
		"VOCALS_BRIDGE_EMBEDDED_NATS_ADDR=127.0.0.1:0",
		"VOCALS_BRIDGE_DATA_DIR=" + dataDir,
	}, env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			var line map[string]any
			p.mu.Lock()
			p.raw.WriteString(sc.Text() + "\n")
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				p.lines = append(p.lines, line)
				switch line["msg"] {
				case "listening":
					switch line["listener"] {
					case "public":
						p.public = "http://" + line["addr"].(string)
					case "submit":
						p.submit = "http://" + line["addr"].(string)
					default:
						p.admin = "http://" + line["addr"].(string)
					}
				case "embedded nats started":
					p.natsURL, _ = line["client_url"].(string)
				case "bridge started":
					once.Do(func() { close(started) })
				}
			}
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("bridge log:\n%s", p.log())
		}
	})
	select {
	case <-started:
	case <-p.done:
		_ = p.cmd.Wait()
		t.Fatalf("bridge exited during start-up:\n%s", p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("bridge did not start in 30s:\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// stop sends SIGTERM and returns the exit error once the process ended.
func (p *proc) stop(t *testing.T) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { <-p.done; errc <- p.cmd.Wait() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("bridge did not stop within 30s of SIGTERM")
		return nil
	}
}

type answer struct {
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	EventID   string `json:"event_id"`
	Subject   string `json:"subject"`
	Duplicate bool   `json:"duplicate"`
	Spooled   bool   `json:"spooled"`
}

func post(t *testing.T, url string, body []byte) (int, answer) {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second} // the provider's timeout
	resp, err := client.Post(url+"/callbacks/vocals", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer is not JSON: %s", raw)
	}
	return resp.StatusCode, a
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "callback", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func streamMessages(t *testing.T, url, filter string) []*jetstream.RawStreamMsg {
	t.Helper()
	return streamMessagesIn(t, url, "VOCALS", filter)
}

func streamMessagesIn(t *testing.T, url, stream, filter string) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.Messages(t, jetStreamAt(t, url), stream, filter)
}

// jetStreamAt connects to url for the rest of the test.
func jetStreamAt(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestBinaryWithEmbeddedNATS(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := start(t, data)

	if code, body := get(t, p.admin+"/readyz"); code != 200 {
		t.Fatalf("readyz %d %s", code, body)
	}
	code, a := post(t, p.public, fixture(t, "complete.json"))
	if code != 200 || a.Status != "received" || a.Duplicate || a.Subject != "vocals.2fac4d1b9e0a4c8fb1d2e3f4a5b69f72.complete" {
		t.Fatalf("first delivery: %d %+v", code, a)
	}
	code, again := post(t, p.public, fixture(t, "complete.json"))
	if code != 200 || !again.Duplicate || again.EventID != a.EventID {
		t.Fatalf("retry: %d %+v", code, again)
	}
	if code, a := post(t, p.public, []byte(`{"code":200,"data":{"task_id":"x.>","callbackType":"complete"}}`)); code != 400 || a.Reason != "invalid_task_id" {
		t.Fatalf("injection: %d %+v", code, a)
	}
	if code, _ := post(t, p.public, fixture(t, "error-531.json")); code != 200 {
		t.Fatalf("error callback: %d", code)
	}

	msgs := streamMessages(t, p.natsURL, ">")
	if len(msgs) != 2 {
		t.Fatalf("stream holds %d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		schematest.ValidateEvent(t, m.Data)
	}
	if msgs[1].Subject != "vocals.2fac4d1b9e0a4c8fb1d2e3f4a5b69f72.error" {
		t.Errorf("second message on %s", msgs[1].Subject)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(streamMessagesIn(t, p.natsURL, "VOCALS_DLQ", "vocals_dlq.invalid_task_id.>")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the refused injection attempt is not in the dead-letter stream")
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, metrics := get(t, p.admin+"/metrics")
	if code != 200 || !strings.Contains(metrics, `vocals_bridge_callbacks_received_total{family="vocals",outcome="duplicate",stage="complete"} 1`) ||
		!strings.Contains(metrics, "vocals_bridge_nats_connected 1") {
		t.Errorf("metrics %d:\n%s", code, metrics)
	}
	if code, _ := get(t, p.public+"/metrics"); code != 404 {
		t.Errorf("metrics reachable on the public listener: %d", code)
	}
	if code, _ := get(t, p.public+"/schemas/v1/data.schema.json"); code != 200 {
		t.Errorf("schema not served: %d", code)
	}

	if err := p.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if !strings.Contains(p.log(), `"msg":"stopped"`) {
		t.Error("no clean-stop line in the log")
	}

	// A restart on the same data dir keeps the stream and its dedup state.
	p2 := start(t, data)
	if code, a := post(t, p2.public, fixture(t, "complete.json")); code != 200 || !a.Duplicate {
		t.Fatalf("retry after restart: %d %+v", code, a)
	}
	if n := len(streamMessages(t, p2.natsURL, ">")); n != 2 {
		t.Fatalf("after restart the stream holds %d messages, want 2", n)
	}
	if err := p2.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryWithExternalNATS(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_NATS_URL="+srv.URL, "VOCALS_BRIDGE_SUBJECT_PREFIX=suno.vocals",
		"VOCALS_BRIDGE_SPOOL_ENABLED=false")
	if p.natsURL != "" {
		t.Fatal("embedded server started although a NATS URL was given")
	}
	code, a := post(t, p.public, fixture(t, "first.json"))
	if code != 200 || a.Subject != "suno.vocals.7d1e0c2a9b3f4e5d8c6b1a0f2e3d4c5b.first" {
		t.Fatalf("%d %+v", code, a)
	}
	if n := len(streamMessages(t, srv.URL, "suno.vocals.*.first")); n != 1 {
		t.Fatalf("stream holds %d messages", n)
	}

	// NATS goes away and the spool is off: readiness drops and callbacks get
	// 503 with Retry-After, well inside the provider's 15 s timeout.
	srv.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := get(t, p.admin+"/readyz")
		if code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d 10s after NATS stopped", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	started := time.Now()
	resp, err := client.Post(p.public+"/callbacks/vocals", "application/json", bytes.NewReader(fixture(t, "complete.json")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with NATS down: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if d := time.Since(started); d > 10*time.Second {
		t.Errorf("503 took %s", d)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM with NATS down: %v", err)
	}
}

func TestBinaryRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env  []string
		want string
	}{
		"replicas":               {[]string{"VOCALS_BRIDGE_STREAM_REPLICAS=0"}, "stream_replicas"},
		"prefix":                 {[]string{"VOCALS_BRIDGE_SUBJECT_PREFIX=a.>"}, "subject_prefix"},
		"duration":               {[]string{"VOCALS_BRIDGE_PUBLISH_TIMEOUT=soon"}, "VOCALS_BRIDGE_PUBLISH_TIMEOUT"},
		"nats url without spool": {[]string{"VOCALS_BRIDGE_NATS_URL=nats://bridgeuser:pw-canary-1@127.0.0.1:1", "VOCALS_BRIDGE_SPOOL_ENABLED=false"}, "connecting to nats nats://***@127.0.0.1:1"},
		// Family settings are checked whatever else is on (here tracking is off).
		"unknown family":         {[]string{"VOCALS_BRIDGE_DISABLED_FAMILIES=vidoe"}, "VOCALS_BRIDGE_DISABLED_FAMILIES"},
		"prefix of another":      {[]string{"VOCALS_BRIDGE_FAMILY_SUBJECT_PREFIXES=lyrics=vocals"}, "VOCALS_BRIDGE_FAMILY_SUBJECT_PREFIXES"},
		"wildcard prefix":        {[]string{"VOCALS_BRIDGE_FAMILY_SUBJECT_PREFIXES=lyrics=foo.*"}, "VOCALS_BRIDGE_FAMILY_SUBJECT_PREFIXES"},
		"prefix of dead letters": {[]string{"VOCALS_BRIDGE_FAMILY_SUBJECT_PREFIXES=wav=vocals_dlq"}, "VOCALS_BRIDGE_FAMILY_SUBJECT_PREFIXES"},
		"broken nats url":        {[]string{"VOCALS_BRIDGE_NATS_URL=nats://bridgeuser:pw-canary-1@[::1"}, "nats_url"},
		"broken provider url": {[]string{"VOCALS_BRIDGE_TRACKING_ENABLED=true", "VOCALS_BRIDGE_PROVIDER_API_KEY=k",
			"VOCALS_BRIDGE_PROVIDER_BASE_URL=//user:pw-canary-1@provider.example"}, "provider_base_url"},
		"port in use":          {nil, "public listener, http_addr (--http-addr, VOCALS_BRIDGE_HTTP_ADDR)"},
		"embedded port in use": {nil, "embedded_nats_addr (--embedded-nats-addr, VOCALS_BRIDGE_EMBEDDED_NATS_ADDR)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := append([]string{"PATH=" + os.Getenv("PATH"), "VOCALS_BRIDGE_DATA_DIR=" + t.TempDir(),
				"VOCALS_BRIDGE_EMBEDDED_NATS_ADDR=", "VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:0"}, tc.env...)
			switch name {
			case "port in use":
				busy := start(t, t.TempDir())
				env = append(env, "VOCALS_BRIDGE_HTTP_ADDR="+strings.TrimPrefix(busy.public, "http://"))
			case "embedded port in use":
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				env = append(env, "VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:0", "VOCALS_BRIDGE_EMBEDDED_NATS_ADDR="+l.Addr().String())
			default:
				env = append(env, "VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:0")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary)
			cmd.Env = env
			began := time.Now()
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("want exit status 1, got %v\n%s", err, out)
			}
			if name == "embedded port in use" && time.Since(began) > 5*time.Second {
				t.Errorf("a busy embedded port took %s to report, not the server's 10 s start-up wait", time.Since(began))
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not name %q:\n%s", tc.want, out)
			}
			if strings.Contains(string(out), "pw-canary-1") {
				t.Errorf("output shows a password from a URL:\n%s", out)
			}
		})
	}
}

// A request still being received when SIGTERM arrives is finished, stored
// and answered before the bridge exits.
func TestBinaryFinishesInFlightRequestOnSIGTERM(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	body := fixture(t, "text.json")
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(p.public, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "POST /callbacks/vocals HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	half := len(body) / 2
	if _, err := conn.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the server start reading the body
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.log(), `"msg":"shutting down"`) {
		if time.Now().After(deadline) {
			t.Fatal("no shutdown line after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := conn.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("in-flight request answered %d", resp.StatusCode)
	}
	select {
	case <-p.done: // all of its log has been read
	case <-time.After(20 * time.Second):
		t.Fatal("bridge did not exit after the in-flight request")
	}
	if !strings.Contains(p.log(), `"outcome":"published"`) {
		t.Error("in-flight callback was not published")
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// "vocals-bridge probe URL" is the container healthcheck.
func TestProbeCommand(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	out, err := exec.Command(binary, "probe", p.admin+"/readyz").Output()
	if err != nil {
		t.Fatalf("probe of a ready bridge: %v %s", err, out)
	}
	if want := "ok: " + p.admin + "/readyz answered 200 OK ready\n"; string(out) != want {
		t.Errorf("probe said %q, want one line %q", out, want)
	}
	if out, err := exec.Command(binary, "probe", p.admin+"/nope").CombinedOutput(); err == nil {
		t.Fatalf("probe of a 404 succeeded: %s", out)
	}
}

// "vocals-bridge tail" shows chosen stages in a readable form.
func TestTailCommand(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	for _, f := range []string{"text.json", "complete.json", "error-531.json", "first.json"} {
		if code, _ := post(t, p.public, fixture(t, f)); code != 200 {
			t.Fatalf("%s: %d", f, code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "tail", "--nats-url", p.natsURL, "--all", "--stages", "complete,error", "--max", "2").CombinedOutput()
	if err != nil {
		t.Fatalf("tail: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"complete  2fac4d1b9e0a4c8fb1d2e3f4a5b69f72  code=200  from callback",
		`"Iron Man" 198.4s https://example.cn/e231.mp3`,
		`error     2fac4d1b9e0a4c8fb1d2e3f4a5b69f72  code=531  from callback (failed_refunded)`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("tail output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, " text ") || strings.Contains(text, " first ") {
		t.Errorf("tail showed stages it was not asked for:\n%s", text)
	}

	// Fewer stored events than --max: tail prints them and says so.
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, "tail", "--nats-url", p.natsURL, "--all", "--max", "10")
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil || strings.Count(string(out), "from callback") != 4 ||
		!strings.Contains(stderr.String(), "4 stored events, fewer than --max 10") {
		t.Errorf("tail --all --max 10 with four events stored: %v\n%s%s", err, out, stderr.String())
	}

	out, err = exec.CommandContext(ctx, binary, "tail", "--nats-url", p.natsURL, "--all", "--json",
		"--task", "7d1e0c2a9b3f4e5d8c6b1a0f2e3d4c5b", "--max", "1").Output()
	if err != nil {
		t.Fatalf("tail --json: %v", err)
	}
	schematest.ValidateEvent(t, []byte(strings.TrimSpace(string(out))))
	if !strings.Contains(string(out), `"type":"com.sunoapi.vocals.first.v1"`) {
		t.Errorf("tail --json --task printed %s", out)
	}
}

// Every callback gets its own Info line, however many arrive per second
// (zap's production sampler would keep only the first 100 a second).
func TestOneLogLinePerCallback(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	const n = 250
	for i := 0; i < n; i++ {
		body := []byte(fmt.Sprintf(`{"code":200,"msg":"ok","data":{"callbackType":"text","task_id":"log%d","data":[]}}`, i))
		if code, _ := post(t, p.public, body); code != 200 {
			t.Fatalf("callback %d: %d", i, code)
		}
	}
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(p.log(), `"msg":"callback"`); got != n {
		t.Fatalf("%d callback lines for %d callbacks", got, n)
	}
}

// waitReady waits until /readyz says "ready": NATS answers and everything
// enabled serves (task tracking, and so the submit proxy, opens once NATS
// answers, after the bridge logs that it started).
func (p *proc) waitReady(t *testing.T) *proc {
	t.Helper()
	eventually(t, "readyz to say ready", 30*time.Second, func() bool {
		code, body := get(t, p.admin+"/readyz")
		return code == 200 && strings.Contains(body, `"status":"ready"`)
	})
	return p
}

// eventually polls cond every 100 ms for at most within.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// On SIGTERM readiness turns 503 at once while the listeners keep serving
// for shutdown_delay, so a rolling update's load balancer stops routing
// before requests would fail.
func TestShutdownDelayKeepsServingWhileNotReady(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_SHUTDOWN_DELAY=3s")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "readiness to turn 503", 2*time.Second, func() bool {
		code, body := get(t, p.admin+"/readyz")
		return code == 503 && strings.Contains(body, "shutting down")
	})
	if code, a := post(t, p.public, fixture(t, "text.json")); code != 200 {
		t.Fatalf("a callback during the delay: %d %+v", code, a)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the bridge did not stop after its delay")
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if !strings.Contains(p.log(), `"outcome":"published"`) {
		t.Error("the callback taken during the delay was not published")
	}
}

// help, version and the subcommands' --help answer on stdout without
// running anything; a mistyped flag or command fails, says so once on
// stderr, and names the closest one.
func TestCommandsExplainThemselves(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args   []string
		ok     bool
		stdout string // wanted on stdout
		stderr string // wanted on stderr, once
		most   int    // lines at most on stdout and stderr; 0 for no bound
	}{
		"version":         {args: []string{"version"}, ok: true, stdout: "vocals-bridge ", most: 1},
		"--version":       {args: []string{"--version"}, ok: true, stdout: "vocals-bridge ", most: 1},
		"help":            {args: []string{"help"}, ok: true, stdout: "-embedded-nats-sync-always"},
		"--help":          {args: []string{"--help"}, ok: true, stdout: "-spool-max-bytes"},
		"probe --help":    {args: []string{"probe", "--help"}, ok: true, stdout: "usage: vocals-bridge probe", most: 4},
		"tail --help":     {args: []string{"tail", "--help"}, ok: true, stdout: "-stages"},
		"unknown flag":    {args: []string{"--no-such-setting", "1"}, stderr: `"vocals-bridge help" lists every setting`, most: 1},
		"mistyped flag":   {args: []string{"--stream-replica", "3"}, stderr: "unknown flag --stream-replica (did you mean --stream-replicas?)", most: 1},
		"mistyped cmd":    {args: []string{"tial"}, stderr: `unknown command "tial" (did you mean tail?); the commands are tail, probe`, most: 1},
		"probe bad flag":  {args: []string{"probe", "--bogus"}, stderr: "unknown flag --bogus", most: 1},
		"probe no config": {args: []string{"probe", "--config", "no-such-file.yaml"}, stderr: "reading no-such-file.yaml", most: 1},
		"tail bad flag":   {args: []string{"tail", "--stage", "complete"}, stderr: "unknown flag --stage (did you mean --stages?)", most: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, binary, tc.args...)
			cmd.Stdout, cmd.Stderr, cmd.Dir = &stdout, &stderr, t.TempDir()
			err := cmd.Run()
			if (err == nil) != tc.ok {
				t.Fatalf("exit %v, want success %v:\n%s%s", err, tc.ok, stdout.String(), stderr.String())
			}
			for _, c := range []struct {
				name, want, got string
			}{{"stdout", tc.stdout, stdout.String()}, {"stderr", tc.stderr, stderr.String()}} {
				if c.want == "" && c.got != "" && !tc.ok {
					t.Errorf("%s: %q, want nothing", c.name, c.got)
				}
				if c.want != "" && strings.Count(c.got, c.want) != 1 {
					t.Errorf("%s lacks %q once:\n%s", c.name, c.want, c.got)
				}
				if lines := strings.Count(c.got, "\n"); tc.most > 0 && lines > tc.most {
					t.Errorf("%s: %d lines, want at most %d:\n%s", c.name, lines, tc.most, c.got)
				}
			}
		})
	}
}

// tail and probe find the bridge from its own configuration, not a fixed
// 127.0.0.1:4222 or :8081 that could be another bridge's.
func TestTailAndProbeReadTheBridgesConfiguration(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	if code, _ := post(t, p.public, fixture(t, "complete.json")); code != 200 {
		t.Fatal("callback refused")
	}
	env := append(os.Environ(),
		"VOCALS_BRIDGE_EMBEDDED_NATS_ADDR="+strings.TrimPrefix(p.natsURL, "nats://"),
		"VOCALS_BRIDGE_ADMIN_ADDR="+strings.TrimPrefix(p.admin, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tail := exec.CommandContext(ctx, binary, "tail", "--all", "--max", "1")
	tail.Env = env
	if out, err := tail.CombinedOutput(); err != nil || !strings.Contains(string(out), "2fac4d1b9e0a4c8fb1d2e3f4a5b69f72") {
		t.Errorf("tail with the bridge's variables: %v\n%s", err, out)
	}
	probe := exec.CommandContext(ctx, binary, "probe")
	probe.Env = env
	if out, err := probe.CombinedOutput(); err != nil {
		t.Errorf("probe with the bridge's variables: %v\n%s", err, out)
	}
	// ... or from its --config file, as the bridge reads it.
	file := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(file, []byte("admin_addr: "+strings.TrimPrefix(p.admin, "http://")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	probe = exec.CommandContext(ctx, binary, "probe", "--config", file)
	probe.Env = []string{"VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:1"} // the file is overridden by variables: not this one
	if out, err := probe.CombinedOutput(); err == nil {
		t.Errorf("probe read admin_addr from the file though a variable overrides it: %s", out)
	}
	probe = exec.CommandContext(ctx, binary, "probe", "--config", file)
	if out, err := probe.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "ok: "+p.admin) {
		t.Errorf("probe --config: %v\n%s", err, out)
	}
}
