package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/smallfs"
)

// Tests of the promise at its edges: genuine senders are never refused,
// nothing answered 200 is unstorable, and the spool heals. Real bridge and
// nats-server processes; a second source address is 127.0.0.2 (all of
// 127.0.0.0/8 is loopback).

// sourceClient is an HTTP client whose connections come from ip.
func sourceClient(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}}
}

// blast posts every body with c concurrent workers and counts the answers
// by status and reason ("200" or "429 rate").
func blast(t *testing.T, client *http.Client, url string, bodies [][]byte, c int) map[string]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		wg     sync.WaitGroup
		next   = make(chan []byte)
	)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range next {
				key := "transport error"
				resp, err := client.Post(url+"/callbacks/vocals", "application/json", bytes.NewReader(body))
				if err == nil {
					var a answer
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					_ = json.Unmarshal(raw, &a)
					key = fmt.Sprint(resp.StatusCode)
					if resp.StatusCode != 200 {
						key += " " + a.Reason
					}
				}
				mu.Lock()
				counts[key]++
				mu.Unlock()
			}
		}()
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	return counts
}

func validBodies(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = faultCallback(fmt.Sprintf("%s%05d", prefix, i))
	}
	return out
}

// 1. The rate limit is a budget for refused requests only: a source sending
// genuine callbacks is never answered 429, however fast; one sending
// garbage is, before its bodies are read; another source is unaffected.
// The budget is small (burst 50, 1 a second) so that how many refusals
// get a 400 depends on the bucket, not on how fast this machine answers:
// at most the burst, the refill over the run, and the requests in flight
// when the budget ran out.
func TestRateLimitIsSpentOnlyByRefusals(t *testing.T) {
	const burst, perSecond, workers = 50, 1, 32
	p := start(t, t.TempDir(), fmt.Sprintf("VOCALS_BRIDGE_RATE_BURST=%d", burst), fmt.Sprintf("VOCALS_BRIDGE_RATE_LIMIT=%d", perSecond))
	first, second := sourceClient("127.0.0.1"), sourceClient("127.0.0.2")

	if got := blast(t, first, p.public, validBodies("genuine", 3000), workers); got["200"] != 3000 {
		t.Fatalf("3,000 valid callbacks at concurrency 32 with a rate limit of 1/s: %v, want all 200", got)
	}
	garbage := make([][]byte, 2000)
	for i := range garbage {
		garbage[i] = []byte(fmt.Sprintf(`{"code":200,"data":{"task_id":"bad%d"`, i))
	}
	began := time.Now()
	got := blast(t, first, p.public, garbage, workers)
	most := burst + workers + int(time.Since(began).Seconds()+1)*perSecond
	if got["429 rate"]+got["400 malformed_json"] != 2000 || got["400 malformed_json"] > most {
		t.Fatalf("2,000 malformed callbacks: %v, want at most %d answered 400 and the rest 429 rate", got, most)
	}
	if got := blast(t, second, p.public, validBodies("other", 200), 8); got["200"] != 200 {
		t.Fatalf("another address after the first was limited: %v, want all 200", got)
	}
}

// slowPost opens a connection from ip that announces a body of size bytes
// and sends one byte every gap, until answered; it returns the answer's
// status and reason, or 0 when none came within 15 s.
func slowPost(addr, ip string, size int, gap time.Duration) (int, string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "POST /callbacks/vocals HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < size; i++ {
			select {
			case <-stop:
				return
			case <-time.After(gap):
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var a answer
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &a)
	return resp.StatusCode, a.Reason
}

