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

// Documented defaults. The README's configuration table lists the same values.
const (
	DefaultHTTPAddr                = ":8080"
	DefaultAdminAddr               = "127.0.0.1:8081"
	DefaultEmbeddedNATSAddr        = "127.0.0.1:4222"
	DefaultDataDir                 = "./data"
	DefaultStream                  = "VOCALS"
	DefaultSubjectPrefix           = "vocals"
	DefaultStreamReplicas          = 1
	DefaultStreamMaxAge            = 14 * 24 * time.Hour
	DefaultDuplicateWindow         = 30 * time.Minute
	DefaultPublishTimeout          = 5 * time.Second
	DefaultRetryAfter              = 60 * time.Second
	DefaultSpoolMaxBytes           = 512 << 20
	DefaultSpoolMaxEntries         = 500_000
	DefaultDeadLetterStream        = "VOCALS_DLQ"
	DefaultDeadLetterSubjectPrefix = "vocals_dlq"
	DefaultDeadLetterMaxBody       = 64 << 10
	DefaultDeadLetterMaxBytes      = 256 << 20
	DefaultDeadLetterQueueBytes    = 16 << 20
	DefaultNATSMaxPayload          = 1 << 20
	DefaultMaxReadsPerSource       = 64
	DefaultBodyMinRate             = 1024
	DefaultBodyReadGrace           = 2 * time.Second
	DefaultBodyLimit               = 1 << 20
	DefaultEventSource             = "/vocals-bridge"
	DefaultProviderTimeZone        = "UTC"
	DefaultSignatureTolerance      = 5 * time.Minute
	DefaultReplayCacheSize         = 100_000
	DefaultRateLimit               = 200.0
	DefaultRateBurst               = 400
	DefaultMaxInFlight             = 1024
	DefaultLogLevel                = "info"
	DefaultLogFormat               = "json"
	DefaultReadHeaderTimeout       = 5 * time.Second
	DefaultReadTimeout             = 10 * time.Second
	DefaultWriteTimeout            = 20 * time.Second
	DefaultIdleTimeout             = 60 * time.Second
	DefaultShutdownTimeout         = 20 * time.Second
	DefaultShutdownDelay           = 0
	DefaultTrackingBucket          = "VOCALS_TASKS"
	DefaultAnnounceSubject         = "vocals_announce"
	DefaultPollAfter               = 2 * time.Minute
	DefaultPollInterval            = 30 * time.Second
	DefaultPollRate                = 2.0
	DefaultTrackingDeadline        = time.Hour
	DefaultStuckAfter              = 15 * time.Minute
	DefaultProviderRequestTimeout  = 10 * time.Second
	DefaultSubmitRateLimit         = 10.0

	// ProviderRetrySpan is how long the provider keeps retrying one callback
	// (1 + 5 + 15 minutes). A duplicate window shorter than this lets a late
	// retry through as a second event once the per-subject limit is lifted.
	ProviderRetrySpan = 21 * time.Minute
	// ProviderTimeout is how long the provider waits for an answer.
	ProviderTimeout = 15 * time.Second
)

