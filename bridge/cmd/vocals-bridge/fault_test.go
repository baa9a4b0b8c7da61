package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
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

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
)

// Fault tests: a real nats-server process (built from the module by
// TestMain) and the real bridge binary, killed, stopped and restarted on
// loopback. The promise under test: a 200 means the event reaches the
// stream exactly once, whatever NATS or the bridge does afterwards.

// natsProc is a nats-server process with a fixed port and store, so it can
// be killed and started again where the bridge reconnects.
type natsProc struct {
	cmd  *exec.Cmd
	port int
	dir  string
	url  string
	name string
	args []string // replaces the single-server arguments, e.g. for a cluster node
}

// freePort is a loopback port below the ephemeral range (natstest.FreePort).
func freePort(t *testing.T) int { return natstest.FreePort(t) }

func startNATS(t *testing.T) *natsProc {
	t.Helper()
	n := &natsProc{port: freePort(t), dir: t.TempDir()}
	n.url = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	n.start(t)
	t.Cleanup(func() {
		if n.cmd != nil && n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Signal(syscall.SIGCONT)
			_ = n.cmd.Process.Kill()
			_ = n.cmd.Wait()
		}
	})
	return n
}

func (n *natsProc) start(t *testing.T) {
	t.Helper()
	args := n.args
	if args == nil {
		args = []string{"-js", "-sd", n.dir, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-n", "fault-test"}
	}
	n.cmd = exec.Command(natsServer, args...)
	n.cmd.Stdout, n.cmd.Stderr = nil, nil
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), 200*time.Millisecond)
		if err == nil {
			// A line from the server means it is past accept and talks NATS.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not up on port %d after 15s", n.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *natsProc) kill(t *testing.T) {
	t.Helper()
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
}

func (n *natsProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	<-p.done
	_ = p.cmd.Wait()
}

// startBridge runs the bridge against n with a short publish timeout.
func startBridge(t *testing.T, n *natsProc, dataDir string, env ...string) *proc {
	t.Helper()
	return start(t, dataDir, append([]string{
		"VOCALS_BRIDGE_NATS_URL=" + n.url,
		"VOCALS_BRIDGE_PUBLISH_TIMEOUT=2s",
	}, env...)...)
}

func faultCallback(task string) []byte {
	return []byte(fmt.Sprintf(`{"code":200,"msg":"ok","data":{"callbackType":"complete","task_id":%q,"data":[]}}`, task))
}

