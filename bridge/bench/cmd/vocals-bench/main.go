// Command vocals-bench is the benchmark harness behind make bench. In one
// run on one machine it measures the HTTP ceiling (the same Echo stack
// answering 200), the broker ceiling (direct JetStream publishes), the
// naive hand-written bridge, the Watermill peer (bridge/bench/peer, when
// -peer names its binary), and the real bridge with every feature on
// against an external nats-server and its embedded one; then the bridge on
// an R3 cluster, and with a large stream. It writes BENCHMARKS.md, ending
// with the figures the project set itself. -side-by-side runs only the
// interleaved rounds.
//
//	vocals-bench -bridge bin/vocals-bridge -nats-server bin/nats-server -peer bin/vocals-bench-peer -out BENCHMARKS.md
//
// Every target runs as its own process so its CPU time and peak RSS can be
// read from /proc. The load generator runs in this process, on the same
// two cores: absolute numbers drift, ratios within one run hold.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/bench/load"
	"github.com/vocals-bridge/vocals-bridge/bridge/bench/naive"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
)

const hmacKey = "bench-key"

// serveTarget runs the ceiling or naive server when args name one; the
// harness re-executes its own binary that way.
func serveTarget(args []string) bool {
	switch {
	case len(args) > 2 && args[1] == "serve-ceiling":
		serveCeiling(args[2])
	case len(args) > 3 && args[1] == "serve-naive":
		serveNaive(args[2], args[3])
	default:
		return false
	}
	return true
}

func main() {
	if serveTarget(os.Args) {
		return
	}
	opts := options{}
	flag.StringVar(&opts.bridge, "bridge", "bin/vocals-bridge", "the bridge binary")
	flag.StringVar(&opts.natsServer, "nats-server", "bin/nats-server", "a nats-server binary")
	flag.StringVar(&opts.peer, "peer", "", "the Watermill peer's binary (bridge/bench/peer); empty: leave it out")
	flag.StringVar(&opts.out, "out", "BENCHMARKS.md", "where to write the report")
	flag.StringVar(&opts.micro, "micro", "", "file with go test -bench output to include")
	flag.StringVar(&opts.before, "before", "", "an earlier report to compare this run with")
	flag.DurationVar(&opts.duration, "duration", 5*time.Second, "length of each measurement")
	flag.IntVar(&opts.fill, "fill", 1_000_000, "events stored before the large-stream run (0: skip)")
	flag.BoolVar(&opts.quick, "quick", false, "tiny counts, to check the harness still works")
	flag.BoolVar(&opts.sideBySide, "side-by-side", false, "only the interleaved runs: a quicker comparison while changing the bridge")
	flag.Parse()
	if opts.quick {
		opts.duration, opts.fill = 300*time.Millisecond, 2000
	}
	report, err := run(opts)
	if err != nil {
		log.Fatal(err)
	}
	if opts.before != "" {
		report += compare(opts.before, report)
	}
	if err := os.WriteFile(opts.out, []byte(report), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(report)
}

type options struct {
	bridge, natsServer, peer, out, micro, before string
	duration                                     time.Duration
	fill                                         int
	quick, sideBySide                            bool
}

// serveCeiling is the HTTP ceiling: Echo with the bridge's server timeouts,
// reading the body and answering 200, publishing nothing.
func serveCeiling(addr string) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/callbacks/vocals", func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, io.LimitReader(c.Request().Body, 1<<20)); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "received"})
	})
	srv := &http.Server{Addr: addr, Handler: e, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 20 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func serveNaive(addr, natsURL string) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		log.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/callbacks/vocals", naive.Handler(js, "naive"))
	log.Fatal((&http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}).ListenAndServe())
}

// callback returns a realistic complete callback with a fresh task id,
// signed with the provider's scheme.
func callback(run string) load.Request {
	return func(i int64) ([]byte, http.Header) {
		task := fmt.Sprintf("%s%020d", run, i)
		body := []byte(`{"code":200,"msg":"All generated successfully.","data":{"callbackType":"complete","task_id":"` + task +
			`","data":[{"id":"e231c0de-1a2b-4c3d-8e9f-0a1b8cadc7dc","audio_url":"https://example.cn/e231.mp3",` +
			`"stream_audio_url":"https://example.cn/e231","image_url":"https://example.cn/e231.jpeg",` +
			`"prompt":"[Verse] Night city lights shining bright","model_name":"chirp-v4-5","title":"Iron Man",` +
			`"createTime":"2025-01-01 00:00:00","duration":198.44}]}}`)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(hmacKey))
		mac.Write([]byte(task + "." + ts))
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("X-Webhook-Timestamp", ts)
		h.Set("X-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		return body, h
	}
}

