package config_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, warnings, err := config.Load(nil, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if cfg != config.Default() {
		t.Errorf("Load with nothing set differs from Default()")
	}
	if !cfg.Embedded() || cfg.HTTPAddr != ":8080" || cfg.AdminAddr != "127.0.0.1:8081" || cfg.DataDir != "./data" ||
		cfg.Stream != "VOCALS" || cfg.SubjectPrefix != "vocals" || cfg.StreamReplicas != 1 ||
		cfg.StreamDuplicateWindow < 30*time.Minute || cfg.BodyLimit != 1<<20 {
		t.Errorf("defaults differ from the documented contract: %+v", cfg)
	}
}

// Every key appears in the example file, which must load cleanly and hold
// the defaults, so the example documents exactly what the binary does.
func TestExampleFileListsEveryKeyWithDefaults(t *testing.T) {
	path := filepath.Join("..", "..", "..", "config", "vocals-bridge.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings() {
		if _, ok := doc[s.Key]; !ok {
			t.Errorf("config/vocals-bridge.yaml does not list %s", s.Key)
		}
	}
	cfg, _, err := config.Load([]string{"--config", path}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != config.Default() {
		t.Errorf("example file values differ from Default():\n%+v\n%+v", cfg, config.Default())
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	file := writeFile(t, "stream: FROMFILE\nsubject_prefix: file\nstream_replicas: 3\nhttp_addr: \":9000\"\n")
	env := []string{
		"VOCALS_BRIDGE_SUBJECT_PREFIX=env",
		"VOCALS_BRIDGE_STREAM_REPLICAS=5",
		"PATH=/bin",
	}
	args := []string{"--config", file, "--stream-replicas", "2"}
	cfg, _, err := config.Load(args, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stream != "FROMFILE" || cfg.SubjectPrefix != "env" || cfg.StreamReplicas != 2 || cfg.HTTPAddr != ":9000" {
		t.Errorf("precedence wrong: stream=%s prefix=%s replicas=%d http=%s",
			cfg.Stream, cfg.SubjectPrefix, cfg.StreamReplicas, cfg.HTTPAddr)
	}
}

func TestNATSURLList(t *testing.T) {
	cfg, _, err := config.Load(nil, []string{"VOCALS_BRIDGE_NATS_URL=nats://a:4222, nats://b:4222 ,nats://c:4222"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Embedded() {
		t.Error("a NATS URL must turn the embedded server off")
	}
	if got := strings.Join(cfg.NATSServers(), "|"); got != "nats://a:4222|nats://b:4222|nats://c:4222" {
		t.Errorf("servers %q", got)
	}
}

func TestUnknownEnvIsAWarningNotAnError(t *testing.T) {
	_, warnings, err := config.Load(nil, []string{"VOCALS_BRIDGE_PORT=tcp://10.0.0.1:8080", "VOCALS_BRIDGE_STREEM=X"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[1], "VOCALS_BRIDGE_STREEM") {
		t.Errorf("warnings %v", warnings)
	}
}

// tracking is a valid tracking configuration for tests to spoil.
var tracking = []string{
	"VOCALS_BRIDGE_TRACKING_ENABLED=true", "VOCALS_BRIDGE_PROVIDER_BASE_URL=http://127.0.0.1:9", "VOCALS_BRIDGE_PROVIDER_API_KEY=k",
}

// submitCB is a valid submit_callback_url.
const submitCB = "VOCALS_BRIDGE_SUBMIT_CALLBACK_URL=https://bridge.invalid/callbacks/vocals?token=t"

// The submit proxy needs no token on loopback, and one elsewhere.
func TestTrackingConfigIsValid(t *testing.T) {
	for _, submit := range [][]string{
		{"VOCALS_BRIDGE_SUBMIT_ADDR=127.0.0.1:8082"},
		{"VOCALS_BRIDGE_SUBMIT_ADDR=[::1]:8082"},
		{"VOCALS_BRIDGE_SUBMIT_ADDR=localhost:8082", "VOCALS_BRIDGE_SUBMIT_RATE_LIMIT=0"},
		{"VOCALS_BRIDGE_SUBMIT_ADDR=:8082", "VOCALS_BRIDGE_SUBMIT_TOKEN=0123456789abcdef"},
	} {
		env := append(append(append([]string(nil), tracking...), submitCB), submit...)
		if _, _, err := config.Load(nil, env, io.Discard); err != nil {
			t.Errorf("%v: %v", submit, err)
		}
	}
	keyFile := writeFile(t, "from-file\nignored\n")
	cfg, _, err := config.Load(nil, append(tracking[:2:2], "VOCALS_BRIDGE_PROVIDER_API_KEY_FILE="+keyFile), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if key, _ := cfg.ProviderAPIKeyValue(); key != "from-file" {
		t.Errorf("key %q from the file", key)
	}
}

// The allow-list takes names, subdomains, addresses and networks, and
// keeps names lower-case.
func TestParseAllowedHosts(t *testing.T) {
	names, nets, err := config.ParseAllowedHosts(" CDN.Example.com , *.files.example, 127.0.0.1, 10.1.0.0/16,::1 ")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "cdn.example.com,*.files.example" || fmt.Sprint(nets) != "[127.0.0.1/32 10.1.0.0/16 ::1/128]" {
		t.Errorf("names %v, networks %v", names, nets)
	}
}

// Invalid configuration fails with an error that names the key the way the
// user wrote it: variable, flag, or file key.
func TestInvalidConfigNamesTheKey(t *testing.T) {
	tests := map[string]struct {
		args []string
		env  []string
		file string
		want string
	}{
		"replicas env not a number":  {env: []string{"VOCALS_BRIDGE_STREAM_REPLICAS=three"}, want: "VOCALS_BRIDGE_STREAM_REPLICAS"},
		"replicas out of range":      {env: []string{"VOCALS_BRIDGE_STREAM_REPLICAS=7"}, want: "VOCALS_BRIDGE_STREAM_REPLICAS (stream_replicas)"},
		"replicas out of range flag": {args: []string{"--stream-replicas", "7"}, want: "--stream-replicas (stream_replicas)"},
		"replicas out of range file": {file: "stream_replicas: 7\n", want: "c.yaml: stream_replicas"},
		"replicas flag":              {args: []string{"--stream-replicas", "x"}, want: "--stream-replicas"},
		"bad duration":               {env: []string{"VOCALS_BRIDGE_PUBLISH_TIMEOUT=5"}, want: "VOCALS_BRIDGE_PUBLISH_TIMEOUT"},
		"publish timeout too long":   {env: []string{"VOCALS_BRIDGE_PUBLISH_TIMEOUT=20s"}, want: "publish_timeout"},
		"http addr":                  {env: []string{"VOCALS_BRIDGE_HTTP_ADDR=8080"}, want: "http_addr"},
		"same addrs":                 {env: []string{"VOCALS_BRIDGE_ADMIN_ADDR=:8080"}, want: "admin_addr"},
		"prefix wildcard":            {env: []string{"VOCALS_BRIDGE_SUBJECT_PREFIX=vocals.*"}, want: "subject_prefix"},
		"prefix empty token":         {env: []string{"VOCALS_BRIDGE_SUBJECT_PREFIX=a..b"}, want: "subject_prefix"},
		"stream name dot":            {env: []string{"VOCALS_BRIDGE_STREAM=a.b"}, want: "stream"},
		"nats url garbage":           {env: []string{"VOCALS_BRIDGE_NATS_URL=::::"}, want: "nats_url"},
		"nats url only commas":       {env: []string{"VOCALS_BRIDGE_NATS_URL=,,"}, want: "nats_url"},
		"embedded not loopback":      {env: []string{"VOCALS_BRIDGE_EMBEDDED_NATS_ADDR=0.0.0.0:4222"}, want: "embedded_nats_addr"},
		"window longer than age":     {env: []string{"VOCALS_BRIDGE_STREAM_MAX_AGE=10m"}, want: "stream_duplicate_window"},
		"body limit tiny":            {env: []string{"VOCALS_BRIDGE_BODY_LIMIT=10"}, want: "body_limit"},
		"zone":                       {env: []string{"VOCALS_BRIDGE_PROVIDER_TIME_ZONE=Mars/Olympus"}, want: "provider_time_zone"},
		"log level":                  {env: []string{"VOCALS_BRIDGE_LOG_LEVEL=loud"}, want: "log_level"},
		"schema base relative":       {env: []string{"VOCALS_BRIDGE_SCHEMA_BASE_URL=/schemas"}, want: "schema_base_url"},
		"write shorter than pub":     {env: []string{"VOCALS_BRIDGE_WRITE_TIMEOUT=2s"}, want: "write_timeout"},
		"bool":                       {env: []string{"VOCALS_BRIDGE_STREAM_MANAGE=maybe"}, want: "VOCALS_BRIDGE_STREAM_MANAGE"},
		"dlq overlaps events":        {env: []string{"VOCALS_BRIDGE_DEADLETTER_SUBJECT_PREFIX=vocals.dlq"}, want: "deadletter_subject_prefix"},
		"events under dlq":           {env: []string{"VOCALS_BRIDGE_SUBJECT_PREFIX=vocals_dlq.events"}, want: "deadletter_subject_prefix"},
		"dlq same stream":            {env: []string{"VOCALS_BRIDGE_DEADLETTER_STREAM=VOCALS"}, want: "deadletter_stream"},
		"file unknown key":           {file: "stream: A\nstreem: B\n", want: "streem"},
		"file bad value":             {file: "stream_replicas: many\n", want: "stream_replicas"},
		"file nested value":          {file: "stream:\n  name: A\n", want: "stream"},
		"file not yaml":              {file: "{{{", want: "c.yaml"},
		"missing file":               {args: []string{"--config", "/nonexistent/vb.yaml"}, want: "/nonexistent/vb.yaml"},
		"unknown flag":               {args: []string{"--streem", "x"}, want: "streem"},
		"stray argument":             {args: []string{"run"}, want: "run"},
		"submit without tracking":    {env: []string{"VOCALS_BRIDGE_SUBMIT_ADDR=:8082"}, want: "submit_addr"},
		"tracking without provider":  {env: []string{"VOCALS_BRIDGE_TRACKING_ENABLED=true", "VOCALS_BRIDGE_PROVIDER_API_KEY=k"}, want: "provider_base_url"},
		"tracking without key":       {env: append(tracking[:1:1], "VOCALS_BRIDGE_PROVIDER_BASE_URL=http://127.0.0.1:9"), want: "provider_api_key"},
		"key file missing":           {env: append(tracking, "VOCALS_BRIDGE_PROVIDER_API_KEY_FILE=/nonexistent/key"), want: "provider_api_key_file"},
		"poll interval too short":    {env: append(tracking, "VOCALS_BRIDGE_TRACKING_POLL_INTERVAL=200ms"), want: "tracking_poll_interval"},
		"deadline before poll":       {env: append(tracking, "VOCALS_BRIDGE_TRACKING_DEADLINE=1m"), want: "tracking_deadline"},
		"poll rate zero":             {env: append(tracking, "VOCALS_BRIDGE_TRACKING_POLL_RATE=0"), want: "tracking_poll_rate"},
		"announce under events":      {env: append(tracking, "VOCALS_BRIDGE_TRACKING_ANNOUNCE_SUBJECT=vocals.announce"), want: "tracking_announce_subject"},
		"announce under tasks":       {env: append(tracking, "VOCALS_BRIDGE_TRACKING_ANNOUNCE_SUBJECT=vocals_tasks.new"), want: "tracking_announce_subject"},
		"bucket name":                {env: append(tracking, "VOCALS_BRIDGE_TRACKING_BUCKET=a.b"), want: "tracking_bucket"},
		"submit on public addr":      {env: append(tracking, "VOCALS_BRIDGE_SUBMIT_ADDR=:8080", "VOCALS_BRIDGE_SUBMIT_CALLBACK_URL=https://b.invalid/callbacks/vocals"), want: "submit_addr"},
		"submit without callback":    {env: append(tracking, "VOCALS_BRIDGE_SUBMIT_ADDR=:8082"), want: "submit_callback_url"},
		"submit on every address":    {env: append(tracking, "VOCALS_BRIDGE_SUBMIT_ADDR=:8082", submitCB), want: "submit_token"},
		"submit on a LAN address":    {env: append(tracking, "VOCALS_BRIDGE_SUBMIT_ADDR=10.0.0.5:8082", submitCB), want: "submit_token"},
		"submit token too short":     {env: append(tracking, "VOCALS_BRIDGE_SUBMIT_ADDR=:8082", submitCB, "VOCALS_BRIDGE_SUBMIT_TOKEN=short"), want: "VOCALS_BRIDGE_SUBMIT_TOKEN (submit_token)"},
		"submit rate negative":       {env: append(tracking, "VOCALS_BRIDGE_SUBMIT_ADDR=127.0.0.1:8082", submitCB, "VOCALS_BRIDGE_SUBMIT_RATE_LIMIT=-1"), want: "submit_rate_limit"},
		"archive without hosts":      {env: []string{"VOCALS_BRIDGE_ARCHIVE_ENABLED=true"}, want: "archive_allowed_hosts"},
		"archive host not a name":    {env: []string{"VOCALS_BRIDGE_ARCHIVE_ENABLED=true", "VOCALS_BRIDGE_ARCHIVE_ALLOWED_HOSTS=cdn.example.com,http://x/"}, want: "archive_allowed_hosts"},
		"archive host wildcard":      {env: []string{"VOCALS_BRIDGE_ARCHIVE_ENABLED=true", "VOCALS_BRIDGE_ARCHIVE_ALLOWED_HOSTS=*"}, want: "archive_allowed_hosts"},
		"archive bucket name":        {env: []string{"VOCALS_BRIDGE_ARCHIVE_ENABLED=true", "VOCALS_BRIDGE_ARCHIVE_ALLOWED_HOSTS=a.example", "VOCALS_BRIDGE_ARCHIVE_BUCKET=a.b"}, want: "archive_bucket"},
		"archive concurrency zero":   {env: []string{"VOCALS_BRIDGE_ARCHIVE_CONCURRENCY=0"}, want: "archive_concurrency"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeFile(t, tc.file)}, args...)
			}
			_, _, err := config.Load(args, tc.env, io.Discard)
			if err == nil {
				t.Fatal("invalid configuration accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestValidationErrorIsTyped(t *testing.T) {
	_, _, err := config.Load(nil, []string{"VOCALS_BRIDGE_STREAM_REPLICAS=0"}, io.Discard)
	var cfgErr *config.Error
	if !errors.As(err, &cfgErr) || cfgErr.Key != "stream_replicas" {
		t.Fatalf("want *config.Error for stream_replicas, got %v", err)
	}
}

func TestSchemaBase(t *testing.T) {
	tests := map[string]struct {
		cfg  config.Config
		want string
	}{
		"default port": {config.Config{HTTPAddr: ":8080"}, "http://localhost:8080/schemas"},
		"other port":   {config.Config{HTTPAddr: "127.0.0.1:9999"}, "http://localhost:9999/schemas"},
		"explicit":     {config.Config{HTTPAddr: ":8080", SchemaBaseURL: "https://hooks.example.org/schemas/"}, "https://hooks.example.org/schemas"},
		"random port":  {config.Config{HTTPAddr: ":0"}, "http://localhost:8080/schemas"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.cfg.SchemaBase(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// --help says, for every setting, what it does, its default and variable.
func TestHelpListsEverySetting(t *testing.T) {
	var out strings.Builder
	config.PrintHelp(&out)
	text := out.String()
	for _, s := range config.Settings() {
		if s.Help == "" || s.Group == "" {
			t.Errorf("%s has no help or group", s.Key)
		}
		if !strings.Contains(text, "--"+s.Flag+"\n        "+s.Help+"\n        default "+s.Shown()+"; "+s.Env+";") {
			t.Errorf("--help lacks %s as declared", s.Flag)
		}
	}
}