// Config is every setting of the bridge. Field tags name the YAML key; the
// environment variable is EnvPrefix plus the upper-cased key, the flag is the
// key with dashes (see Settings).
type Config struct {
	HTTPAddr         string `yaml:"http_addr"`
	AdminAddr        string `yaml:"admin_addr"`
	NATSURL          string `yaml:"nats_url"`
	EmbeddedNATSAddr string `yaml:"embedded_nats_addr"`
	// Credentials and TLS for an external NATS (user:password may also be
	// in nats_url).
	NATSCredsFile string `yaml:"nats_creds_file"`
	NATSNKeyFile  string `yaml:"nats_nkey_file"`
	NATSCAFile    string `yaml:"nats_ca_file"`
	NATSCertFile  string `yaml:"nats_cert_file"`
	NATSKeyFile   string `yaml:"nats_key_file"`
	// NATSMaxPayload is the server's max_payload as configured, assumed
	// until the first connect tells the real one.
	NATSMaxPayload int64 `yaml:"nats_max_payload"`
	// EmbeddedNATSSyncAlways makes the embedded server fsync before it
	// acknowledges (its sync_interval: always).
	EmbeddedNATSSyncAlways bool   `yaml:"embedded_nats_sync_always"`
	DataDir                string `yaml:"data_dir"`

	Stream        string `yaml:"stream"`
	SubjectPrefix string `yaml:"subject_prefix"`
	// DisabledFamilies turns families off (comma-separated names); a
	// family that is off has no route, no subjects and no metrics.
	DisabledFamilies string `yaml:"disabled_families"`
	// FamilySubjectPrefixes overrides families' subject prefixes
	// ("family=prefix,..."); each defaults to the family's name.
	FamilySubjectPrefixes string        `yaml:"family_subject_prefixes"`
	StreamReplicas        int           `yaml:"stream_replicas"`
	StreamManage          bool          `yaml:"stream_manage"`
	StreamMaxAge          time.Duration `yaml:"stream_max_age"`
	StreamDuplicateWindow time.Duration `yaml:"stream_duplicate_window"`
	PublishTimeout        time.Duration `yaml:"publish_timeout"`
	RetryAfter            time.Duration `yaml:"retry_after"`

	SpoolEnabled    bool  `yaml:"spool_enabled"`
	SpoolMaxBytes   int64 `yaml:"spool_max_bytes"`
	SpoolMaxEntries int   `yaml:"spool_max_entries"`

	DeadLetterEnabled       bool   `yaml:"deadletter_enabled"`
	DeadLetterStream        string `yaml:"deadletter_stream"`
	DeadLetterSubjectPrefix string `yaml:"deadletter_subject_prefix"`
	DeadLetterMaxBody       int    `yaml:"deadletter_max_body"`
	DeadLetterMaxBytes      int64  `yaml:"deadletter_max_bytes"`
	DeadLetterQueueBytes    int64  `yaml:"deadletter_queue_bytes"`

	BodyLimit        int64  `yaml:"body_limit"`
	EventSource      string `yaml:"event_source"`
	ContentMode      string `yaml:"content_mode"`
	SchemaBaseURL    string `yaml:"schema_base_url"`
	ProviderTimeZone string `yaml:"provider_time_zone"`

	// Source verification (all off by default; see README "Verifying the source").
	WebhookHMACKey        string        `yaml:"webhook_hmac_key"`
	WebhookHMACKeyFile    string        `yaml:"webhook_hmac_key_file"`
	StandardWebhookSecret string        `yaml:"standard_webhook_secret"`
	CallbackToken         string        `yaml:"callback_token"`
	SignatureTolerance    time.Duration `yaml:"signature_tolerance"`
	ReplayCacheSize       int           `yaml:"replay_cache_size"`
	AllowedCIDRs          string        `yaml:"allowed_cidrs"`
	TrustedProxies        string        `yaml:"trusted_proxies"`
	RateLimit             float64       `yaml:"rate_limit"`
	RateBurst             int           `yaml:"rate_burst"`
	MaxReadsPerSource     int           `yaml:"max_reads_per_source"`
	BodyMinRate           int64         `yaml:"body_min_rate"`
	BodyReadGrace         time.Duration `yaml:"body_read_grace"`
	MaxInFlight           int           `yaml:"max_in_flight"`
	TLSCertFile           string        `yaml:"tls_cert_file"`
	TLSKeyFile            string        `yaml:"tls_key_file"`

	AdminPprof bool `yaml:"admin_pprof"`

	// Task tracking and reconciliation (off by default; see README
	// "Tracking tasks and polling for lost callbacks").
	TrackingEnabled         bool          `yaml:"tracking_enabled"`
	TrackingBucket          string        `yaml:"tracking_bucket"`
	TrackingAnnounceSubject string        `yaml:"tracking_announce_subject"`
	TrackingPollAfter       time.Duration `yaml:"tracking_poll_after"`
	TrackingPollInterval    time.Duration `yaml:"tracking_poll_interval"`
	TrackingPollRate        float64       `yaml:"tracking_poll_rate"`
	TrackingDeadline        time.Duration `yaml:"tracking_deadline"`
	// TrackingFamilyDeadlines overrides TrackingDeadline per family
	// ("lyrics=10m,video=2h").
	TrackingFamilyDeadlines string        `yaml:"tracking_family_deadlines"`
	TrackingStuckAfter      time.Duration `yaml:"tracking_stuck_after"`
	ProviderBaseURL         string        `yaml:"provider_base_url"`
	ProviderAPIKey          string        `yaml:"provider_api_key"`
	ProviderAPIKeyFile      string        `yaml:"provider_api_key_file"`
	ProviderTimeout         time.Duration `yaml:"provider_timeout"`
	SubmitAddr              string        `yaml:"submit_addr"`
	SubmitCallbackURL       string        `yaml:"submit_callback_url"`
	// SubmitToken must come with every submission (in the header
	// Vocals-Submit-Token); required unless SubmitAddr is loopback.
	SubmitToken     string  `yaml:"submit_token"`
	SubmitRateLimit float64 `yaml:"submit_rate_limit"`

	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`

	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	// ShutdownDelay is how long the listeners keep serving after SIGTERM,
	// with readiness already 503, so a load balancer stops routing first.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
}

// Default returns the configuration the bridge runs with when nothing is set:
// an embedded JetStream server under ./data, public listener :8080, admin :8081.
func Default() Config {
	return Config{
		HTTPAddr:                DefaultHTTPAddr,
		AdminAddr:               DefaultAdminAddr,
		EmbeddedNATSAddr:        DefaultEmbeddedNATSAddr,
		EmbeddedNATSSyncAlways:  true,
		NATSMaxPayload:          DefaultNATSMaxPayload,
		DataDir:                 DefaultDataDir,
		Stream:                  DefaultStream,
		SubjectPrefix:           DefaultSubjectPrefix,
		StreamReplicas:          DefaultStreamReplicas,
		StreamManage:            true,
		StreamMaxAge:            DefaultStreamMaxAge,
		StreamDuplicateWindow:   DefaultDuplicateWindow,
		PublishTimeout:          DefaultPublishTimeout,
		RetryAfter:              DefaultRetryAfter,
		SpoolEnabled:            true,
		SpoolMaxBytes:           DefaultSpoolMaxBytes,
		SpoolMaxEntries:         DefaultSpoolMaxEntries,
		DeadLetterEnabled:       true,
		DeadLetterStream:        DefaultDeadLetterStream,
		DeadLetterSubjectPrefix: DefaultDeadLetterSubjectPrefix,
		DeadLetterMaxBody:       DefaultDeadLetterMaxBody,
		DeadLetterMaxBytes:      DefaultDeadLetterMaxBytes,
		DeadLetterQueueBytes:    DefaultDeadLetterQueueBytes,
		BodyLimit:               DefaultBodyLimit,
		EventSource:             DefaultEventSource,
		ContentMode:             "structured",
		ProviderTimeZone:        DefaultProviderTimeZone,
		SignatureTolerance:      DefaultSignatureTolerance,
		ReplayCacheSize:         DefaultReplayCacheSize,
		RateLimit:               DefaultRateLimit,
		RateBurst:               DefaultRateBurst,
		MaxReadsPerSource:       DefaultMaxReadsPerSource,
		BodyMinRate:             DefaultBodyMinRate,
		BodyReadGrace:           DefaultBodyReadGrace,
		MaxInFlight:             DefaultMaxInFlight,
		LogLevel:                DefaultLogLevel,
		LogFormat:               DefaultLogFormat,
		ReadHeaderTimeout:       DefaultReadHeaderTimeout,
		ReadTimeout:             DefaultReadTimeout,
		WriteTimeout:            DefaultWriteTimeout,
		IdleTimeout:             DefaultIdleTimeout,
		ShutdownTimeout:         DefaultShutdownTimeout,
		ShutdownDelay:           DefaultShutdownDelay,
		TrackingBucket:          DefaultTrackingBucket,
		TrackingAnnounceSubject: DefaultAnnounceSubject,
		TrackingPollAfter:       DefaultPollAfter,
		TrackingPollInterval:    DefaultPollInterval,
		TrackingPollRate:        DefaultPollRate,
		TrackingDeadline:        DefaultTrackingDeadline,
		TrackingStuckAfter:      DefaultStuckAfter,
		ProviderTimeout:         DefaultProviderRequestTimeout,
		SubmitRateLimit:         DefaultSubmitRateLimit,
	}
}

// Embedded reports whether the bridge starts its own JetStream server.
func (c Config) Embedded() bool { return c.NATSURL == "" }

// NATSServers splits NATSURL into its comma-separated seed URLs.
func (c Config) NATSServers() []string { return splitList(c.NATSURL) }

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
// naming its key.
func (c Config) Validate() error {
	for _, a := range []struct{ key, val string }{{"http_addr", c.HTTPAddr}, {"admin_addr", c.AdminAddr}} {
		if _, _, err := net.SplitHostPort(a.val); err != nil {
			return bad(a.key, "%q is not host:port (%v)", a.val, err)
		}
	}
	if _, port, _ := net.SplitHostPort(c.HTTPAddr); c.HTTPAddr == c.AdminAddr && port != "0" {
		return bad("admin_addr", "must differ from http_addr: the admin surface is never public")
	}
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
	if !streamRe.MatchString(c.Stream) {
		return bad("stream", "%q must be 1-64 letters, digits, '_' or '-'", c.Stream)
	}
	if err := validSubjectPrefix(c.SubjectPrefix); err != nil {
		return bad("subject_prefix", "%q %v", c.SubjectPrefix, err)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		return bad("stream_replicas", "%d must be between 1 and 5", c.StreamReplicas)
	}
	if c.StreamMaxAge <= 0 {
		return bad("stream_max_age", "must be positive")
	}
	if c.StreamDuplicateWindow < time.Second {
		return bad("stream_duplicate_window", "must be at least 1s")
	}
	if c.StreamDuplicateWindow > c.StreamMaxAge {
		return bad("stream_duplicate_window", "%s is longer than stream_max_age %s", c.StreamDuplicateWindow, c.StreamMaxAge)
	}
	if c.PublishTimeout <= 0 || c.PublishTimeout >= ProviderTimeout {
		return bad("publish_timeout", "%s must be positive and shorter than the provider's %s timeout", c.PublishTimeout, ProviderTimeout)
	}
	if c.RetryAfter < time.Second {
		return bad("retry_after", "must be at least 1s")
	}
	if c.SpoolMaxBytes < 1<<20 {
		return bad("spool_max_bytes", "%d must be at least 1 MiB", c.SpoolMaxBytes)
	}
	if c.SpoolMaxEntries < 1 {
		return bad("spool_max_entries", "%d must be at least 1", c.SpoolMaxEntries)
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
		if c.DeadLetterMaxBody < 0 || c.DeadLetterMaxBody > 1<<20 {
			return bad("deadletter_max_body", "%d must be between 0 and 1048576", c.DeadLetterMaxBody)
		}
		if c.DeadLetterMaxBytes < 1<<20 {
			return bad("deadletter_max_bytes", "%d must be at least 1 MiB", c.DeadLetterMaxBytes)
		}
		if c.DeadLetterQueueBytes < int64(c.DeadLetterMaxBody)+4096 || c.DeadLetterQueueBytes > c.DeadLetterMaxBytes {
			return bad("deadletter_queue_bytes", "%d must hold one dead letter (deadletter_max_body + 4 KiB) and be at most deadletter_max_bytes %d",
				c.DeadLetterQueueBytes, c.DeadLetterMaxBytes)
		}
	}
	if c.BodyLimit < 1024 || c.BodyLimit > 64<<20 {
		return bad("body_limit", "%d must be between 1024 and %d bytes", c.BodyLimit, 64<<20)
	}
	if u, err := url.Parse(c.EventSource); err != nil || c.EventSource == "" {
		return bad("event_source", "%q is not a URI reference", c.EventSource)
	} else if u.String() == "" {
		return bad("event_source", "must not be empty")
	}
	if c.ContentMode != "structured" && c.ContentMode != "binary" {
		return bad("content_mode", "%q must be structured or binary", c.ContentMode)
	}
	if c.SchemaBaseURL != "" {
		if u, err := url.Parse(c.SchemaBaseURL); err != nil || !u.IsAbs() {
			return bad("schema_base_url", "%q must be an absolute URL", redact.URL(c.SchemaBaseURL))
		}
	}
	if _, err := time.LoadLocation(c.ProviderTimeZone); err != nil {
		return bad("provider_time_zone", "%q is not a time zone name (%v)", c.ProviderTimeZone, err)
	}
	if c.WebhookHMACKey != "" && c.WebhookHMACKeyFile != "" {
		return bad("webhook_hmac_key_file", "set either webhook_hmac_key or webhook_hmac_key_file, not both")
	}
	if c.WebhookHMACKeyFile != "" {
		if _, err := c.ProviderKeys(); err != nil {
			return bad("webhook_hmac_key_file", "%v", err)
		}
	}
	for _, sec := range splitList(c.StandardWebhookSecret) {
		if !strings.HasPrefix(sec, "whsec_") {
			return bad("standard_webhook_secret", "each secret must start with whsec_ (value not shown)")
		}
	}
	if c.SignatureTolerance < time.Second || c.SignatureTolerance > time.Hour {
		return bad("signature_tolerance", "%s must be between 1s and 1h", c.SignatureTolerance)
	}
	if c.ReplayCacheSize < 1000 {
		return bad("replay_cache_size", "%d must be at least 1000", c.ReplayCacheSize)
	}
	for _, k := range []struct{ key, val string }{{"allowed_cidrs", c.AllowedCIDRs}, {"trusted_proxies", c.TrustedProxies}} {
		if _, err := ParsePrefixes(k.val); err != nil {
			return bad(k.key, "%v", err)
		}
	}
	if c.RateLimit < 0 || c.RateBurst < 1 {
		return bad("rate_limit", "rate_limit must be >= 0 (0 turns it off) and rate_burst >= 1")
	}
	if c.NATSMaxPayload < 64<<10 {
		return bad("nats_max_payload", "%d must be at least 64 KiB", c.NATSMaxPayload)
	}
	if c.MaxReadsPerSource < 0 {
		return bad("max_reads_per_source", "%d must be >= 0 (0 turns it off)", c.MaxReadsPerSource)
	}
	if c.BodyMinRate < 0 {
		return bad("body_min_rate", "%d must be >= 0 bytes per second (0 turns it off)", c.BodyMinRate)
	}
	if c.BodyReadGrace <= 0 || c.BodyReadGrace > c.ReadTimeout {
		return bad("body_read_grace", "%s must be positive and at most read_timeout %s", c.BodyReadGrace, c.ReadTimeout)
	}
	if c.MaxInFlight < 1 {
		return bad("max_in_flight", "%d must be at least 1", c.MaxInFlight)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return bad("tls_key_file", "tls_cert_file and tls_key_file go together")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", "%q must be debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		return bad("log_format", "%q must be json or console", c.LogFormat)
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"read_header_timeout", c.ReadHeaderTimeout},
		{"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout},
		{"idle_timeout", c.IdleTimeout},
		{"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.val <= 0 {
			return bad(d.key, "must be positive")
		}
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > time.Minute {
		return bad("shutdown_delay", "%s must be between 0 and 1m", c.ShutdownDelay)
	}
	if c.WriteTimeout <= c.PublishTimeout {
		return bad("write_timeout", "%s must be longer than publish_timeout %s, or answers are cut off", c.WriteTimeout, c.PublishTimeout)
	}
	// Families shape every route and subject, tracking or not.
	if err := c.validFamilies(); err != nil {
		return err
	}
	return c.validateTracking()
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
	// The provider allows 3 record-info requests per second per task.
	if c.TrackingPollInterval < time.Second {
		return bad("tracking_poll_interval", "%s must be at least 1s", c.TrackingPollInterval)
	}
	if c.TrackingPollAfter < 0 {
		return bad("tracking_poll_after", "must not be negative")
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
	if c.TrackingStuckAfter <= 0 {
		return bad("tracking_stuck_after", "must be positive")
	}
	if c.TrackingPollRate <= 0 || c.TrackingPollRate > 100 {
		return bad("tracking_poll_rate", "%g must be above 0 and at most 100 per second", c.TrackingPollRate)
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
	if c.ProviderTimeout <= 0 || c.ProviderTimeout > time.Minute {
		return bad("provider_timeout", "%s must be positive and at most 1m", c.ProviderTimeout)
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
		if c.SubmitRateLimit < 0 || c.SubmitRateLimit > 1000 {
			return bad("submit_rate_limit", "%g must be 0 (off) to 1000 per second", c.SubmitRateLimit)
		}
	}
	return nil
}

// MinSubmitToken is the shortest submit_token accepted.
const MinSubmitToken = 16

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
	for _, k := range splitList(raw) {
		keys = append(keys, []byte(k))
	}
	if c.WebhookHMACKeyFile != "" && len(keys) == 0 {
		return nil, fmt.Errorf("key file %s holds no key", c.WebhookHMACKeyFile)
	}
	return keys, nil
}

// StandardSecrets splits standard_webhook_secret at commas.
func (c Config) StandardSecrets() []string { return splitList(c.StandardWebhookSecret) }

// ParsePrefixes parses a comma-separated list of CIDRs or single addresses.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range splitList(list) {
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

func splitList(s string) []string {
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