// callbackWithMedia is callback with its media URLs (an audio file and a
// cover image per task) on base, a media server that serves them.
func callbackWithMedia(base string) func(run string) load.Request {
	return func(run string) load.Request {
		next := callback(run)
		return func(i int64) ([]byte, http.Header) {
			body, h := next(i)
			task := fmt.Sprintf("%s%020d", run, i)
			return bytes.ReplaceAll(body, []byte("https://example.cn/"), []byte(base+sunosim.MediaPath+task+"/")), h
		}
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// otlpSink answers every OTLP/HTTP export with success (an empty
// ExportTraceServiceResponse is an empty protobuf body) and keeps nothing.
func otlpSink() net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
		}))
	}()
	return l
}

// target is a process under test.
type target struct {
	name string
	cmd  *exec.Cmd
	url  string
	// broker is the pid of the separate nats-server the target publishes
	// to, whose CPU is measured beside the target's; 0 when there is none.
	broker int
	// request makes the callbacks of a run; callback when nil.
	request func(run string) load.Request
}

// requests are the callbacks t is sent in a run.
func (t *target) requests(run string) load.Request {
	if t.request != nil {
		return t.request(run)
	}
	return callback(run)
}

func startProcess(name, url string, cmd *exec.Cmd) (*target, error) {
	// Output goes to the null device: logs are still encoded and written, as
	// in production, but not read here. io.Discard would make a pipe and a
	// goroutine in this process draining it, charging the bridge's logging to
	// the load generator and delaying its requests.
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &target{name: name, cmd: cmd, url: url}
	// Up to 60 s: a bridge creating an R3 stream waits for the cluster, and
	// once in a busy afternoon that took longer than 30 s.
	for i := 0; i < 600; i++ {
		resp, err := http.Get(strings.TrimSuffix(url, "/callbacks/vocals") + "/")
		if err == nil {
			resp.Body.Close()
			return t, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.stop()
	return nil, fmt.Errorf("%s did not start", name)
}

func (t *target) stop() {
	_ = t.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
	}
}

// usage is a process's CPU time and peak RSS, from /proc.
type usage struct {
	cpu     time.Duration
	peakRSS int64 // bytes
	rss     int64 // bytes, now
}

func procUsage(pid int) usage {
	var u usage
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		u.cpu = time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
	}
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
				u.peakRSS = kb << 10
			}
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
				u.rss = kb << 10
			}
		}
	}
	return u
}

// resetPeakRSS sets a process's VmHWM back to its current RSS (Linux's
// clear_refs), so each scenario reports its own peak.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// measurement is one scenario against one target.
type measurement struct {
	target, scenario string
	res              load.Result
	cpuPer1k         time.Duration
	brokerPer1k      time.Duration // -1 when the target has no separate broker
	loadPer1k        time.Duration // this process's: the load generator's

	peakRSS, rss int64
}

func measure(t *target, scenario string, f func() load.Result) measurement {
	resetPeakRSS(t.cmd.Process.Pid)
	self := os.Getpid()
	loadBefore := procUsage(self)
	before := procUsage(t.cmd.Process.Pid)
	var brokerBefore usage
	if t.broker != 0 {
		brokerBefore = procUsage(t.broker)
	}
	res := f()
	loadAfter := procUsage(self)
	after := procUsage(t.cmd.Process.Pid)
	m := measurement{target: t.name, scenario: scenario, res: res, peakRSS: after.peakRSS, rss: after.rss, brokerPer1k: -1}
	if res.OK > 0 {
		m.cpuPer1k = (after.cpu - before.cpu) * 1000 / time.Duration(res.OK)
		m.loadPer1k = (loadAfter.cpu - loadBefore.cpu) * 1000 / time.Duration(res.OK)
		if t.broker != 0 {
			m.brokerPer1k = (procUsage(t.broker).cpu - brokerBefore.cpu) * 1000 / time.Duration(res.OK)
		}
	}
	return m
}