// metric reads one unlabelled sample from the admin listener.
func metric(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	_, body := get(t, p.admin+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return v
		}
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

// waitDrained waits until the bridge's spool is empty.
func waitDrained(t *testing.T, p *proc) {
	t.Helper()
	eventually(t, "the spool to drain", 45*time.Second, func() bool { return metric(t, p, "vocals_bridge_spool_entries") == 0 })
}

// assertExactlyOnce checks that each task's complete event is stored once
// and nothing else is.
func assertExactlyOnce(t *testing.T, natsURL string, tasks []string) {
	t.Helper()
	msgs := streamMessages(t, natsURL, ">")
	count := map[string]int{}
	for _, m := range msgs {
		count[m.Subject]++
	}
	for _, task := range tasks {
		if c := count["vocals."+task+".complete"]; c != 1 {
			t.Errorf("task %s stored %d times", task, c)
		}
	}
	if len(msgs) != len(tasks) {
		t.Errorf("stream holds %d messages, want %d", len(msgs), len(tasks))
	}
}

// 1. NATS is killed while callbacks keep arriving: every callback gets 200;
// after NATS returns each is in the stream exactly once.
func TestFaultNATSKilledWhileCallbacksArrive(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	p := startBridge(t, n, t.TempDir())
	var tasks []string
	for i := 0; i < 60; i++ {
		if i == 20 {
			n.kill(t)
		}
		if i == 40 {
			if code, body := get(t, p.admin+"/readyz"); code != 200 || !strings.Contains(body, "degraded") {
				t.Errorf("readyz during the outage: %d %s", code, body)
			}
			n.start(t)
		}
		task := fmt.Sprintf("killed%02d", i)
		tasks = append(tasks, task)
		if code, a := post(t, p.public, faultCallback(task)); code != 200 {
			t.Fatalf("callback %d answered %d %+v", i, code, a)
		}
	}
	waitDrained(t, p)
	assertExactlyOnce(t, n.url, tasks)
	if metric(t, p, "vocals_bridge_spool_drained_total") == 0 {
		t.Error("nothing went through the spool: the test did not test it")
	}
}

// 2 and 3. The bridge is SIGKILLed right after acknowledging callbacks
// during an outage, some of them retried: after a restart every one reaches
// the stream exactly once.
func TestFaultBridgeKilledDuringOutage(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	data := t.TempDir()
	p := startBridge(t, n, data)
	n.kill(t)
	var tasks []string
	for i := 0; i < 20; i++ {
		task := fmt.Sprintf("orphan%02d", i)
		tasks = append(tasks, task)
		if code, a := post(t, p.public, faultCallback(task)); code != 200 || !a.Spooled {
			t.Fatalf("callback %d: %d %+v", i, code, a)
		}
	}
	for i := 0; i < 5; i++ { // the provider retries some
		if code, a := post(t, p.public, faultCallback(tasks[i])); code != 200 || !a.Duplicate {
			t.Fatalf("retry %d: %d %+v", i, code, a)
		}
	}
	p.kill(t)

	n.start(t)
	p2 := startBridge(t, n, data)
	waitDrained(t, p2)
	assertExactlyOnce(t, n.url, tasks)
	if got := metric(t, p2, "vocals_bridge_spool_drained_total"); got != 20 {
		t.Errorf("restarted bridge drained %v, want 20", got)
	}
}

// An event spooled during an outage whose family is then turned off has
// no stream to go to ("no responders" for ever): it is set aside to
// rejected.log, counted, and the events behind it, and new ones, flow.
func TestFaultSpooledEventOfADisabledFamily(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	data := t.TempDir()
	p := startBridge(t, n, data)
	n.kill(t)
	lyrics, _ := family.Get(event.FamilyLyrics)
	ex, _ := lyrics.Example("k", event.StageComplete)
	if r := postWith(t, p.public+lyrics.Path(), ex.For("orphanlyrics"), nil); r.status != 200 || !r.a.Spooled {
		t.Fatalf("lyrics callback: %d %+v", r.status, r.a)
	}
	tasks := []string{"behind1", "behind2"}
	for _, task := range tasks {
		if code, a := post(t, p.public, faultCallback(task)); code != 200 || !a.Spooled {
			t.Fatalf("callback %s: %d %+v", task, code, a)
		}
	}
	p.kill(t)

	n.start(t)
	p2 := startBridge(t, n, data, "VOCALS_BRIDGE_DISABLED_FAMILIES=lyrics")
	waitDrained(t, p2)
	if code, a := post(t, p2.public, faultCallback("after")); code != 200 || a.Spooled {
		t.Fatalf("a new callback: %d %+v, want published", code, a)
	}
	assertExactlyOnce(t, n.url, append(tasks, "after"))
	_, metrics := get(t, p2.admin+"/metrics")
	if !strings.Contains(metrics, `vocals_bridge_spool_drain_errors_total{reason="no_stream"} 1`) {
		t.Errorf("no_stream not counted once:\n%s", metrics)
	}
	if raw, err := os.ReadFile(filepath.Join(data, "spool", "rejected.log")); err != nil || !bytes.Contains(raw, []byte("lyrics.orphanlyrics.complete")) {
		t.Errorf("rejected.log does not hold the lyrics event: %v", err)
	}
	if code, body := get(t, p2.admin+"/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Errorf("readyz: %d %s", code, body)
	}
}

// 4. NATS stops answering (SIGSTOP): callbacks are still answered well
// inside the provider's 15 s timeout, and all arrive once it resumes.
func TestFaultNATSStalled(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	p := startBridge(t, n, t.TempDir())
	n.signal(t, syscall.SIGSTOP)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		slowest time.Duration
		tasks   []string
	)
	for i := 0; i < 16; i++ {
		task := fmt.Sprintf("stall%02d", i)
		tasks = append(tasks, task)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			resp, err := (&http.Client{Timeout: 15 * time.Second}).Post(p.public+"/callbacks/vocals", "application/json", strings.NewReader(string(faultCallback(task))))
			if err != nil {
				t.Errorf("%s: %v", task, err)
				return
			}
			resp.Body.Close()
			d := time.Since(start)
			mu.Lock()
			slowest = max(slowest, d)
			mu.Unlock()
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d", task, resp.StatusCode)
			}
		}()
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	time.Sleep(time.Second)
	n.signal(t, syscall.SIGCONT)
	t.Logf("slowest answer while NATS was stopped: %s (publish timeout 2s, provider timeout 15s)", slowest)
	if slowest >= 15*time.Second { // the provider's timeout: the contract, not a speed target
		t.Errorf("slowest answer took %s", slowest)
	}
	waitDrained(t, p)
	assertExactlyOnce(t, n.url, tasks)
}

