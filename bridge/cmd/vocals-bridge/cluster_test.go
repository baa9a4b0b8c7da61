package main_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// natsCluster is three nats-server processes routed into one JetStream
// cluster on loopback.
type natsCluster struct {
	nodes []*natsProc
	urls  string
}

func startCluster(t *testing.T) *natsCluster {
	t.Helper()
	c := &natsCluster{}
	routes := make([]int, 3)
	for i := range routes {
		routes[i] = freePort(t)
	}
	var urls []string
	for i := 0; i < 3; i++ {
		n := &natsProc{port: freePort(t), dir: t.TempDir(), name: fmt.Sprintf("node%d", i)}
		n.url = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, fmt.Sprintf("nats://127.0.0.1:%d", r))
			}
		}
		n.args = []string{"-js", "-sd", n.dir, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port),
			"-n", n.name, "--cluster_name", "vocals",
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", routes[i]), "--routes", strings.Join(peers, ",")}
		c.nodes = append(c.nodes, n)
		urls = append(urls, n.url)
	}
	c.urls = strings.Join(urls, ",")
	for _, n := range c.nodes {
		n.start(t)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n.cmd != nil && n.cmd.ProcessState == nil {
				_ = n.cmd.Process.Kill()
				_ = n.cmd.Wait()
			}
		}
	})
	// The cluster is ready once an R3 stream can be placed on it: a meta
	// leader alone is not enough while the peers are still joining.
	nc, err := nats.Connect(c.urls)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLACEMENT", Subjects: []string{"placement.check"}, Replicas: 3})
		if err == nil {
			err = js.DeleteStream(ctx, "PLACEMENT")
		}
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster not ready after 30s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// node returns the node with the given server name.
func (c *natsCluster) node(name string) *natsProc {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

func streamLeader(t *testing.T, urls string) string {
	t.Helper()
	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := js.Stream(ctx, "VOCALS")
		cancel()
		if err == nil && st.CachedInfo().Cluster != nil && st.CachedInfo().Cluster.Leader != "" {
			return st.CachedInfo().Cluster.Leader
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("stream VOCALS has no leader")
	return ""
}

// Two bridges share an R3 stream on a three-node cluster. Under load, with
// some deliveries repeated to the other bridge, the stream leader is killed
// and restarted, and one bridge is killed and restarted. Every callback
// answered 2xx must be stored exactly once, and no answer may take longer
// than the provider's 15 s.
func TestClusterSurvivesLeaderAndBridgeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	t.Parallel()
	cluster := startCluster(t)
	env := []string{"VOCALS_BRIDGE_NATS_URL=" + cluster.urls, "VOCALS_BRIDGE_STREAM_REPLICAS=3", "VOCALS_BRIDGE_RATE_LIMIT=0"}
	dataB := t.TempDir()
	bridges := []*proc{start(t, t.TempDir(), env...), start(t, dataB, env...)}
	var bridgeMu sync.RWMutex
	bridgeURL := func(i int) string {
		bridgeMu.RLock()
		defer bridgeMu.RUnlock()
		if bridges[i] == nil { // killed: the load balancer sends its share to the other one
			i = 1 - i
		}
		return bridges[i].public
	}

	const tasks = 600 // × 4 stages = 2,400 distinct events, plus 240 repeats
	type job struct {
		task, stage string
		target      int
		repeat      bool
	}
	jobs := make(chan job)
	var (
		sent, acked, refused atomic.Int64
		slowest              atomic.Int64
		ackedMu              sync.Mutex
		ackedKeys            = map[string]bool{}
		refusals             = map[string]int{}
	)
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				body := fmt.Sprintf(`{"code":200,"msg":"ok","data":{"callbackType":%q,"task_id":%q,"data":[]}}`, j.stage, j.task)
				start := time.Now()
				resp, err := client.Post(bridgeURL(j.target)+"/callbacks/vocals", "application/json", strings.NewReader(body))
				d := time.Since(start)
				for {
					old := slowest.Load()
					if int64(d) <= old || slowest.CompareAndSwap(old, int64(d)) {
						break
					}
				}
				sent.Add(1)
				if err != nil { // the provider would retry; not a promise
					refused.Add(1)
					ackedMu.Lock()
					refusals["transport error"]++
					ackedMu.Unlock()
					continue
				}
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					refused.Add(1)
					ackedMu.Lock()
					refusals[resp.Status]++
					ackedMu.Unlock()
					continue
				}
				acked.Add(1)
				ackedMu.Lock()
				ackedKeys[j.task+"."+j.stage] = true
				ackedMu.Unlock()
			}
		}()
	}

	stages := []string{"text", "first", "complete", "error"}
	total := tasks * len(stages)
	var killedLeader *natsProc
	for i := 0; i < total; i++ {
		task, stage := fmt.Sprintf("cl%04d", i/len(stages)), stages[i%len(stages)]
		switch i {
		case total * 3 / 10:
			killedLeader = cluster.node(streamLeader(t, cluster.urls))
			t.Logf("killing stream leader %s after %d callbacks", killedLeader.name, i)
			killedLeader.kill(t)
		case total * 6 / 10:
			t.Logf("restarting %s", killedLeader.name)
			killedLeader.start(t)
		case total * 8 / 10:
			t.Logf("killing bridge B after %d callbacks", i)
			bridgeMu.Lock()
			b := bridges[1]
			bridges[1] = nil
			bridgeMu.Unlock()
			b.kill(t)
		}
		jobs <- job{task: task, stage: stage, target: i % 2}
		if i%10 == 0 { // the provider delivers this one again, to the other bridge
			jobs <- job{task: task, stage: stage, target: 1 - i%2, repeat: true}
		}
	}
	close(jobs)
	wg.Wait()

	// B comes back on its data dir and drains what it accepted.
	b := start(t, dataB, env...)
	bridgeMu.Lock()
	bridges[1] = b
	bridgeMu.Unlock()
	waitDrained(t, bridges[0])
	waitDrained(t, bridges[1])

	t.Logf("sent %d, acknowledged %d, refused %d %v, slowest answer %s", sent.Load(), acked.Load(), refused.Load(), refusals, time.Duration(slowest.Load()))
	if time.Duration(slowest.Load()) > 15*time.Second {
		t.Errorf("an answer took %s, past the provider's timeout", time.Duration(slowest.Load()))
	}
	msgs := streamMessages(t, cluster.urls, ">")
	count := map[string]int{}
	for _, m := range msgs {
		count[strings.TrimPrefix(m.Subject, "vocals.")]++
	}
	for key := range ackedKeys {
		if count[key] != 1 {
			t.Errorf("%s acknowledged but stored %d times", key, count[key])
		}
	}
	for key, n := range count {
		if n != 1 {
			t.Errorf("%s stored %d times", key, n)
		}
	}
	if len(msgs) != len(ackedKeys) && refused.Load() == 0 {
		t.Errorf("stream holds %d events for %d acknowledged (task, stage) pairs", len(msgs), len(ackedKeys))
	}
	if len(ackedKeys) < total*9/10 {
		t.Errorf("only %d of %d events acknowledged", len(ackedKeys), total)
	}
}