func run(o options) (string, error) {
	tmp, err := os.MkdirTemp("", "vocals-bench")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	self, err := os.Executable()
	if err != nil {
		return "", err
	}

	// The external server, and the streams the naive bridge and the broker
	// ceiling write to, configured like the bridge's own.
	natsAddr := freeAddr()
	host, port, _ := net.SplitHostPort(natsAddr)
	natsCmd := exec.Command(o.natsServer, "-js", "-sd", filepath.Join(tmp, "nats"), "-a", host, "-p", port)
	if err := natsCmd.Start(); err != nil {
		return "", fmt.Errorf("nats-server: %w", err)
	}
	defer func() { _ = natsCmd.Process.Kill(); _ = natsCmd.Wait() }()
	natsURL := "nats://" + natsAddr
	nc, js, err := connect(natsURL)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	for _, p := range []struct{ name, prefix string }{{"NAIVE", "naive"}, {"PEER", "peer"}, {"CEILING", "ceiling"}} {
		if err := ensure(js, p.name, p.prefix, 1); err != nil {
			return "", err
		}
	}

	var results []measurement
	closed := []int{16, 64, 256}
	rates := []int{1000, 2000, 5000}
	if o.quick {
		closed, rates = []int{4}, []int{200}
	}
	// Open loop first, on a fresh process, so the peak RSS of a rate is not
	// what the closed-loop runs at concurrency 256 left behind.
	runTarget := func(t *target, openLoop bool) {
		defer t.stop()
		if openLoop {
			for _, r := range rates {
				results = append(results, measure(t, fmt.Sprintf("open %d/s", r), func() load.Result {
					return load.Open(t.url, r, o.duration, 4096, callback(fmt.Sprintf("%so%d", t.name[:1], r)))
				}))
			}
		}
		for _, c := range closed {
			results = append(results, measure(t, fmt.Sprintf("closed c=%d", c), func() load.Result {
				return load.Closed(t.url, c, o.duration, callback(fmt.Sprintf("%sc%d", t.name[:1], c)))
			}))
		}
	}

	bridgeEnv := func(extra ...string) []string {
		return append([]string{
			"VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=" + hmacKey, "VOCALS_BRIDGE_RATE_LIMIT=0", "VOCALS_BRIDGE_LOG_LEVEL=info",
		}, extra...)
	}
	startBridge := func(name string, env ...string) (*target, error) {
		pub, admin := freeAddr(), freeAddr()
		cmd := exec.Command(o.bridge)
		cmd.Env = append(bridgeEnv(env...), "VOCALS_BRIDGE_HTTP_ADDR="+pub, "VOCALS_BRIDGE_ADMIN_ADDR="+admin,
			"VOCALS_BRIDGE_DATA_DIR="+filepath.Join(tmp, name))
		return startProcess(name, "http://"+pub+"/callbacks/vocals", cmd)
	}
	if o.sideBySide {
		inter, err := interleaved(o, self, natsURL, natsCmd.Process.Pid, startBridge)
		if err != nil {
			return "", err
		}
		return renderInterleaved(inter) + renderTargets(inter, nil), nil
	}

	addr := freeAddr()
	t, err := startProcess("http-ceiling", "http://"+addr+"/callbacks/vocals", exec.Command(self, "serve-ceiling", addr))
	if err != nil {
		return "", err
	}
	runTarget(t, false)

	addr = freeAddr()
	if t, err = startProcess("naive", "http://"+addr+"/callbacks/vocals", exec.Command(self, "serve-naive", addr, natsURL)); err != nil {
		return "", err
	}
	t.broker = natsCmd.Process.Pid
	runTarget(t, true)

	if t, err = startBridge("bridge-external", "VOCALS_BRIDGE_NATS_URL="+natsURL); err != nil {
		return "", err
	}
	t.broker = natsCmd.Process.Pid
	runTarget(t, true)
	// The embedded server listens on loopback, as in the default
	// configuration, and the bridge connects through that listener.
	if t, err = startBridge("bridge-embedded", "VOCALS_BRIDGE_EMBEDDED_NATS_ADDR="+freeAddr()); err != nil {
		return "", err
	}
	runTarget(t, true)

	inter, err := interleaved(o, self, natsURL, natsCmd.Process.Pid, startBridge)
	if err != nil {
		return "", err
	}

	pubs := []int{16, 64}
	if o.quick {
		pubs = []int{4}
	}
	broker := brokerCeiling(js, "", pubs, true, o.duration, natsCmd.Process.Pid)
	// The embedded server fsyncs before it acknowledges by default: its
	// ceiling is a server with sync_interval: always, 16 sync publishers.
	syncAlways, err := syncAlwaysCeiling(o, tmp, pubs[0])
	if err != nil {
		return "", err
	}
	writers := []int{1, 64}
	if o.quick {
		writers = []int{1, 4}
	}
	disk, err := diskCeiling(tmp, writers, o.duration)
	if err != nil {
		return "", err
	}

	// The same bridge on a three-node cluster with an R3 stream, beside its
	// R1 run above.
	var replicated []measurement
	clusterURL, stopCluster, err := startCluster(o.natsServer, tmp)
	if err != nil {
		return "", err
	}
	if t, err = startBridge("bridge-r3", "VOCALS_BRIDGE_NATS_URL="+clusterURL, "VOCALS_BRIDGE_STREAM_REPLICAS=3"); err != nil {
		stopCluster()
		return "", err
	}
	for _, c := range closed {
		replicated = append(replicated, measure(t, fmt.Sprintf("closed c=%d", c), func() load.Result {
			return load.Closed(t.url, c, o.duration, callback(fmt.Sprintf("R%d", c)))
		}))
	}
	t.stop()
	stopCluster()

	// A growing stream: one bridge process measured on an empty VOCALS
	// stream and again after each fill, to show latency and memory flat.
	var large []measurement
	if o.fill > 0 {
		if err := ensure(js, "VOCALS", "vocals", 1); err != nil {
			return "", err
		}
		if t, err = startBridge("bridge-external-growing", "VOCALS_BRIDGE_NATS_URL="+natsURL); err != nil {
			return "", err
		}
		c := 64
		if o.quick {
			c = 4
		}
		stored := 0
		for _, target := range []int{0, o.fill / 4, o.fill / 2, o.fill} {
			fillTime := fill(js, stored, target)
			stored = target
			large = append(large, measure(t, fmt.Sprintf("closed c=%d, %d filler events stored (filled in %s)", c, stored, fillTime.Round(time.Second)), func() load.Result {
				return load.Closed(t.url, c, o.duration, callback(fmt.Sprintf("G%d", stored)))
			}))
		}
		t.stop()
	}
	natsUsage := procUsage(natsCmd.Process.Pid)

	return render(o, results, inter, broker, syncAlways, disk, large, replicated, natsUsage), nil
}

