// Package config holds the bridge's settings: their defaults, how a YAML
// file, VOCALS_BRIDGE_* environment variables and command-line flags
// override them (in that order), and their validation.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/redact"
)

// EnvPrefix starts every environment variable the bridge reads.
const EnvPrefix = "VOCALS_BRIDGE_"

const (
	// ProviderRetrySpan is how long the provider keeps retrying one callback
	// (1 + 5 + 15 minutes). A duplicate window shorter than this lets a late
	// retry through as a second event once the per-subject limit is lifted.
	ProviderRetrySpan = 21 * time.Minute
	// ProviderTimeout is how long the provider waits for an answer.
	ProviderTimeout = 15 * time.Second
	// MinSubmitToken is the shortest submit_token (and admin_token) accepted.
	MinSubmitToken = 16
)

// Config is every setting of the bridge, each declared once, here: its
// field tags give the YAML key (the variable is EnvPrefix plus the key upper-cased,
// the flag the key with dashes), the default, what --help and the README
// say, the heading it starts (group, kept by the fields after it) and the
// bounds Validate checks (min, max, oneof). Defaults, --help, the README's
// table, config/vocals-bridge.yaml and the chart's values schema come from
// these tags; checks across settings are in Validate.
type Config struct {
	HTTPAddr          string        `yaml:"http_addr" group:"Listeners" default:":8080" help:"public listener: POST /callbacks/<family> (/callbacks/vocals for add-vocals), GET /schemas/..."`
	AdminAddr         string        `yaml:"admin_addr" default:"127.0.0.1:8081" help:"admin listener: /healthz, /readyz, /metrics; loopback by default, the chart and Compose set :8081 so probes and Prometheus reach it"`
	AdminPprof        bool          `yaml:"admin_pprof" help:"serve Go profiles at /debug/pprof/ on the admin listener"`
	AdminToken        string        `yaml:"admin_token" help:"secret the admin API (/api/: inspect, dead letters, redrive) requires in the Vocals-Admin-Token header, at least 16 characters; without it only loopback clients may use the API; never logged"`
	TLSCertFile       string        `yaml:"tls_cert_file" help:"serve HTTPS with this certificate (reloaded on change)"`
	TLSKeyFile        string        `yaml:"tls_key_file" help:"its private key"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" default:"5s" min:"1ms" help:"both listeners: time to read request headers"`
	ReadTimeout       time.Duration `yaml:"read_timeout" default:"10s" min:"1ms" help:"both listeners: time to read a whole request"`
	WriteTimeout      time.Duration `yaml:"write_timeout" default:"20s" min:"1ms" help:"both listeners: time to answer (must exceed the publish timeout)"`
	IdleTimeout       time.Duration `yaml:"idle_timeout" default:"60s" min:"1ms" help:"keep-alive idle time"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout" default:"20s" min:"1ms" help:"how long shutdown waits for in-flight requests"`
	// ShutdownDelay keeps the listeners serving after SIGTERM with readiness
	// already 503, so a load balancer stops routing first.
	ShutdownDelay time.Duration `yaml:"shutdown_delay" default:"0s" max:"1m" help:"after SIGTERM, /readyz is 503 at once and the listeners keep serving this long before closing (the chart sets 5s, for rolling updates)"`

	NATSURL          string `yaml:"nats_url" group:"NATS" help:"comma-separated seed URLs of one NATS cluster; empty starts the embedded server"`
	EmbeddedNATSAddr string `yaml:"embedded_nats_addr" default:"127.0.0.1:4222" help:"loopback address where the embedded server accepts NATS clients (the bridge connects through it too, which is cheaper than an in-process pipe); empty for no listener and an in-process connection"`
	// EmbeddedNATSSyncAlways is the embedded server's sync_interval: always.
	EmbeddedNATSSyncAlways bool `yaml:"embedded_nats_sync_always" default:"true" help:"the embedded server fsyncs each event before acknowledging it; false fsyncs every two minutes (faster, but a power cut can lose acknowledged events)"`
	// EmbeddedJournal moves the embedded mode's durability point to a
	// group-committed journal (the spool's format) beside the spool.
	EmbeddedJournal bool   `yaml:"embedded_journal" default:"true" help:"the embedded mode fsyncs each event in a journal under data_dir/journal, where concurrent callbacks share fsyncs, while the embedded server takes it and fsyncs every second; a 200 still survives a power cut. Needs spool_enabled; false: the embedded server fsyncs each event itself (embedded_nats_sync_always)"`
	NATSCredsFile   string `yaml:"nats_creds_file" help:"NATS .creds file (JWT and NKey)"`
	NATSNKeyFile    string `yaml:"nats_nkey_file" help:"NATS NKey seed file"`
	NATSCAFile      string `yaml:"nats_ca_file" help:"CA bundle to verify NATS servers (TLS)"`
	NATSCertFile    string `yaml:"nats_cert_file" help:"client certificate for NATS (TLS)"`
	NATSKeyFile     string `yaml:"nats_key_file" help:"its key"`
	// NATSMaxPayload is assumed until the first connect tells the real one.
	NATSMaxPayload int64  `yaml:"nats_max_payload" default:"1048576" min:"65536" help:"the server's max_payload as configured; used only until the first connect tells the real one (events larger than the server or the stream takes are refused 413 event_too_large)"`
	DataDir        string `yaml:"data_dir" default:"./data" help:"embedded server store (<dir>/nats) and other local state"`

	Stream        string `yaml:"stream" group:"Stream and events" default:"VOCALS" help:"stream name"`
	SubjectPrefix string `yaml:"subject_prefix" default:"vocals" help:"add-vocals subjects are <prefix>.<task_id>.<stage>"`
	// DisabledFamilies have no subjects; their routes refuse into the
	// dead letters, for a redrive once they are on.
	DisabledFamilies      string        `yaml:"disabled_families" help:"families turned off, comma-separated (generate, lyrics, wav, ...): no subjects, and their callbacks are refused 404 family_disabled into the dead letters; all are on by default"`
	FamilySubjectPrefixes string        `yaml:"family_subject_prefixes" help:"other families' subject prefixes, family=prefix comma-separated; each defaults to the family's name (generate.<task_id>.complete)"`
	StreamReplicas        int           `yaml:"stream_replicas" default:"1" min:"1" max:"5" help:"stream replicas (1–5; 3 for a cluster)"`
	StreamManage          bool          `yaml:"stream_manage" default:"true" help:"create/update the stream at start-up; false only checks it"`
	StreamMaxAge          time.Duration `yaml:"stream_max_age" default:"336h" min:"1s" help:"how long events are kept"`
	StreamDuplicateWindow time.Duration `yaml:"stream_duplicate_window" default:"30m" min:"1s" help:"JetStream duplicate window (keep it above 21m)"`
	PublishTimeout        time.Duration `yaml:"publish_timeout" default:"5s" min:"1ms" help:"wait for the JetStream ack before answering 503 (must be under 15s)"`
	RetryAfter            time.Duration `yaml:"retry_after" default:"60s" min:"1s" help:"Retry-After on 503 answers"`
	EventSource           string        `yaml:"event_source" default:"/vocals-bridge" help:"CloudEvents source"`
	ContentMode           string        `yaml:"content_mode" default:"structured" oneof:"structured binary" help:"structured or binary CloudEvents content mode on NATS"`
	SchemaBaseURL         string        `yaml:"schema_base_url" help:"base of dataschema; set it to your public URL (empty: http://localhost:<port>/schemas with the public listener's port)"`
	ProviderTimeZone      string        `yaml:"provider_time_zone" default:"UTC" help:"zone of the provider's createTime"`

	SpoolEnabled    bool  `yaml:"spool_enabled" group:"Spool" default:"true" help:"spool callbacks JetStream did not acknowledge (false: answer them 503)"`
	SpoolMaxBytes   int64 `yaml:"spool_max_bytes" default:"536870912" min:"1048576" help:"spool limit in bytes (512 MiB); when full, callbacks get 503"`
	SpoolMaxEntries int   `yaml:"spool_max_entries" default:"500000" min:"1" help:"spool limit in events"`

	DeadLetterEnabled       bool   `yaml:"deadletter_enabled" group:"Dead letters" default:"true" help:"keep refused callbacks in the dead-letter stream"`
	DeadLetterStream        string `yaml:"deadletter_stream" default:"VOCALS_DLQ" help:"dead-letter stream name"`
	DeadLetterSubjectPrefix string `yaml:"deadletter_subject_prefix" default:"vocals_dlq" help:"dead letters go to <prefix>.<reason>; must not overlap subject_prefix"`
	DeadLetterMaxBody       int    `yaml:"deadletter_max_body" default:"1040384" min:"0" max:"1048576" help:"bytes of a refused body kept (1 MiB less 8 KiB for headers, within NATS' default max_payload); a body cut shorter cannot be redriven"`
	DeadLetterMaxBytes      int64  `yaml:"deadletter_max_bytes" default:"268435456" min:"1048576" help:"dead-letter stream size limit (256 MiB, oldest discarded)"`
	DeadLetterQueueBytes    int64  `yaml:"deadletter_queue_bytes" default:"16777216" help:"dead letters held in memory while their stream is unreachable (16 MiB, oldest dropped; at most deadletter_max_bytes)"`

	WebhookHMACKey        string        `yaml:"webhook_hmac_key" group:"Verification" help:"provider HMAC key(s), comma-separated (rotation); turns signature checks on"`
	WebhookHMACKeyFile    string        `yaml:"webhook_hmac_key_file" help:"file with one provider key per line (e.g. a mounted Secret); instead of the above"`
	StandardWebhookSecret string        `yaml:"standard_webhook_secret" help:"Standard Webhooks secret(s) whsec_..., comma-separated"`
	CallbackToken         string        `yaml:"callback_token" help:"secret required in the URL: /callbacks/vocals/<token> or ?token=<token>"`
	SignatureTolerance    time.Duration `yaml:"signature_tolerance" default:"5m" min:"1s" max:"1h" help:"how far a signed timestamp may be from now, either way"`
	ReplayCacheSize       int           `yaml:"replay_cache_size" default:"100000" min:"1000" help:"signatures remembered against replays"`
	AllowedCIDRs          string        `yaml:"allowed_cidrs" help:"comma-separated source networks allowed (empty: all)"`
	TrustedProxies        string        `yaml:"trusted_proxies" help:"comma-separated proxy networks whose X-Forwarded-For is believed"`

	BodyLimit         int64         `yaml:"body_limit" group:"Limits" default:"1048576" min:"1024" max:"67108864" help:"largest accepted body, bytes"`
	RateLimit         float64       `yaml:"rate_limit" default:"200" min:"0" help:"refused (4xx) requests per second per source address (0: off); accepted callbacks spend nothing"`
	RateBurst         int           `yaml:"rate_burst" default:"400" min:"1" help:"burst per source address"`
	MaxReadsPerSource int           `yaml:"max_reads_per_source" default:"64" min:"0" help:"bodies one source address may be sending at once; more get 429 source_busy (0: off)"`
	BodyMinRate       int64         `yaml:"body_min_rate" default:"1024" min:"0" help:"a body must arrive at this average rate (bytes/s) once the grace is over, else 408 read_timeout (0: off)"`
	BodyReadGrace     time.Duration `yaml:"body_read_grace" default:"2s" min:"1ms" help:"time a body may take before the minimum rate applies (at most read_timeout)"`
	MaxInFlight       int           `yaml:"max_in_flight" default:"1024" min:"1" help:"callbacks processed at once, after their bodies arrived; more get 503"`

	TrackingEnabled         bool          `yaml:"tracking_enabled" group:"Tracking" help:"track tasks and poll record-info for lost callbacks (needs the two PROVIDER_* keys below)"`
	TrackingBucket          string        `yaml:"tracking_bucket" default:"VOCALS_TASKS" help:"JetStream key-value bucket of tracked tasks, shared by replicas"`
	TrackingAnnounceSubject string        `yaml:"tracking_announce_subject" default:"vocals_announce" help:"core NATS subject where services announce task ids; empty turns it off"`
	TrackingPollAfter       time.Duration `yaml:"tracking_poll_after" default:"2m" min:"0s" help:"first poll of a task this long after it is tracked"`
	// The provider allows 3 record-info requests per second per task.
	TrackingPollInterval    time.Duration `yaml:"tracking_poll_interval" default:"30s" min:"1s" help:"then one poll per task per interval (at least 1s)"`
	TrackingPollRate        float64       `yaml:"tracking_poll_rate" default:"2" min:"0.01" max:"100" help:"record-info requests per second from one replica"`
	TrackingDeadline        time.Duration `yaml:"tracking_deadline" default:"1h" help:"no terminal stage this long after tracking: a timeout event (<prefix>.<task_id>.timeout)"`
	TrackingFamilyDeadlines string        `yaml:"tracking_family_deadlines" help:"tracking_deadline per family, family=duration comma-separated (lyrics=10m,video=2h)"`
	TrackingStuckAfter      time.Duration `yaml:"tracking_stuck_after" default:"15m" min:"1s" help:"tracked this long: counted in vocals_bridge_tracking_stuck_tasks"`
	ProviderBaseURL         string        `yaml:"provider_base_url" help:"the provider API's base URL (for record-info and the submit proxy)"`
	ProviderAPIKey          string        `yaml:"provider_api_key" help:"the provider API key (Bearer); never logged"`
	ProviderAPIKeyFile      string        `yaml:"provider_api_key_file" help:"file holding the key (first line), e.g. a mounted Secret; instead of the above"`
	ProviderTimeout         time.Duration `yaml:"provider_timeout" default:"10s" min:"1ms" max:"1m" help:"timeout of each request to the provider"`
	SubmitAddr              string        `yaml:"submit_addr" help:"submit proxy listener (POST each family's provider path: /api/v1/generate/add-vocals, /api/v1/lyrics, ...); empty turns it off; never public"`
	SubmitCallbackURL       string        `yaml:"submit_callback_url" help:"the callBackUrl the proxy fills in: where the provider reaches /callbacks/vocals (with the token, if any); each family's is this with its own route"`
	SubmitToken             string        `yaml:"submit_token" help:"secret every submission must carry in the Vocals-Submit-Token header (at least 16 characters); required unless submit_addr is a loopback address; never logged"`
	SubmitRateLimit         float64       `yaml:"submit_rate_limit" default:"10" min:"0" max:"1000" help:"submissions per second per source address on the submit proxy, bursts of twice that (0: off); more are 429"`

	// Archiving keeps what the provider deletes after 14-15 days.
	ArchiveEnabled        bool          `yaml:"archive_enabled" group:"Archive" help:"keep the media of every complete event (audio, images, WAV, stems, video) in the JetStream Object Store and publish <prefix>.<task_id>.archived; needs archive_allowed_hosts"`
	ArchiveAllowedHosts   string        `yaml:"archive_allowed_hosts" help:"where media may be downloaded from, comma-separated: host names (cdn.example.com), subdomains (*.example.com), addresses or CIDRs; a name must be served over https and resolve to public addresses; loopback, private and link-local addresses only when listed as addresses (which may use http); checked on every redirect"`
	ArchiveBucket         string        `yaml:"archive_bucket" default:"VOCALS_MEDIA" help:"Object Store bucket of the archived media, replicated like the stream"`
	ArchiveMaxObjectBytes int64         `yaml:"archive_max_object_bytes" default:"268435456" min:"1" help:"largest file kept (256 MiB); a larger one is reported too_large"`
	ArchiveMaxTaskBytes   int64         `yaml:"archive_max_task_bytes" default:"1073741824" min:"1" help:"most bytes kept of one task (1 GiB); files past it are reported task_too_large"`
	ArchiveConcurrency    int           `yaml:"archive_concurrency" default:"4" min:"1" max:"64" help:"tasks one replica archives at once"`
	ArchiveRate           float64       `yaml:"archive_rate" default:"10" min:"0.01" help:"downloads one replica starts per second"`
	ArchiveTimeout        time.Duration `yaml:"archive_timeout" default:"5m" min:"1ms" help:"time one download may take; a slower one is retried"`
	ArchiveRetention      time.Duration `yaml:"archive_retention" default:"336h" min:"1s" help:"how long after its complete event the provider keeps a file (14 days): a failed download is retried with backoff until then, then reported expired"`

	LogLevel  string `yaml:"log_level" group:"Logs" default:"info" oneof:"debug info warn error" help:"debug, info, warn, error"`
	LogFormat string `yaml:"log_format" default:"json" oneof:"json console" help:"json or console"`
}