// 2. Slow bodies from one address hold that address's read slots, never
// the in-flight slots: a second address sending genuine callbacks keeps
// them accepted, and a body that dribbles in is answered 408.
func TestSlowSenderCannotStarveOthers(t *testing.T) {
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_MAX_IN_FLIGHT=32")
	addr := strings.TrimPrefix(p.public, "http://")
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		slows = map[string]int{}
	)
	for i := 0; i < 300; i++ { // about 190 a second, as in the report
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, reason := slowPost(addr, "127.0.0.2", 2000, 300*time.Millisecond)
			mu.Lock()
			slows[fmt.Sprint(code, " ", reason)]++
			mu.Unlock()
		}()
		time.Sleep(5 * time.Millisecond)
	}
	got := blast(t, sourceClient("127.0.0.1"), p.public, validBodies("victim", 300), 8)
	wg.Wait()
	t.Logf("slow sender's answers: %v; genuine sender's: %v", slows, got)
	if got["200"] < 270 {
		t.Errorf("the genuine address got %d of 300 accepted during the attack, want at least 90%%: %v", got["200"], got)
	}
	if slows["408 read_timeout"] == 0 || slows["400 unreadable_body"] != 0 {
		t.Errorf("slow bodies: %v, want 408 read_timeout (and 429 source_busy past the per-source cap)", slows)
	}
	for k := range slows {
		if k != "408 read_timeout" && k != "429 source_busy" {
			t.Errorf("a slow body was answered %q", k)
		}
	}
}

// bigEvent is a valid callback under the 1 MiB body limit whose event is
// over a server's default 1 MiB max_payload (less room for headers). (The
// issue's 4,400 empty tracks are refused too_many_tracks now.)
func bigEvent(task string) []byte {
	return []byte(fmt.Sprintf(`{"code":200,"msg":%q,"data":{"callbackType":"complete","task_id":%q,"data":[]}}`,
		strings.Repeat("x", 1045000), task))
}

// 3 and 6. An event larger than the server's max_payload is refused 413
// and dead-lettered, with NATS up and with a bridge that never saw NATS
// (the configured limit); never 503, never 200 spooled. The dead letter of
// the refusal during the outage reaches VOCALS_DLQ once NATS is back, and
// nothing ends in rejected.log.
func TestEventTooLargeIsRefusedBeforeAnswering(t *testing.T) {
	t.Parallel()
	n := startNATS(t) // default max_payload: 1 MiB
	p := startBridge(t, n, t.TempDir())
	if code, a := post(t, p.public, bigEvent("toolarge1")); code != 413 || a.Reason != "event_too_large" {
		t.Fatalf("with NATS up: %d %+v, want 413 event_too_large", code, a)
	}
	eventually(t, "the dead letter", 10*time.Second, func() bool {
		return len(streamMessagesIn(t, n.url, "VOCALS_DLQ", "vocals_dlq.event_too_large.>")) == 1
	})
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}

	n.kill(t)
	data := t.TempDir()
	p2 := startBridge(t, n, data)
	if code, a := post(t, p2.public, bigEvent("toolarge2")); code != 413 || a.Reason != "event_too_large" {
		t.Fatalf("bridge started during the outage: %d %+v, want 413 event_too_large", code, a)
	}
	if code, a := post(t, p2.public, faultCallback("fits")); code != 200 || !a.Spooled {
		t.Fatalf("a callback that fits, during the outage: %d %+v", code, a)
	}
	n.start(t)
	waitDrained(t, p2)
	eventually(t, "the dead letter refused during the outage", 20*time.Second, func() bool {
		return len(streamMessagesIn(t, n.url, "VOCALS_DLQ", "vocals_dlq.event_too_large.>")) == 2
	})
	assertExactlyOnce(t, n.url, []string{"fits"})
	if _, err := os.Stat(filepath.Join(data, "spool", "rejected.log")); !os.IsNotExist(err) {
		t.Errorf("rejected.log exists (%v): something answered 200 never reached the stream", err)
	}
}