// ratio is a/x to two places, or n/a without a base.
func ratio(a, x float64) string {
	if x == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/x)
}

// brokerCell is a broker CPU figure, or "-" when there is no separate broker.
func brokerCell(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", msf(d))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startCluster runs three routed nats-server processes with JetStream and
// returns their URLs once the cluster answers JetStream requests.
func startCluster(bin, tmp string) (string, func(), error) {
	var cmds []*exec.Cmd
	stop := func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	clients, routes := make([]string, 3), make([]string, 3)
	for i := range clients {
		clients[i], routes[i] = freeAddr(), freeAddr()
	}
	for i := range clients {
		host, port, _ := net.SplitHostPort(clients[i])
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, "nats://"+r)
			}
		}
		cmd := exec.Command(bin, "-js", "-sd", filepath.Join(tmp, fmt.Sprintf("cluster%d", i)), "-a", host, "-p", port,
			"-n", fmt.Sprintf("n%d", i), "--cluster_name", "bench", "--cluster", "nats://"+routes[i], "--routes", strings.Join(peers, ","))
		if err := cmd.Start(); err != nil {
			stop()
			return "", nil, err
		}
		cmds = append(cmds, cmd)
	}
	urls := "nats://" + strings.Join(clients, ",nats://")
	nc, js, err := connect(urls)
	if err != nil {
		stop()
		return "", nil, err
	}
	defer nc.Close()
	for i := 0; i < 300; i++ { // until there is a meta leader, up to 30 s
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return urls, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("cluster not ready: %w", err)
}

