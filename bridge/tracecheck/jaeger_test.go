package tracecheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
)

// free is a free loopback port below the ephemeral range, so no outgoing
// connection takes it before the process it is handed to binds it.
func free(t *testing.T) int { return natstest.FreePort(t) }

// build builds a program into the test's temporary directory: Jaeger from
// the tool of the module in jaeger/, the bridge from the repository.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
	return out
}

// start runs bin until the test ends, its output kept for a failure.
func start(t *testing.T, bin string, env []string, args ...string) *bytes.Buffer {
	t.Helper()
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
			mu.Unlock()
		}
	})
	return &out
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// waitHTTP waits until url answers 200.
func waitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	for end := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(end) {
			t.Fatalf("%s did not answer within %s", url, within)
		}
	}
}

const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
    ui:
      assets_path: %q
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 1000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// jaegerTrace is what Jaeger's query API answers for one trace.
type jaegerTrace struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			ProcessID     string `json:"processID"`
			References    []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			Tags []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

// providerSpan is the provider's side of every trace: a span id of its own.
const providerSpan = "00f067aa0ba902b7"

// token and secretMsg must never appear in a span: the URL token, and a
// piece of the body.
const token, secretMsg = "s3cret-callback-token", "body-words-not-for-spans"

// postTraced posts a callback for task with the provider's traceparent in
// trace traceID.
func postTraced(t *testing.T, port int, path, task, traceID string) {
	t.Helper()
	body := `{"code":200,"msg":"` + secretMsg + `","data":{"callbackType":"complete","task_id":"` + task + `","data":[]}}`
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+providerSpan+"-01")
	req.Header.Set("tracestate", "provider=sim")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback answered %d %s", resp.StatusCode, answer)
	}
}

// readTrace waits until Jaeger's query API holds the trace with at least
// spans spans.
func readTrace(t *testing.T, query, traceID string, spans int) jaegerTrace {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var tr jaegerTrace
		if resp, err := http.Get(query + "/api/traces/" + traceID); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&tr)
			resp.Body.Close()
		}
		if len(tr.Data) == 1 && len(tr.Data[0].Spans) >= spans {
			return tr
		}
		if time.Now().After(end) {
			t.Fatalf("Jaeger has %+v for trace %s, want %d spans", tr, traceID, spans)
		}
	}
}