// A NATS server that requires an NKey: the bridge connects with
// nats_nkey_file, and without it is refused.
func TestBinaryNATSNKeyAuth(t *testing.T) {
	t.Parallel()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	n := &natsProc{port: freePort(t), dir: t.TempDir(), name: "auth"}
	n.url = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q }\nauthorization { users: [ { nkey: %q } ] }\n", n.port, n.dir, pub)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	n.args = []string{"-c", conf}
	n.start(t)
	t.Cleanup(func() { _ = n.cmd.Process.Kill(); _ = n.cmd.Wait() })

	p := start(t, t.TempDir(), "VOCALS_BRIDGE_NATS_URL="+n.url, "VOCALS_BRIDGE_NATS_NKEY_FILE="+seedFile)
	if code, _ := post(t, p.public, fixture(t, "complete.json")); code != 200 {
		t.Fatalf("callback through an authenticated connection: %d", code)
	}
	if code, _ := get(t, p.admin+"/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	cmd := exec.Command(binary)
	cmd.Env = []string{"VOCALS_BRIDGE_NATS_URL=" + n.url, "VOCALS_BRIDGE_SPOOL_ENABLED=false", "VOCALS_BRIDGE_DATA_DIR=" + t.TempDir(),
		"VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:0", "VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:0"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "authorization") {
		t.Fatalf("without the key: %v\n%s", err, out)
	}
}