func connect(url string) (*nats.Conn, jetstream.JetStream, error) {
	var err error
	for i := 0; i < 100; i++ {
		var nc *nats.Conn
		if nc, err = nats.Connect(url); err == nil {
			js, jerr := jetstream.New(nc)
			return nc, js, jerr
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, nil, err
}

func ensure(js jetstream.JetStream, name, prefix string, replicas int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return publish.EnsureStream(ctx, js, publish.StreamSpec{Name: name, SubjectPrefix: prefix, Replicas: replicas,
		MaxAge: 14 * 24 * time.Hour, Duplicates: 30 * time.Minute})
}

// diskResult is one run of the disk's ceiling.
type diskResult struct {
	writers               int
	rate, fsyncsPerRecord float64
	cpuPer1k              time.Duration
}

// diskCeiling measures what the disk allows a log that fsyncs before it
// answers: writers goroutines each append a 1.3 KB record and wait; one
// committer writes whatever waits in one write and one fdatasync, then
// answers them all (group commit).
func diskCeiling(dir string, writers []int, d time.Duration) ([]diskResult, error) {
	rec := []byte(strings.Repeat("x", 1300))
	var out []diskResult
	for _, n := range writers {
		f, err := os.CreateTemp(dir, "disk-ceiling-*.log")
		if err != nil {
			return nil, err
		}
		reqs, done := make(chan chan error, n), make(chan struct{})
		var syncs atomic.Int64
		go func() {
			buf := make([]byte, 0, n*len(rec))
			for {
				var batch []chan error
				select {
				case r := <-reqs:
					batch = append(batch, r)
				case <-done:
					return
				}
				for len(batch) < n {
					select {
					case r := <-reqs:
						batch = append(batch, r)
						continue
					default:
					}
					break
				}
				buf = buf[:0]
				for range batch {
					buf = append(buf, rec...)
				}
				_, err := f.Write(buf)
				if err == nil {
					err = syscall.Fdatasync(int(f.Fd()))
				}
				syncs.Add(1)
				for _, r := range batch {
					r <- err
				}
			}
		}()
		start, before := time.Now(), procUsage(os.Getpid())
		end := start.Add(d)
		counts := make(chan int64, n)
		for range n {
			go func() {
				var c int64
				ack := make(chan error, 1)
				for time.Now().Before(end) {
					reqs <- ack
					if <-ack == nil {
						c++
					}
				}
				counts <- c
			}()
		}
		var total int64
		for range n {
			total += <-counts
		}
		elapsed, cpu := time.Since(start), procUsage(os.Getpid()).cpu-before.cpu
		close(done)
		_ = f.Close()
		_ = os.Remove(f.Name())
		r := diskResult{writers: n, rate: float64(total) / elapsed.Seconds()}
		if total > 0 {
			r.fsyncsPerRecord, r.cpuPer1k = float64(syncs.Load())/float64(total), cpu*1000/time.Duration(total)
		}
		out = append(out, r)
	}
	return out, nil
}

// brokerResult is one broker-ceiling run.
type brokerResult struct {
	mode string
	rate float64
	// CPU per 1,000 messages of the publishers (this process) and of the
	// nats-server.
	publisherPer1k, brokerPer1k time.Duration
}

// syncAlwaysCeiling measures a nats-server of its own that fsyncs every
// message before acknowledging it, with n sync publishers.
func syncAlwaysCeiling(o options, tmp string, n int) ([]brokerResult, error) {
	addr := freeAddr()
	conf := filepath.Join(tmp, "sync-always.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listen: %q\njetstream { store_dir: %q, sync_interval: always }\n",
		addr, filepath.Join(tmp, "nats-sync-always")), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(o.natsServer, "-c", conf)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("nats-server (sync always): %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	nc, js, err := connect("nats://" + addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if err := ensure(js, "CEILING", "ceiling", 1); err != nil {
		return nil, err
	}
	return brokerCeiling(js, ", sync_interval always", []int{n}, false, o.duration, cmd.Process.Pid), nil
}

// brokerCeiling publishes events of the bridge's size straight to
// JetStream: sync with each count of publishers, then async if asked.
func brokerCeiling(js jetstream.JetStream, label string, pubs []int, async bool, duration time.Duration, brokerPid int) []brokerResult {
	self := os.Getpid()
	result := func(mode string, n int64, start time.Time, pub, broker usage) brokerResult {
		r := brokerResult{mode: mode, rate: float64(n) / time.Since(start).Seconds()}
		if n > 0 {
			r.publisherPer1k = (procUsage(self).cpu - pub.cpu) * 1000 / time.Duration(n)
			r.brokerPer1k = (procUsage(brokerPid).cpu - broker.cpu) * 1000 / time.Duration(n)
		}
		return r
	}
	payload := []byte(strings.Repeat("x", 1300)) // about one built complete event
	var out []brokerResult
	for _, n := range pubs {
		var count int64
		var mu = make(chan int64, n)
		end := time.Now().Add(duration)
		start, pub, broker := time.Now(), procUsage(self), procUsage(brokerPid)
		for w := 0; w < n; w++ {
			go func(w int) {
				var c int64
				for i := 0; time.Now().Before(end); i++ {
					id := fmt.Sprintf("s%d-%d-%d", n, w, i)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := js.PublishMsg(ctx, &nats.Msg{Subject: "ceiling." + id + ".complete", Data: payload}, jetstream.WithMsgID(id))
					cancel()
					if err == nil {
						c++
					}
				}
				mu <- c
			}(w)
		}
		for w := 0; w < n; w++ {
			count += <-mu
		}
		out = append(out, result(fmt.Sprintf("sync, %d publishers%s", n, label), count, start, pub, broker))
	}
	if !async {
		return out
	}
	start, pub, broker := time.Now(), procUsage(self), procUsage(brokerPid)
	end := start.Add(duration)
	var sent int64
	for i := 0; time.Now().Before(end); i++ {
		id := fmt.Sprintf("a-%d", i)
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: "ceiling." + id + ".complete", Data: payload}, jetstream.WithMsgID(id)); err != nil {
			break
		}
		sent++
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
	}
	out = append(out, result("async", sent, start, pub, broker))
	return out
}

