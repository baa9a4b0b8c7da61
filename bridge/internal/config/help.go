package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// PrintHelp writes every setting under its group: the flag, what it does,
// its default and its variable. The descriptions are the README's
// configuration table (TestHelpMatchesTheReadme keeps them the same).
func PrintHelp(w io.Writer) {
	byKey := map[string]Setting{}
	for _, s := range Settings() {
		byKey[s.Key] = s
	}
	def := reflect.ValueOf(Default())
	for _, g := range Groups {
		fmt.Fprintf(w, "\n%s:\n", g.Name)
		for _, k := range g.Keys {
			s := byKey[k]
			fmt.Fprintf(w, "  --%s\n        %s\n        default %s; %s; YAML %s\n", s.Flag, help[k], shown(def.Field(s.field)), s.Env, k)
		}
	}
}

// shown is a default as one would write it.
func shown(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	case string:
		if x == "" {
			return "empty"
		}
		return fmt.Sprintf("%q", x)
	}
	return strings.TrimSpace(fmt.Sprint(v.Interface()))
}

// Group is a heading of --help and the keys under it.
type Group struct {
	Name string
	Keys []string
}

// Groups orders every setting under a heading, for --help.
var Groups = []Group{
	{"Listeners", []string{"http_addr", "admin_addr", "admin_pprof", "tls_cert_file", "tls_key_file", "read_header_timeout", "read_timeout", "write_timeout", "idle_timeout", "shutdown_timeout", "shutdown_delay"}},
	{"NATS", []string{"nats_url", "embedded_nats_addr", "embedded_nats_sync_always", "nats_creds_file", "nats_nkey_file", "nats_ca_file", "nats_cert_file", "nats_key_file", "nats_max_payload", "data_dir"}},
	{"Stream and events", []string{"stream", "subject_prefix", "disabled_families", "family_subject_prefixes", "stream_replicas", "stream_manage", "stream_max_age", "stream_duplicate_window", "publish_timeout", "retry_after", "event_source", "content_mode", "schema_base_url", "provider_time_zone"}},
	{"Spool", []string{"spool_enabled", "spool_max_bytes", "spool_max_entries"}},
	{"Dead letters", []string{"deadletter_enabled", "deadletter_stream", "deadletter_subject_prefix", "deadletter_max_body", "deadletter_max_bytes", "deadletter_queue_bytes"}},
	{"Verification", []string{"webhook_hmac_key", "webhook_hmac_key_file", "standard_webhook_secret", "callback_token", "signature_tolerance", "replay_cache_size", "allowed_cidrs", "trusted_proxies"}},
	{"Limits", []string{"body_limit", "rate_limit", "rate_burst", "max_reads_per_source", "body_min_rate", "body_read_grace", "max_in_flight"}},
	{"Tracking", []string{"tracking_enabled", "tracking_bucket", "tracking_announce_subject", "tracking_poll_after", "tracking_poll_interval", "tracking_poll_rate", "tracking_deadline", "tracking_family_deadlines", "tracking_stuck_after", "provider_base_url", "provider_api_key", "provider_api_key_file", "provider_timeout", "submit_addr", "submit_callback_url", "submit_token", "submit_rate_limit"}},
	{"Logs", []string{"log_level", "log_format"}},
}