// A callback posted with a traceparent becomes one trace in Jaeger, from
// the provider's span through the bridge's HTTP span, its decode and its
// publish, to the consumer's span and a span the handler starts. One
// bridge exports over OTLP/HTTP, another over OTLP/gRPC.
func TestTraceReachesJaeger(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	jaeger := build(t, "jaeger", "github.com/jaegertracing/jaeger/cmd/jaeger") // its own module
	bridge := build(t, root, "./bridge/cmd/vocals-bridge")

	ui, qgrpc, ogrpc, ohttp := free(t), free(t), free(t), free(t)
	cfg := filepath.Join(t.TempDir(), "jaeger.yaml")
	// Jaeger's Go module has no UI assets (its release build embeds them):
	// TRACECHECK_UI_ASSETS names a jaeger-ui build to serve, for the
	// screenshot.
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(jaegerConfig, ui, qgrpc, os.Getenv("TRACECHECK_UI_ASSETS"), ogrpc, ohttp)), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, jaeger, nil, "--config", cfg)
	query := fmt.Sprintf("http://127.0.0.1:%d", ui)
	waitHTTP(t, query+"/api/services", 60*time.Second)

	// Over gRPC first: a bridge that only has to show its server span.
	grpcPublic, grpcAdmin := free(t), free(t)
	start(t, bridge, []string{
		fmt.Sprintf("VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:%d", grpcPublic),
		fmt.Sprintf("VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:%d", grpcAdmin),
		fmt.Sprintf("VOCALS_BRIDGE_EMBEDDED_NATS_ADDR=127.0.0.1:%d", free(t)),
		"VOCALS_BRIDGE_DATA_DIR=" + t.TempDir(),
		fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", ogrpc),
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_SERVICE_NAME=vocals-bridge-grpc",
		"OTEL_BSP_SCHEDULE_DELAY=100",
	})
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", grpcAdmin), 30*time.Second)
	const grpcTrace = "5bf92f3577b34da6a3ce929d0e0e4737"
	postTraced(t, grpcPublic, "/callbacks/vocals", "traced0", grpcTrace)

	// Over HTTP (the default): the whole way to a consumer.
	public, admin, natsPort := free(t), free(t), free(t)
	start(t, bridge, []string{
		fmt.Sprintf("VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:%d", public),
		fmt.Sprintf("VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:%d", admin),
		fmt.Sprintf("VOCALS_BRIDGE_EMBEDDED_NATS_ADDR=127.0.0.1:%d", natsPort),
		"VOCALS_BRIDGE_DATA_DIR=" + t.TempDir(),
		fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", ohttp),
		"OTEL_SERVICE_NAME=vocals-bridge",
		"VOCALS_BRIDGE_CALLBACK_TOKEN=" + token,
		"OTEL_BSP_SCHEDULE_DELAY=100",
	})
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", admin), 30*time.Second)

	// The consuming service's own tracer provider, exporting to Jaeger.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", ohttp)), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("mixer"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	defer func() { _ = tp.Shutdown(context.Background()) }()

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	postTraced(t, public, "/callbacks/vocals/"+token, "traced1", traceID)

	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", natsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan consumer.Event, 1)
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- consumer.Consume(cctx, js, consumer.Options{Durable: "mixer"}, func(hctx context.Context, e consumer.Event) error {
			_, span := otel.Tracer("mixer").Start(hctx, "mix tracks") // the handler's own work
			span.End()
			select {
			case got <- e:
			default:
			}
			return nil
		})
	}()
	var e consumer.Event
	select {
	case e = <-got:
	case <-ctx.Done():
		t.Fatal("no event consumed")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if tp, _ := e.CloudEvent.Extensions()["traceparent"].(string); !strings.HasPrefix(tp, "00-"+traceID+"-") {
		t.Fatalf("the event's traceparent is %q", tp)
	}
	if ts, _ := e.CloudEvent.Extensions()["tracestate"].(string); ts != "provider=sim" {
		t.Errorf("the event's tracestate is %q", ts)
	}

	// The latency histograms lead to the trace: an OpenMetrics scrape
	// shows its id as the exemplar of the buckets it landed in.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", admin), nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, metric := range []string{`vocals_bridge_http_request_duration_seconds_bucket{code="200",listener="public",route="/callbacks/vocals/:token"`, `vocals_bridge_publish_duration_seconds_bucket{outcome="published"`} {
		found := false
		for _, line := range strings.Split(string(scrape), "\n") {
			found = found || strings.HasPrefix(line, metric) && strings.Contains(line, `# {trace_id="`+traceID+`"}`)
		}
		if !found {
			t.Errorf("no bucket of %s} has the trace as its exemplar:\n%s", metric, scrape)
		}
	}

	// The gRPC bridge's trace arrived too.
	grpcSpans := map[string]string{} // operation -> service
	tr0 := readTrace(t, query, grpcTrace, 3)
	for _, s := range tr0.Data[0].Spans {
		grpcSpans[s.OperationName] = tr0.Data[0].Processes[s.ProcessID].ServiceName
	}
	if grpcSpans["POST /callbacks/vocals"] != "vocals-bridge-grpc" || grpcSpans["publish"] == "" {
		t.Errorf("the trace exported over gRPC: %+v", tr0)
	}

	// Jaeger holds one trace: the bridge's spans under the provider's,
	// the consumer's under the bridge's, the handler's under the consumer's.
	want := []string{"POST /callbacks/vocals", "decode", "publish", "process vocals", "mix tracks"}
	tr := readTrace(t, query, traceID, len(want))
	// The spans name the route and the task, never the token or the body.
	tags := map[string]string{}
	for _, sp := range tr.Data[0].Spans {
		for _, tag := range sp.Tags {
			v := fmt.Sprint(tag.Value)
			if strings.Contains(v, token) || strings.Contains(v, secretMsg) {
				t.Errorf("span %q tag %s = %q", sp.OperationName, tag.Key, v)
			}
			if sp.OperationName == "POST /callbacks/vocals" {
				tags[tag.Key] = v
			}
		}
	}
	if tags["vocals.task_id"] != "traced1" || tags["http.route"] != "/callbacks/vocals" || tags["vocals.outcome"] != "published" {
		t.Errorf("the server span's tags %v", tags)
	}
	byName := map[string]string{} // operation -> span id
	parent := map[string]string{} // span id -> parent span id
	service := map[string]string{}
	for _, s := range tr.Data[0].Spans {
		byName[s.OperationName] = s.SpanID
		service[s.OperationName] = tr.Data[0].Processes[s.ProcessID].ServiceName
		// Jaeger shows a span whose parent is also its link (the consumer's)
		// as FOLLOWS_FROM, any other parent as CHILD_OF.
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" || r.RefType == "FOLLOWS_FROM" {
				parent[s.SpanID] = r.SpanID
			}
		}
	}
	for _, name := range want {
		if byName[name] == "" {
			t.Errorf("no span %q in the trace", name)
		}
	}
	checks := []struct{ child, parent string }{
		{"POST /callbacks/vocals", ""}, {"decode", "POST /callbacks/vocals"}, {"publish", "POST /callbacks/vocals"},
		{"process vocals", "POST /callbacks/vocals"}, {"mix tracks", "process vocals"},
	}
	for _, c := range checks {
		want := providerSpan
		if c.parent != "" {
			want = byName[c.parent]
		}
		if got := parent[byName[c.child]]; got != want {
			t.Errorf("span %q is a child of %q, want %q (%s); the trace: %+v", c.child, got, want, c.parent, tr.Data[0].Spans)
		}
	}
	if service["POST /callbacks/vocals"] != "vocals-bridge" || service["process vocals"] != "mixer" {
		t.Errorf("services %v", service)
	}
	// What an operator sees: TRACECHECK_SCREENSHOT=file.png takes the
	// trace's page in Jaeger's UI with a headless Chromium.
	if shot := os.Getenv("TRACECHECK_SCREENSHOT"); shot != "" {
		out, err := exec.CommandContext(ctx, "chromium", "--headless", "--no-sandbox", "--disable-gpu",
			"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir="+t.TempDir(),
			"--hide-scrollbars", "--window-size=1400,420", "--virtual-time-budget=8000",
			"--screenshot="+shot, query+"/trace/"+traceID).CombinedOutput()
		if err != nil {
			t.Fatalf("screenshot: %v\n%s", err, out)
		}
	}
}