// 4. A full disk refuses callbacks (503, and readiness says 503 too), but
// does not disable the spool: once there is room again callbacks are
// spooled, and in a later outage as well; each 200 reaches the stream once.
func TestSpoolHealsAfterADiskFull(t *testing.T) {
	t.Parallel()
	disk := smallfs.Mount(t, 8<<20)
	n := startNATS(t)
	p := startBridge(t, n, disk)
	n.kill(t)
	// Bodies large enough not to fit in a page the segment already has.
	padded := func(task string) []byte {
		return []byte(fmt.Sprintf(`{"code":200,"msg":%q,"data":{"callbackType":"complete","task_id":%q,"data":[]}}`, strings.Repeat("x", 16<<10), task))
	}
	var accepted []string
	postOK := func(task string) {
		t.Helper()
		if code, a := post(t, p.public, padded(task)); code != 200 || !a.Spooled {
			t.Fatalf("%s: %d %+v, want 200 spooled", task, code, a)
		}
		accepted = append(accepted, task)
	}
	postOK("before")
	free := smallfs.Fill(t, disk)
	if code, a := post(t, p.public, padded("diskfull")); code != 503 {
		t.Fatalf("on a full disk: %d %+v, want 503", code, a)
	}
	if code, body := get(t, p.admin+"/readyz"); code != 503 {
		t.Errorf("readyz on a full disk: %d %s, want 503 (callbacks are refused)", code, body)
	}
	free()
	eventually(t, "readiness after space returned", 10*time.Second, func() bool {
		code, body := get(t, p.admin+"/readyz")
		return code == 200 && strings.Contains(body, "degraded")
	})
	postOK("after")
	n.start(t)
	waitDrained(t, p)

	n.kill(t) // a later outage, with plenty of space
	postOK("later")
	n.start(t)
	waitDrained(t, p)
	assertExactlyOnce(t, n.url, accepted)
}

// spoolTasks posts n callbacks of tasks prefix0.. to a bridge whose NATS
// is down and checks each is answered 200 spooled.
func spoolTasks(t *testing.T, p *proc, prefix string, n int) []string {
	t.Helper()
	var tasks []string
	for i := range n {
		task := fmt.Sprintf("%s%d", prefix, i)
		tasks = append(tasks, task)
		if code, a := post(t, p.public, faultCallback(task)); code != 200 || !a.Spooled {
			t.Fatalf("%s: %d %+v, want 200 spooled", task, code, a)
		}
	}
	return tasks
}

// 4. Recovery never deletes what a checkpoint does not match: a checkpoint
// past the log, and one left after the segments were removed (numbering
// would restart under it), keep every spooled event.
func TestSpoolRecoveryDoesNotTrustAMismatchedCheckpoint(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		before, after func(t *testing.T, spoolDir string)
	}{
		"checkpoint past the log": {after: func(t *testing.T, dir string) {
			segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
			var seq uint64
			if len(segs) == 0 {
				t.Fatal("no segment")
			}
			fmt.Sscanf(filepath.Base(segs[len(segs)-1]), "seg-%d.log", &seq)
			if err := os.WriteFile(filepath.Join(dir, "checkpoint"), []byte(fmt.Sprintf("%d 99999999\n", seq)), 0o640); err != nil {
				t.Fatal(err)
			}
		}},
		"only the checkpoint was left": {before: func(t *testing.T, dir string) {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "checkpoint"), []byte("7 123\n"), 0o640); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n := startNATS(t)
			data := t.TempDir()
			if tc.before != nil {
				tc.before(t, filepath.Join(data, "spool"))
			}
			p := startBridge(t, n, data)
			n.kill(t)
			tasks := spoolTasks(t, p, "kept", 10)
			p.kill(t)
			if tc.after != nil {
				tc.after(t, filepath.Join(data, "spool"))
			}
			n.start(t)
			p2 := startBridge(t, n, data)
			waitDrained(t, p2)
			assertExactlyOnce(t, n.url, tasks)
		})
	}
}

// 4. A torn record found at start on a full disk: the damaged bytes cannot
// be copied aside, which is reported, and the bridge starts anyway and
// publishes every intact record.
func TestBridgeStartsWithATornRecordOnAFullDisk(t *testing.T) {
	t.Parallel()
	disk := smallfs.Mount(t, 8<<20)
	n := startNATS(t)
	p := startBridge(t, n, disk)
	n.kill(t)
	tasks := spoolTasks(t, p, "tornfull", 5)
	p.kill(t)
	tearLastRecord(t, filepath.Join(disk, "spool"))
	free := smallfs.Fill(t, disk)
	n.start(t)
	p2 := startBridge(t, n, disk)
	if !strings.Contains(p2.log(), `"save_error"`) || strings.Contains(p2.log(), `"save_error":""`) {
		t.Errorf("the damage that could not be saved is not reported:\n%s", p2.log())
	}
	waitDrained(t, p2)
	assertExactlyOnce(t, n.url, tasks[:4])
	free()
}