// help says what each setting does, as the README's table does.
var help = map[string]string{
	"http_addr":                 "public listener: POST /callbacks/<family> (/callbacks/vocals for add-vocals), GET /schemas/...",
	"admin_addr":                "admin listener: /healthz, /readyz, /metrics; loopback by default, the chart and Compose set :8081 so probes and Prometheus reach it",
	"nats_url":                  "comma-separated seed URLs of one NATS cluster; empty starts the embedded server",
	"embedded_nats_addr":        "loopback address where the embedded server accepts NATS clients (the bridge connects through it too, which is cheaper than an in-process pipe); empty for no listener and an in-process connection",
	"nats_creds_file":           "NATS .creds file (JWT and NKey)",
	"nats_nkey_file":            "NATS NKey seed file",
	"nats_ca_file":              "CA bundle to verify NATS servers (TLS)",
	"nats_cert_file":            "client certificate for NATS (TLS)",
	"nats_key_file":             "its key",
	"nats_max_payload":          "the server's max_payload as configured; used only until the first connect tells the real one (events larger than the server or the stream takes are refused 413 event_too_large)",
	"embedded_nats_sync_always": "the embedded server fsyncs each event before acknowledging it; false fsyncs every two minutes (faster, but a power cut can lose acknowledged events)",
	"data_dir":                  "embedded server store (<dir>/nats) and other local state",
	"stream":                    "stream name",
	"subject_prefix":            "add-vocals subjects are <prefix>.<task_id>.<stage>",
	"disabled_families":         "families turned off, comma-separated (generate, lyrics, wav, ...): no route, no subjects, no metrics; all are on by default",
	"family_subject_prefixes":   "other families' subject prefixes, family=prefix comma-separated; each defaults to the family's name (generate.<task_id>.complete)",
	"stream_replicas":           "stream replicas (1–5; 3 for a cluster)",
	"stream_manage":             "create/update the stream at start-up; false only checks it",
	"stream_max_age":            "how long events are kept",
	"stream_duplicate_window":   "JetStream duplicate window (keep it above 21m)",
	"publish_timeout":           "wait for the JetStream ack before answering 503 (must be under 15s)",
	"spool_enabled":             "spool callbacks JetStream did not acknowledge (false: answer them 503)",
	"spool_max_bytes":           "spool limit in bytes (512 MiB); when full, callbacks get 503",
	"spool_max_entries":         "spool limit in events",
	"deadletter_enabled":        "keep refused callbacks in the dead-letter stream",
	"deadletter_stream":         "dead-letter stream name",
	"deadletter_subject_prefix": "dead letters go to <prefix>.<reason>; must not overlap subject_prefix",
	"deadletter_max_body":       "bytes of a refused body kept",
	"deadletter_max_bytes":      "dead-letter stream size limit (256 MiB, oldest discarded)",
	"deadletter_queue_bytes":    "dead letters held in memory while their stream is unreachable (16 MiB, oldest dropped; at most deadletter_max_bytes)",
	"retry_after":               "Retry-After on 503 answers",
	"body_limit":                "largest accepted body, bytes",
	"event_source":              "CloudEvents source",
	"content_mode":              "structured or binary CloudEvents content mode on NATS",
	"schema_base_url":           "base of dataschema; set it to your public URL",
	"provider_time_zone":        "zone of the provider's createTime",
	"webhook_hmac_key":          "provider HMAC key(s), comma-separated (rotation); turns signature checks on",
	"webhook_hmac_key_file":     "file with one provider key per line (e.g. a mounted Secret); instead of the above",
	"standard_webhook_secret":   "Standard Webhooks secret(s) whsec_..., comma-separated",
	"callback_token":            "secret required in the URL: /callbacks/vocals/<token> or ?token=<token>",
	"signature_tolerance":       "how far a signed timestamp may be from now, either way",
	"replay_cache_size":         "signatures remembered against replays",
	"allowed_cidrs":             "comma-separated source networks allowed (empty: all)",
	"trusted_proxies":           "comma-separated proxy networks whose X-Forwarded-For is believed",
	"rate_limit":                "refused (4xx) requests per second per source address (0: off); accepted callbacks spend nothing",
	"rate_burst":                "burst per source address",
	"max_reads_per_source":      "bodies one source address may be sending at once; more get 429 source_busy (0: off)",
	"body_min_rate":             "a body must arrive at this average rate (bytes/s) once the grace is over, else 408 read_timeout (0: off)",
	"body_read_grace":           "time a body may take before the minimum rate applies (at most read_timeout)",
	"max_in_flight":             "callbacks processed at once, after their bodies arrived; more get 503",
	"tls_cert_file":             "serve HTTPS with this certificate (reloaded on change)",
	"tls_key_file":              "its private key",
	"admin_pprof":               "serve Go profiles at /debug/pprof/ on the admin listener",
	"tracking_enabled":          "track tasks and poll record-info for lost callbacks (needs the two PROVIDER_* keys below)",
	"tracking_bucket":           "JetStream key-value bucket of tracked tasks, shared by replicas",
	"tracking_announce_subject": "core NATS subject where services announce task ids; empty turns it off",
	"tracking_poll_after":       "first poll of a task this long after it is tracked",
	"tracking_poll_interval":    "then one poll per task per interval (at least 1s)",
	"tracking_poll_rate":        "record-info requests per second from one replica",
	"tracking_deadline":         "no terminal stage this long after tracking: a timeout event (<prefix>.<task_id>.timeout)",
	"tracking_family_deadlines": "tracking_deadline per family, family=duration comma-separated (lyrics=10m,video=2h)",
	"tracking_stuck_after":      "tracked this long: counted in vocals_bridge_tracking_stuck_tasks",
	"provider_base_url":         "the provider API's base URL (for record-info and the submit proxy)",
	"provider_api_key":          "the provider API key (Bearer); never logged",
	"provider_api_key_file":     "file holding the key (first line), e.g. a mounted Secret; instead of the above",
	"provider_timeout":          "timeout of each request to the provider",
	"submit_addr":               "submit proxy listener (POST each family's provider path: /api/v1/generate/add-vocals, /api/v1/lyrics, ...); empty turns it off; never public",
	"submit_callback_url":       "the callBackUrl the proxy fills in: where the provider reaches /callbacks/vocals (with the token, if any); each family's is this with its own route",
	"submit_token":              "secret every submission must carry in the Vocals-Submit-Token header (at least 16 characters); required unless submit_addr is a loopback address; never logged",
	"submit_rate_limit":         "submissions per second per source address on the submit proxy, bursts of twice that (0: off); more are 429",
	"log_level":                 "debug, info, warn, error",
	"log_format":                "json or console",
	"read_header_timeout":       "both listeners: time to read request headers",
	"read_timeout":              "both listeners: time to read a whole request",
	"write_timeout":             "both listeners: time to answer (must exceed the publish timeout)",
	"idle_timeout":              "keep-alive idle time",
	"shutdown_timeout":          "how long shutdown waits for in-flight requests",
	"shutdown_delay":            "after SIGTERM, /readyz is 503 at once and the listeners keep serving this long before closing (the chart sets 5s, for rolling updates)",
}