// Default is the configuration the bridge runs with when nothing is set:
// an embedded JetStream server under ./data, public listener :8080, admin
// 127.0.0.1:8081.
func Default() Config { return defaults() }

// AdminURL is the admin listener's base URL as a client on this host
// reaches it: on loopback when it binds every interface.
func (c Config) AdminURL() string {
	host, port, err := net.SplitHostPort(c.AdminAddr)
	if err != nil {
		host, port = "127.0.0.1", "8081"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Embedded reports whether the bridge starts its own JetStream server.
func (c Config) Embedded() bool { return c.NATSURL == "" }

// NATSServers splits NATSURL into its comma-separated seed URLs.
func (c Config) NATSServers() []string { return SplitList(c.NATSURL) }

// SchemaBase is the URL prefix of the dataschema attribute. When none is
// configured it points at this bridge's own /schemas route on localhost,
// which is right for a local run and wrong behind an ingress: set
// schema_base_url in production.
func (c Config) SchemaBase() string {
	if c.SchemaBaseURL != "" {
		return strings.TrimSuffix(c.SchemaBaseURL, "/")
	}
	_, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil || port == "" || port == "0" {
		port = "8080"
	}
	return "http://localhost:" + port + "/schemas"
}

// Error is a configuration problem tied to one key.
type Error struct {
	Key    string // YAML key, e.g. "stream_replicas"
	Source string // where the bad value came from: "default", a file, "env", "flag"
	Msg    string
}

func (e *Error) Error() string {
	name := e.Key
	switch e.Source {
	case "env":
		name = EnvPrefix + strings.ToUpper(e.Key) + " (" + e.Key + ")"
	case "flag":
		name = "--" + strings.ReplaceAll(e.Key, "_", "-") + " (" + e.Key + ")"
	case "":
	default:
		name = e.Source + ": " + e.Key
	}
	return fmt.Sprintf("config: %s: %s", name, e.Msg)
}

var (
	tokenRe  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	streamRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Validate checks every setting and returns the first problem as an *Error
// naming its key: first each setting's own bounds (its tags), then what
// settings require of each other.
func (c Config) Validate() error {
	for _, s := range Settings() {
		if err := s.check(c); err != nil {
			return err
		}
	}
	for _, valid := range []func() error{c.validListeners, c.validNATS, c.validStream, c.validVerification, c.validFamilies, c.validateTracking, c.validArchive} {
		if err := valid(); err != nil {
			return err
		}
	}
	return nil
}

// validListeners checks the listeners' addresses, TLS, token and timeouts.
func (c Config) validListeners() error {
	for _, a := range []struct{ key, val string }{{"http_addr", c.HTTPAddr}, {"admin_addr", c.AdminAddr}} {
		if _, _, err := net.SplitHostPort(a.val); err != nil {
			return bad(a.key, "%q is not host:port (%v)", a.val, err)
		}
	}
	if _, port, _ := net.SplitHostPort(c.HTTPAddr); c.HTTPAddr == c.AdminAddr && port != "0" {
		return bad("admin_addr", "must differ from http_addr: the admin surface is never public")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return bad("tls_key_file", "tls_cert_file and tls_key_file go together")
	}
	if c.AdminToken != "" && len(c.AdminToken) < MinSubmitToken {
		return bad("admin_token", "must be at least %d characters (value not shown)", MinSubmitToken)
	}
	if c.BodyReadGrace > c.ReadTimeout {
		return bad("body_read_grace", "%s must be at most read_timeout %s", c.BodyReadGrace, c.ReadTimeout)
	}
	if c.WriteTimeout <= c.PublishTimeout {
		return bad("write_timeout", "%s must be longer than publish_timeout %s, or answers are cut off", c.WriteTimeout, c.PublishTimeout)
	}
	return nil
}

// validNATS checks where NATS is and how the bridge authenticates to it.
func (c Config) validNATS() error {
	if c.Embedded() {
		if c.EmbeddedNATSAddr != "" {
			host, _, err := net.SplitHostPort(c.EmbeddedNATSAddr)
			if err != nil {
				return bad("embedded_nats_addr", "%q is not host:port (%v)", c.EmbeddedNATSAddr, err)
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return bad("embedded_nats_addr", "%q must be a loopback address: the embedded server has no authentication", c.EmbeddedNATSAddr)
			}
		}
	} else {
		for _, s := range c.NATSServers() {
			u, err := url.Parse(s)
			if err != nil || u.Host == "" {
				return bad("nats_url", "%q is not a URL such as nats://host:4222", redact.URL(s))
			}
		}
		if len(c.NATSServers()) == 0 {
			return bad("nats_url", "lists no server")
		}
	}
	if c.NATSCredsFile != "" && c.NATSNKeyFile != "" {
		return bad("nats_nkey_file", "set either nats_creds_file or nats_nkey_file, not both")
	}
	if (c.NATSCertFile == "") != (c.NATSKeyFile == "") {
		return bad("nats_key_file", "nats_cert_file and nats_key_file go together")
	}
	for _, f := range []struct{ key, path string }{
		{"nats_creds_file", c.NATSCredsFile}, {"nats_nkey_file", c.NATSNKeyFile}, {"nats_ca_file", c.NATSCAFile},
		{"nats_cert_file", c.NATSCertFile}, {"nats_key_file", c.NATSKeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return bad(f.key, "%v", err)
		}
	}
	if c.DataDir == "" {
		return bad("data_dir", "must not be empty")
	}
	return nil
}

// validStream checks the stream, its subjects, the dead letters and the
// events' attributes.
func (c Config) validStream() error {
	if !streamRe.MatchString(c.Stream) {
		return bad("stream", "%q must be 1-64 letters, digits, '_' or '-'", c.Stream)
	}
	if err := validSubjectPrefix(c.SubjectPrefix); err != nil {
		return bad("subject_prefix", "%q %v", c.SubjectPrefix, err)
	}
	if c.StreamDuplicateWindow > c.StreamMaxAge {
		return bad("stream_duplicate_window", "%s is longer than stream_max_age %s", c.StreamDuplicateWindow, c.StreamMaxAge)
	}
	if c.PublishTimeout >= ProviderTimeout {
		return bad("publish_timeout", "%s must be shorter than the provider's %s timeout", c.PublishTimeout, ProviderTimeout)
	}
	if c.DeadLetterEnabled {
		if !streamRe.MatchString(c.DeadLetterStream) || c.DeadLetterStream == c.Stream {
			return bad("deadletter_stream", "%q must be a valid stream name other than stream", c.DeadLetterStream)
		}
		if err := validSubjectPrefix(c.DeadLetterSubjectPrefix); err != nil {
			return bad("deadletter_subject_prefix", "%q %v", c.DeadLetterSubjectPrefix, err)
		}
		if overlaps(c.DeadLetterSubjectPrefix, c.SubjectPrefix) {
			return bad("deadletter_subject_prefix", "%q overlaps subject_prefix %q: dead letters could be read as events", c.DeadLetterSubjectPrefix, c.SubjectPrefix)
		}
		if c.DeadLetterQueueBytes < int64(c.DeadLetterMaxBody)+4096 || c.DeadLetterQueueBytes > c.DeadLetterMaxBytes {
			return bad("deadletter_queue_bytes", "%d must hold one dead letter (deadletter_max_body + 4 KiB) and be at most deadletter_max_bytes %d",
				c.DeadLetterQueueBytes, c.DeadLetterMaxBytes)
		}
	}
	if u, err := url.Parse(c.EventSource); err != nil || c.EventSource == "" {
		return bad("event_source", "%q is not a URI reference", c.EventSource)
	} else if u.String() == "" {
		return bad("event_source", "must not be empty")
	}
	if c.SchemaBaseURL != "" {
		if u, err := url.Parse(c.SchemaBaseURL); err != nil || !u.IsAbs() {
			return bad("schema_base_url", "%q must be an absolute URL", redact.URL(c.SchemaBaseURL))
		}
	}
	if _, err := time.LoadLocation(c.ProviderTimeZone); err != nil {
		return bad("provider_time_zone", "%q is not a time zone name (%v)", c.ProviderTimeZone, err)
	}
	return nil
}

// validVerification checks the keys and networks that verify a source.
func (c Config) validVerification() error {
	if c.WebhookHMACKey != "" && c.WebhookHMACKeyFile != "" {
		return bad("webhook_hmac_key_file", "set either webhook_hmac_key or webhook_hmac_key_file, not both")
	}
	if c.WebhookHMACKeyFile != "" {
		if _, err := c.ProviderKeys(); err != nil {
			return bad("webhook_hmac_key_file", "%v", err)
		}
	}
	for _, sec := range SplitList(c.StandardWebhookSecret) {
		if !strings.HasPrefix(sec, "whsec_") {
			return bad("standard_webhook_secret", "each secret must start with whsec_ (value not shown)")
		}
	}
	for _, k := range []struct{ key, val string }{{"allowed_cidrs", c.AllowedCIDRs}, {"trusted_proxies", c.TrustedProxies}} {
		if _, err := ParsePrefixes(k.val); err != nil {
			return bad(k.key, "%v", err)
		}
	}
	return nil
}

// validateTracking checks the tracking keys; they matter only when
// tracking_enabled is on, except that submit_addr needs it.
func (c Config) validateTracking() error {
	if !c.TrackingEnabled {
		if c.SubmitAddr != "" {
			return bad("submit_addr", "the submit proxy tracks tasks: set tracking_enabled too")
		}
		return nil
	}
	if !streamRe.MatchString(c.TrackingBucket) {
		return bad("tracking_bucket", "%q must be 1-64 letters, digits, '_' or '-'", c.TrackingBucket)
	}
	if c.TrackingAnnounceSubject != "" {
		if err := validSubjectPrefix(c.TrackingAnnounceSubject); err != nil {
			return bad("tracking_announce_subject", "%q %v", c.TrackingAnnounceSubject, err)
		}
		for _, p := range []string{c.SubjectPrefix, c.SubjectPrefix + "_tasks", c.DeadLetterSubjectPrefix} {
			if overlaps(c.TrackingAnnounceSubject, p) {
				return bad("tracking_announce_subject", "%q lies under %q: a stream would store announcements", c.TrackingAnnounceSubject, p)
			}
		}
	}
	if overlaps(c.SubjectPrefix+"_tasks", c.DeadLetterSubjectPrefix) {
		return bad("deadletter_subject_prefix", "%q overlaps the task subjects %q", c.DeadLetterSubjectPrefix, c.SubjectPrefix+"_tasks")
	}
	if c.TrackingDeadline <= c.TrackingPollAfter {
		return bad("tracking_deadline", "%s must be longer than tracking_poll_after %s", c.TrackingDeadline, c.TrackingPollAfter)
	}
	deadlines, err := family.Durations(c.TrackingFamilyDeadlines)
	if err != nil {
		return bad("tracking_family_deadlines", "%v", err)
	}
	for f, d := range deadlines {
		if d <= c.TrackingPollAfter {
			return bad("tracking_family_deadlines", "%s: %s must be longer than tracking_poll_after %s", f, d, c.TrackingPollAfter)
		}
	}
	if u, err := url.Parse(c.ProviderBaseURL); err != nil || !u.IsAbs() || u.Host == "" {
		return bad("provider_base_url", "%q must be an absolute URL such as https://provider.example (tracking polls it)", redact.URL(c.ProviderBaseURL))
	}
	if c.ProviderAPIKey != "" && c.ProviderAPIKeyFile != "" {
		return bad("provider_api_key_file", "set either provider_api_key or provider_api_key_file, not both")
	}
	if key, err := c.ProviderAPIKeyValue(); err != nil {
		return bad("provider_api_key_file", "%v", err)
	} else if key == "" {
		return bad("provider_api_key", "tracking polls record-info, which needs the API key (value not shown)")
	}
	if c.SubmitAddr != "" {
		if _, _, err := net.SplitHostPort(c.SubmitAddr); err != nil {
			return bad("submit_addr", "%q is not host:port (%v)", c.SubmitAddr, err)
		}
		if c.SubmitAddr == c.HTTPAddr || c.SubmitAddr == c.AdminAddr {
			return bad("submit_addr", "must differ from http_addr and admin_addr: the proxy spends the API key")
		}
		if u, err := url.Parse(c.SubmitCallbackURL); err != nil || !u.IsAbs() || u.Host == "" {
			return bad("submit_callback_url", "%q must be the absolute URL the provider reaches the callback endpoint at", redact.URL(c.SubmitCallbackURL))
		}
		if c.SubmitToken == "" && !loopback(c.SubmitAddr) {
			return bad("submit_token", "submit_addr %q is reachable from other hosts and the proxy spends the API key: set submit_token (at least %d characters), or listen on 127.0.0.1", c.SubmitAddr, MinSubmitToken)
		}
		if c.SubmitToken != "" && len(c.SubmitToken) < MinSubmitToken {
			return bad("submit_token", "must be at least %d characters (value not shown)", MinSubmitToken)
		}
	}
	return nil
}

// validArchive checks the archive's bucket and allow-list when it is on.
func (c Config) validArchive() error {
	if !c.ArchiveEnabled {
		return nil
	}
	if !streamRe.MatchString(c.ArchiveBucket) {
		return bad("archive_bucket", "%q must be 1-64 letters, digits, '_' or '-'", c.ArchiveBucket)
	}
	names, nets, err := ParseAllowedHosts(c.ArchiveAllowedHosts)
	if err != nil {
		return bad("archive_allowed_hosts", "%v", err)
	}
	if len(names) == 0 && len(nets) == 0 {
		return bad("archive_allowed_hosts", "archiving downloads only from listed hosts: list the provider's media hosts")
	}
	return nil
}

// ParseAllowedHosts splits an allow-list into host names (lower-case;
// "*.example.com" for any subdomain) and networks (addresses and CIDRs).
func ParseAllowedHosts(list string) (names []string, nets []netip.Prefix, err error) {
	for _, item := range SplitList(list) {
		if p, err := ParsePrefixes(item); err == nil {
			nets = append(nets, p...)
			continue
		}
		name := strings.ToLower(item)
		if !hostRe.MatchString(strings.TrimPrefix(name, "*.")) {
			return nil, nil, fmt.Errorf("%q is not a host name, *.domain, address or CIDR", item)
		}
		names = append(names, name)
	}
	return names, nets, nil
}

// hostRe is a DNS name: dot-separated labels of letters, digits and '-'.
var hostRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// loopback reports whether the listener address addr (host:port) takes
// connections from this host only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ProviderAPIKeyValue returns provider_api_key, or the first line of
// provider_api_key_file.
func (c Config) ProviderAPIKeyValue() (string, error) {
	if c.ProviderAPIKeyFile == "" {
		return c.ProviderAPIKey, nil
	}
	b, err := os.ReadFile(c.ProviderAPIKeyFile)
	if err != nil {
		return "", fmt.Errorf("reading key file: %w", err)
	}
	key, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(key), nil
}

// ProviderKeys returns the provider HMAC keys: webhook_hmac_key split at
// commas, or webhook_hmac_key_file with one key per line. Several keys are
// accepted at once, for rotation.
func (c Config) ProviderKeys() ([][]byte, error) {
	raw := c.WebhookHMACKey
	if c.WebhookHMACKeyFile != "" {
		b, err := os.ReadFile(c.WebhookHMACKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading key file: %w", err)
		}
		raw = strings.ReplaceAll(string(b), "\n", ",")
	}
	var keys [][]byte
	for _, k := range SplitList(raw) {
		keys = append(keys, []byte(k))
	}
	if c.WebhookHMACKeyFile != "" && len(keys) == 0 {
		return nil, fmt.Errorf("key file %s holds no key", c.WebhookHMACKeyFile)
	}
	return keys, nil
}

// StandardSecrets splits standard_webhook_secret at commas.
func (c Config) StandardSecrets() []string { return SplitList(c.StandardWebhookSecret) }

// ParsePrefixes parses a comma-separated list of CIDRs or single addresses.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range SplitList(list) {
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR or an address", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// SplitList splits a comma-separated value, trimming items and dropping
// empty ones.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// bad is the *Error of key.
func bad(key, format string, a ...any) error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, a...)}
}