// fill stores events from..to-1 in VOCALS, small ones, through async
// publishes, and returns how long that took.
func fill(js jetstream.JetStream, from, to int) time.Duration {
	payload := []byte(`{"filler":true}`)
	start := time.Now()
	for i := from; i < to; i++ {
		id := fmt.Sprintf("fill%09d", i)
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: "vocals." + id + ".complete", Data: payload}, jetstream.WithMsgID(id)); err != nil {
			time.Sleep(10 * time.Millisecond) // too many pending acks: let them drain
			i--
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
	}
	return time.Since(start)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", msf(d)) }

// msf is d in (fractional) milliseconds.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// budget writes where the CPU of one closed-loop scenario went, and what
// the throughput targets leave the bridge and its broker to spend. On two
// shared cores the closed loop is bound by CPU, so throughput is about
// (cores in use) / (CPU per callback, load generator included): a target
// ratio r against a baseline caps the bridge's and its broker's CPU per
// callback at (baseline's total) / r minus the bridge's load-generator cost.
func budget(results []measurement, broker []brokerResult, scenario string) string {
	get := func(target string) (measurement, bool) {
		for _, m := range results {
			if m.target == target && m.scenario == scenario {
				return m, m.res.OK > 0
			}
		}
		return measurement{}, false
	}
	total := func(m measurement) float64 { return msf(m.loadPer1k) + msf(m.cpuPer1k) + max(0, msf(m.brokerPer1k)) }
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Where the CPU goes (%s, ms per 1,000 callbacks)\n\n", scenario)
	b.WriteString("| target | load generator | target | broker | total | cores busy |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, name := range []string{"http-ceiling", "naive", "bridge-external", "bridge-embedded"} {
		m, ok := get(name)
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %s | %.0f | %.2f |\n", name, msf(m.loadPer1k), msf(m.cpuPer1k), brokerCell(m.brokerPer1k),
			total(m), m.res.Throughput()*total(m)/1e6)
	}
	ceiling, okC := get("http-ceiling")
	naive, okN := get("naive")
	bridge, okB := get("bridge-external")
	if !okC || !okN || !okB {
		return b.String()
	}
	own := msf(bridge.cpuPer1k) + msf(bridge.brokerPer1k)
	fmt.Fprintf(&b, "\nWith the cores busy, throughput follows the total. The external bridge and its broker spent %.0f ms per 1,000 callbacks. "+
		"To reach the naive bridge's throughput they could spend %.0f; to reach 0.7 of the HTTP ceiling, %.0f, "+
		"while the ceiling's server alone spent %.0f and the naive bridge's broker alone %.0f.",
		own, total(naive)-msf(bridge.loadPer1k), total(ceiling)/0.7-msf(bridge.loadPer1k), msf(ceiling.cpuPer1k), msf(naive.brokerPer1k))
	if len(broker) > 1 {
		r := broker[len(broker)-2] // sync, the most publishers
		fmt.Fprintf(&b, " At its own ceiling (%s) the broker spent %.0f ms per 1,000 events and the publishers %.0f.", r.mode, msf(r.brokerPer1k), msf(r.publisherPer1k))
	}
	b.WriteString("\n")
	return b.String()
}