// 5. The spool is full: 503 with Retry-After, and nothing accepted is lost.
func TestFaultSpoolFull(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	p := startBridge(t, n, t.TempDir(), "VOCALS_BRIDGE_SPOOL_MAX_ENTRIES=5")
	n.kill(t)
	var tasks []string
	for i := 0; i < 5; i++ {
		task := fmt.Sprintf("full%d", i)
		tasks = append(tasks, task)
		if code, _ := post(t, p.public, faultCallback(task)); code != 200 {
			t.Fatalf("callback %d: %d", i, code)
		}
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Post(p.public+"/callbacks/vocals", "application/json", strings.NewReader(string(faultCallback("full5"))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("sixth callback: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, body := get(t, p.admin+"/readyz"); code != 503 || !strings.Contains(body, "spool is full") {
		t.Errorf("readyz with a full spool: %d %s", code, body)
	}
	if metric(t, p, "vocals_bridge_spool_full_total") != 1 {
		t.Error("spool-full refusal not counted")
	}
	n.start(t)
	waitDrained(t, p)
	if code, _ := post(t, p.public, faultCallback("full5")); code != 200 { // the provider's retry
		t.Fatalf("retry after draining: %d", code)
	}
	assertExactlyOnce(t, n.url, append(tasks, "full5"))
}

// 6. A torn last spool record: the bridge starts, keeps every complete
// record, and reports the damaged one.
func TestFaultTornSpoolRecord(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	data := t.TempDir()
	p := startBridge(t, n, data)
	n.kill(t)
	var tasks []string
	for i := 0; i < 5; i++ {
		task := fmt.Sprintf("torn%d", i)
		tasks = append(tasks, task)
		if code, _ := post(t, p.public, faultCallback(task)); code != 200 {
			t.Fatalf("callback %d: %d", i, code)
		}
	}
	p.kill(t)
	tearLastRecord(t, filepath.Join(data, "spool")) // as if the kill hit mid-write

	n.start(t)
	p2 := startBridge(t, n, data)
	if !strings.Contains(p2.log(), "spool damage found") {
		t.Error("damaged record not reported in the log")
	}
	if metric(t, p2, "vocals_bridge_spool_damaged_records_total") != 1 {
		t.Error("damaged record not counted")
	}
	waitDrained(t, p2)
	assertExactlyOnce(t, n.url, tasks[:4])
	if damaged, _ := filepath.Glob(filepath.Join(data, "spool", "*.damaged")); len(damaged) != 1 {
		t.Errorf("damaged bytes not kept for inspection: %v", damaged)
	}
}

// Two bridges on one data directory would corrupt each other's spool; the
// second refuses to start.
func TestFaultSecondBridgeOnSameDataDir(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	data := t.TempDir()
	startBridge(t, n, data)
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "VOCALS_BRIDGE_NATS_URL=" + n.url, "VOCALS_BRIDGE_DATA_DIR=" + data,
		"VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:0", "VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:0"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "locked by another process") {
		t.Fatalf("second bridge: %v\n%s", err, out)
	}
}

// A bridge restarted while NATS is still down starts anyway, spools, and
// sets up the stream and drains once NATS appears.
func TestFaultBridgeStartsWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	n := &natsProc{port: freePort(t), dir: t.TempDir()}
	n.url = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	t.Cleanup(func() {
		if n.cmd != nil && n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			_ = n.cmd.Wait()
		}
	})
	// With credentials in the URL: they must reach no log line.
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_NATS_URL="+strings.Replace(n.url, "nats://", "nats://bridgeuser:pw-canary-2@", 1),
		"VOCALS_BRIDGE_PUBLISH_TIMEOUT=2s")
	if code, body := get(t, p.admin+"/readyz"); code != 200 || !strings.Contains(body, "degraded") {
		t.Errorf("readyz with NATS never seen: %d %s", code, body)
	}
	var tasks []string
	for i := 0; i < 5; i++ {
		task := fmt.Sprintf("early%d", i)
		tasks = append(tasks, task)
		if code, a := post(t, p.public, faultCallback(task)); code != 200 || !a.Spooled {
			t.Fatalf("callback %d: %d %+v", i, code, a)
		}
	}
	n.start(t)
	waitDrained(t, p)
	assertExactlyOnce(t, n.url, tasks)
	if code, body := get(t, p.admin+"/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Errorf("readyz after NATS came: %d %s", code, body)
	}
	if err := p.stop(t); err != nil { // every log line read
		t.Fatal(err)
	}
	if log := p.log(); strings.Contains(log, "pw-canary-2") || !strings.Contains(log, "nats://***@127.0.0.1") {
		t.Errorf("the log shows the URL's password, or no redacted URL:\n%s", log)
	}
}

