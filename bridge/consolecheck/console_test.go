package consolecheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// chromium is Debian's browser; .ci/run installs it.
const chromium = "/usr/bin/chromium"

// bridge is a running bridge binary and what its log said.
type bridge struct {
	cmd           *exec.Cmd
	mu            sync.Mutex
	log           bytes.Buffer
	public, admin string
	natsURL       string
	done          chan struct{}
}

// start runs bin on loopback with env and waits for its "bridge started".
func start(t *testing.T, bin, data string, env ...string) *bridge {
	t.Helper()
	b := &bridge{cmd: exec.Command(bin), done: make(chan struct{})}
	b.cmd.Env = append([]string{"PATH=/usr/bin:/bin", "VOCALS_BRIDGE_DATA_DIR=" + data,
		"VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:0", "VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:0", "VOCALS_BRIDGE_EMBEDDED_NATS_ADDR=127.0.0.1:0"}, env...)
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		defer close(b.done)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			var line map[string]any
			b.mu.Lock()
			b.log.WriteString(sc.Text() + "\n")
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				switch line["msg"] {
				case "listening":
					if line["listener"] == "public" {
						b.public = "http://" + line["addr"].(string)
					} else {
						b.admin = "http://" + line["addr"].(string)
					}
				case "embedded nats started":
					b.natsURL, _ = line["client_url"].(string)
				case "bridge started":
					once.Do(func() { close(started) })
				}
			}
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			_ = b.cmd.Process.Kill()
			_ = b.cmd.Wait()
		}
		if t.Failed() {
			b.mu.Lock()
			t.Logf("bridge log:\n%s", b.log.String())
			b.mu.Unlock()
		}
	})
	select {
	case <-started:
	case <-b.done:
		t.Fatalf("bridge exited during start-up:\n%s", b.log.String())
	case <-time.After(60 * time.Second):
		t.Fatal("bridge did not start in 60s")
	}
	return b
}

func (b *bridge) stop(t *testing.T) {
	t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		_ = b.cmd.Wait()
	case <-time.After(30 * time.Second):
		t.Fatal("bridge did not stop in 30s")
	}
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

// sign is the provider's signature: base64(HMAC-SHA256(key, task_id + "." + ts)).
func sign(key, task string, ts int64) map[string]string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(task + "." + strconv.FormatInt(ts, 10)))
	return map[string]string{"X-Webhook-Timestamp": strconv.FormatInt(ts, 10), "X-Webhook-Signature": base64.StdEncoding.EncodeToString(h.Sum(nil))}
}

// Callbacks refused by a mistake (lyrics turned off; a wrong HMAC key) are
// redriven by a click on the console once the mistake is fixed, and each
// event is in the stream once. CONSOLECHECK_SCREENSHOT=file.png keeps the
// page of the first, as the README shows it.
func TestRedriveFromTheConsole(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs %s (apt-get install chromium): %v", chromium, err)
		}
		t.Skipf("no %s: apt-get install chromium", chromium)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vocals-bridge")
	build := exec.Command("go", "build", "-o", bin, "./bridge/cmd/vocals-bridge")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	lyrics, err := os.ReadFile("../internal/family/examples/lyrics/s-complete.json")
	if err != nil {
		t.Fatal(err)
	}
	var cb struct{ Data struct{ TaskID string } }
	if err := json.Unmarshal(lyrics, &cb); err != nil || cb.Data.TaskID == "" {
		t.Fatalf("example: %v", err)
	}
	vocals := []byte(`{"code":200,"msg":"ok","data":{"callbackType":"complete","task_id":"console2","data":[]}}`)
	for _, tc := range []struct {
		name, route, task, reason string
		body                      []byte
		header                    map[string]string
		mistake, fix              []string
		screenshot                bool
	}{
		{name: "family turned off", route: "lyrics", task: cb.Data.TaskID, reason: "family_disabled", body: lyrics,
			mistake: []string{"VOCALS_BRIDGE_DISABLED_FAMILIES=lyrics"}, screenshot: true},
		{name: "wrong hmac key", route: "vocals", task: "console2", reason: "signature", body: vocals,
			header:  sign("right-key", "console2", time.Now().Unix()),
			mistake: []string{"VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=wrong-key"}, fix: []string{"VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=right-key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			b := start(t, bin, data, tc.mistake...)
			req, _ := http.NewRequest(http.MethodPost, b.public+"/callbacks/"+tc.route, bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 4 {
				t.Fatalf("with the mistake: %s", resp.Status)
			}
			eventually(t, "the dead letter", 15*time.Second, func() bool {
				r, err := http.Get(b.admin + "/api/deadletters?reason=" + tc.reason)
				if err != nil {
					return false
				}
				defer r.Body.Close()
				var ans struct {
					DeadLetters []json.RawMessage `json:"dead_letters"`
				}
				return json.NewDecoder(r.Body).Decode(&ans) == nil && len(ans.DeadLetters) == 1
			})
			b.stop(t)
			b = start(t, bin, data, tc.fix...)
			redrive(t, b, tc.route, tc.task, tc.reason, tc.screenshot)
		})
	}
}

// redrive clicks the first dead letter's Redrive on the console of b and
// checks the page, the task's story and the stream.
func redrive(t *testing.T, b *bridge, route, task, reason string, screenshot bool) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(b.admin+"/console?reason="+reason)); err != nil {
		t.Fatalf("opening the console: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#redrive-1")),
		chromedp.Click(chromedp.CSS("#redrive-1")),
		chromedp.WaitVisible(chromedp.CSS("td.ok")),
	); err != nil {
		t.Fatalf("redriving from the console: %v", err)
	}
	outcome, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("td.ok")))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(b.admin+"/console?task="+task), chromedp.WaitVisible(chromedp.CSS("h2"))); err != nil {
		t.Fatal(err)
	}
	page, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	subject := route + "." + task + ".complete"
	if outcome != "published" {
		t.Errorf("the redrive's outcome on the page: %q", outcome)
	}
	if !strings.Contains(page, subject) || !strings.Contains(page, "redriven: published") {
		t.Errorf("the task's story on the page lacks its event or its redriven dead letter:\n%s", page)
	}
	if shot := os.Getenv("CONSOLECHECK_SCREENSHOT"); shot != "" && screenshot {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(b.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "VOCALS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(route+"."+task+".*"))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[subject]; n != 1 {
		t.Errorf("%s holds %d events, want 1 (%v)", subject, n, info.State.Subjects)
	}
}