// Families are the enabled families, in the table's order.
func (c Config) Families() []family.Family {
	fams, _ := family.Enabled(c.DisabledFamilies) // validated with the config
	return fams
}

// Prefixes are the stage subject prefixes of every family.
func (c Config) Prefixes() map[event.Family]string {
	p, _ := family.Prefixes(c.SubjectPrefix, c.FamilySubjectPrefixes) // validated with the config
	return p
}

// FamilyDeadlines are the per-family tracking deadlines.
func (c Config) FamilyDeadlines() map[event.Family]time.Duration {
	d, _ := family.Durations(c.TrackingFamilyDeadlines) // validated with the config
	return d
}

// validFamilies checks the family settings: known names, valid prefixes,
// and no two subject spaces (stage and task subjects of every enabled
// family, dead letters, announcements) that overlap.
func (c Config) validFamilies() error {
	fams, err := family.Enabled(c.DisabledFamilies)
	if err != nil {
		return bad("disabled_families", "%v", err)
	}
	prefixes, err := family.Prefixes(c.SubjectPrefix, c.FamilySubjectPrefixes)
	if err != nil {
		return bad("family_subject_prefixes", "%v", err)
	}
	// Each subject space names the setting that put it there, so that an
	// overlap blames the one the user set: the announcement subject, then a
	// family's own prefix, the dead-letter prefix, and subject_prefix (a
	// family's default prefix, its name, is not a setting).
	type space struct{ prefix, owner, key string }
	var spaces []space
	for _, f := range fams {
		p, key := prefixes[f.Name], ""
		switch {
		case f.Name == event.FamilyVocals:
			key = "subject_prefix"
		case p != string(f.Name):
			key = "family_subject_prefixes"
			if err := validSubjectPrefix(p); err != nil {
				return bad(key, "%s: %q %v", f.Name, p, err)
			}
		}
		spaces = append(spaces, space{p, string(f.Name), key}, space{event.TaskPrefix(p), string(f.Name) + " tasks", key})
	}
	if c.DeadLetterEnabled {
		spaces = append(spaces, space{c.DeadLetterSubjectPrefix, "dead letters", "deadletter_subject_prefix"})
	}
	if c.TrackingAnnounceSubject != "" {
		spaces = append(spaces, space{c.TrackingAnnounceSubject, "announcements", "tracking_announce_subject"})
	}
	blame := func(a, b string) string {
		for _, k := range []string{"tracking_announce_subject", "family_subject_prefixes", "deadletter_subject_prefix", "subject_prefix"} {
			if a == k || b == k {
				return k
			}
		}
		return "subject_prefix"
	}
	for i, a := range spaces {
		for _, b := range spaces[i+1:] {
			if overlaps(a.prefix, b.prefix) {
				return bad(blame(a.key, b.key), "the subjects of %s (%q) overlap those of %s (%q)", a.owner, a.prefix, b.owner, b.prefix)
			}
		}
	}
	return nil
}

// overlaps reports whether subjects under one prefix can match the other's
// "<prefix>.>": one prefix's tokens start the other's.
func overlaps(a, b string) bool {
	ta, tb := strings.Split(a, "."), strings.Split(b, ".")
	if len(ta) > len(tb) {
		ta, tb = tb, ta
	}
	for i, tok := range ta {
		if tb[i] != tok {
			return false
		}
	}
	return true
}

// validSubjectPrefix accepts one or more dot-separated tokens without
// wildcards, so "<prefix>.>" is a valid stream subject.
func validSubjectPrefix(p string) error {
	if p == "" {
		return fmt.Errorf("must not be empty")
	}
	for _, tok := range strings.Split(p, ".") {
		if !tokenRe.MatchString(tok) {
			return fmt.Errorf("must be dot-separated tokens of letters, digits, '_' or '-'")
		}
	}
	return nil
}