// tearLastRecord cuts the last 10 bytes off the newest spool segment that
// holds records, as a crash in the middle of a write would.
func tearLastRecord(t *testing.T, spoolDir string) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(spoolDir, "seg-*.log"))
	var last string
	var size int64
	for _, s := range segs {
		if info, err := os.Stat(s); err == nil && info.Size() > 0 {
			last, size = s, info.Size()
		}
	}
	if last == "" {
		t.Fatal("no spool segment with data")
	}
	if err := os.Truncate(last, size-10); err != nil {
		t.Fatal(err)
	}
}

// The embedded default's promise at a power cut: a 200 means the event is
// in the journal, fsynced, though the embedded server fsyncs only every
// second. The cut is simulated by a kill -9 right after the answers and
// the loss of the server's whole store; the restarted bridge puts every
// answered event in the stream, each once. A clean restart after that
// republishes nothing twice.
func TestJournalOutlivesALostStore(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := start(t, data)
	tasks := make([]string, 20)
	began := time.Now()
	var wg sync.WaitGroup
	for i := range tasks {
		tasks[i] = fmt.Sprintf("cut%02d", i)
		wg.Go(func() {
			if code, a := post(t, p.public, faultCallback(tasks[i])); code != 200 || a.Spooled {
				t.Errorf("%s: %d %+v, want 200 published", tasks[i], code, a)
			}
		})
	}
	wg.Wait()
	p.kill(t)
	if took := time.Since(began); took > 2*time.Second {
		// Past the journal's horizon (3 s) the server has synced the first
		// answers and their records are gone: deleting its store would
		// lose what a power cut could not.
		t.Skipf("the answers took %s on this machine, too long to stand for a power cut", took)
	}
	if err := os.RemoveAll(filepath.Join(data, "nats")); err != nil {
		t.Fatal(err)
	}
	p = start(t, data)
	waitDrained(t, p)
	assertExactlyOnce(t, p.natsURL, tasks)
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	p = start(t, data)
	waitDrained(t, p)
	assertExactlyOnce(t, p.natsURL, tasks) // a clean restart republished nothing twice
	// A callback now is journaled, then trimmed once the server synced it.
	if code, _ := post(t, p.public, faultCallback("cut-after")); code != 200 {
		t.Fatalf("a callback after the restarts: %d", code)
	}
	eventually(t, "the journal to be trimmed", 30*time.Second, func() bool { return metric(t, p, "vocals_bridge_journal_entries") == 0 })
}

// The journal's other failure points: a kill -9 that tore its last record
// (the server's store keeps that event), and a kill -9 while the records
// handed to the spool at start-up are being published again. Every
// answered event ends in the stream once.
func TestJournalTornTailAndKilledReplay(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := start(t, data)
	var tasks []string
	for i := range 20 {
		tasks = append(tasks, fmt.Sprintf("torn%02d", i))
		if code, a := post(t, p.public, faultCallback(tasks[i])); code != 200 {
			t.Fatalf("%s: %d %+v", tasks[i], code, a)
		}
	}
	p.kill(t)
	tearLastRecord(t, filepath.Join(data, "journal"))
	p = start(t, data) // hands the journal over, then drains it
	p.kill(t)
	p = start(t, data)
	waitDrained(t, p)
	assertExactlyOnce(t, p.natsURL, tasks)
}