func render(o options, results []measurement, inter []interleavedRun, broker, syncAlways []brokerResult, disk []diskResult, large, replicated []measurement, natsUsage usage) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (`bridge/bench/cmd/vocals-bench`) on %s, %s, %d CPUs, %s, host %q, %s per measurement%s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.Version(), host, o.duration,
		map[bool]string{true: " (QUICK SMOKE RUN: numbers mean nothing)", false: ""}[o.quick])
	b.WriteString("The load generator shares the machine with the target; compare ratios within this run, not absolute numbers across runs.\n\n")
	b.WriteString("Targets: **http-ceiling** (Echo answering 200, nothing else), **naive** (net/http, json decode, one sync JetStream publish with Nats-Msg-Id), " +
		"**bridge-external** and **bridge-embedded** (the real bridge, every feature on: HMAC verification and replay cache, decoding and validation, " +
		"CloudEvent with body hash, dedup, metrics, Info logging, spool enabled; against a separate nats-server, and its embedded one listening on loopback as in the default configuration). " +
		"Each request is a ~600-byte signed complete callback with a fresh task id. " +
		"Each target runs its open-loop rates first, then the closed loop; peak RSS is per scenario (the process's high-water mark is reset before each).\n\n")

	b.WriteString("CPU is each target process's own; broker CPU is the separate nats-server's over the same measurement (the embedded bridge's broker is in its own CPU).\n\n")
	b.WriteString("## Closed loop (throughput)\n\n| target | scenario | callbacks/s | p50 ms | p99 ms | errors | CPU ms / 1k | broker CPU ms / 1k | load generator CPU ms / 1k | peak RSS MiB |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, m := range results {
		if strings.HasPrefix(m.scenario, "closed") {
			fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %d | %.0f | %s | %.0f | %.0f |\n", m.target, m.scenario, m.res.Throughput(),
				ms(m.res.Percentile(50)), ms(m.res.Percentile(99)), m.res.Errors, msf(m.cpuPer1k),
				brokerCell(m.brokerPer1k), msf(m.loadPer1k), float64(m.peakRSS)/(1<<20))
		}
	}
	b.WriteString("\n## Open loop (latency, measured from when each request was due)\n\n| target | rate | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | CPU ms / 1k | broker CPU ms / 1k | peak RSS MiB |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, m := range results {
		if strings.HasPrefix(m.scenario, "open") {
			fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %s | %s | %d | %.0f | %s | %.0f |\n", m.target, strings.TrimPrefix(m.scenario, "open "), m.res.Throughput(),
				ms(m.res.Percentile(50)), ms(m.res.Percentile(90)), ms(m.res.Percentile(99)), ms(m.res.Percentile(99.9)), m.res.Errors,
				msf(m.cpuPer1k), brokerCell(m.brokerPer1k), float64(m.peakRSS)/(1<<20))
		}
	}
	b.WriteString("\n## Broker ceiling (direct JetStream publishes of a 1.3 KB event, same stream settings)\n\n| mode | msgs/s | broker CPU ms / 1k | publishers' CPU ms / 1k |\n| --- | ---: | ---: | ---: |\n")
	for _, r := range append(append([]brokerResult(nil), broker...), syncAlways...) {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f |\n", r.mode, r.rate, msf(r.brokerPer1k), msf(r.publisherPer1k))
	}
	b.WriteString("\nThe separate nats-server runs with its default sync_interval (fsync every two minutes), as bridge-external's does. " +
		"bridge-embedded (embedded_journal, the default) fsyncs each event in its journal, where concurrent callbacks share fsyncs, while its server fsyncs every second: " +
		"its ceiling is the disk's group commit below; the sync_interval always row is what it was before the journal (embedded_journal: false).\n")
	b.WriteString("\n## Disk ceiling (group commit: 1.3 KB records appended to one file, one write and one fdatasync per batch of whatever waits)\n\n" +
		"| writers | records/s | fsyncs per record | CPU ms / 1k |\n| ---: | ---: | ---: | ---: |\n")
	for _, r := range disk {
		fmt.Fprintf(&b, "| %d | %.0f | %.3f | %.1f |\n", r.writers, r.rate, r.fsyncsPerRecord, float64(r.cpuPer1k)/float64(time.Millisecond))
	}
	b.WriteString("\nWhat the disk allows a log that fsyncs before it answers: one writer is one fsync per record; many writers share one, as bridge-embedded's journal does.\n")
	find := func(target, scenario string) float64 {
		for _, m := range results {
			if m.target == target && m.scenario == scenario {
				return m.res.Throughput()
			}
		}
		return 0
	}
	c := "closed c=64"
	if o.quick {
		c = "closed c=4"
	}
	syncCeiling := 0.0
	if len(broker) > 1 {
		syncCeiling = broker[len(broker)-2].rate
	}
	b.WriteString("\n## Ratios (" + c + ")\n\n| | bridge-external | bridge-embedded |\n| --- | ---: | ---: |\n")
	for _, row := range []struct {
		name string
		base float64
	}{{"/ naive", find("naive", c)}, {"/ HTTP ceiling", find("http-ceiling", c)}, {"/ broker ceiling (sync)", syncCeiling}} {
		fmt.Fprintf(&b, "| bridge %s | %s | %s |\n", row.name, ratio(find("bridge-external", c), row.base), ratio(find("bridge-embedded", c), row.base))
	}
	if len(syncAlways) > 0 {
		fmt.Fprintf(&b, "| bridge / broker ceiling (%s) | – | %s |\n", syncAlways[0].mode, ratio(find("bridge-embedded", c), syncAlways[0].rate))
	}
	if len(disk) > 0 {
		last := disk[len(disk)-1]
		fmt.Fprintf(&b, "| bridge / disk ceiling (group commit, %d writers) | – | %s |\n", last.writers, ratio(find("bridge-embedded", c), last.rate))
	}
	b.WriteString(budget(results, broker, c))
	b.WriteString(renderInterleaved(inter))
	b.WriteString(renderTargets(inter, results))
	if len(replicated) > 0 {
		b.WriteString("\n## R3 on a three-node cluster against R1 (bridge, closed loop)\n\n| scenario | R1 callbacks/s | R3 callbacks/s | R3 / R1 | R3 p99 ms |\n| --- | ---: | ---: | ---: | ---: |\n")
		for _, m := range replicated {
			r1 := find("bridge-external", m.scenario)
			fmt.Fprintf(&b, "| %s | %.0f | %.0f | %s | %s |\n", m.scenario, r1, m.res.Throughput(), ratio(m.res.Throughput(), r1), ms(m.res.Percentile(99)))
		}
		b.WriteString("\nThe three nodes run on the same two cores as everything else, so R3 here pays for replication in CPU as well as in round trips.\n")
	}
	if len(large) > 0 {
		b.WriteString("\n## With a growing stream (one bridge-external process throughout)\n\n| scenario | callbacks/s | p50 ms | p99 ms | RSS after MiB | peak RSS MiB |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
		for _, m := range large {
			fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %.0f | %.0f |\n", m.scenario, m.res.Throughput(), ms(m.res.Percentile(50)), ms(m.res.Percentile(99)),
				float64(m.rss)/(1<<20), float64(m.peakRSS)/(1<<20))
		}
		fmt.Fprintf(&b, "\nThe external nats-server's own peak RSS over the whole run: %.0f MiB.\n", float64(natsUsage.peakRSS)/(1<<20))
	}
	if o.micro != "" {
		if raw, err := os.ReadFile(o.micro); err == nil {
			b.WriteString("\n## Go micro-benchmarks (`go test -bench . -benchmem`)\n\n```\n")
			for _, line := range strings.Split(string(raw), "\n") {
				if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") {
					b.WriteString(line + "\n")
				}
			}
			b.WriteString("```\n")
		}
	}
	return b.String()
}
