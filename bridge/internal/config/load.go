package config

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Setting is one field of Config as its tags declare it.
type Setting struct {
	Key     string // YAML key
	Env     string // environment variable
	Flag    string // command-line flag without dashes
	Group   string // heading in --help and the sample file
	Help    string // what it does, for --help, the README and the sample file
	Default string // the default as written; empty is the zero value
	Type    reflect.Type
	min     string
	max     string
	oneof   []string
	field   int
}

// Settings lists every key in declaration order. Callers must not modify it.
func Settings() []Setting { return settings() }

var settings = sync.OnceValue(func() []Setting {
	t := reflect.TypeFor[Config]()
	out := make([]Setting, 0, t.NumField())
	group := ""
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("yaml")
		group = cmp.Or(f.Tag.Get("group"), group)
		out = append(out, Setting{
			Key: key, Env: EnvPrefix + strings.ToUpper(key), Flag: strings.ReplaceAll(key, "_", "-"),
			Group: group, Help: f.Tag.Get("help"), Default: f.Tag.Get("default"), Type: f.Type,
			min: f.Tag.Get("min"), max: f.Tag.Get("max"), oneof: strings.Fields(f.Tag.Get("oneof")),
			field: i,
		})
	}
	return out
})

// defaults is every default tag applied; a tag that does not parse is a
// programming error, caught by any test that loads a configuration.
var defaults = sync.OnceValue(func() Config {
	var c Config
	for _, s := range Settings() {
		if s.Default == "" {
			continue
		}
		if err := s.set(&c, s.Default); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", s.Key, err))
		}
	}
	return c
})

// check holds c's value of s to the bounds in its tags.
func (s Setting) check(c Config) error {
	v := reflect.ValueOf(c).Field(s.field)
	if len(s.oneof) > 0 && !slices.Contains(s.oneof, v.String()) {
		return bad(s.Key, "%q must be one of %s", v.String(), strings.Join(s.oneof, ", "))
	}
	below, above := s.beyond(v, s.min, -1), s.beyond(v, s.max, 1)
	switch {
	case (below || above) && s.min != "" && s.max != "":
		return bad(s.Key, "%s must be between %s and %s", s.shown(v), s.min, s.max)
	case below:
		return bad(s.Key, "%s must be at least %s", s.shown(v), s.min)
	case above:
		return bad(s.Key, "%s must be at most %s", s.shown(v), s.max)
	}
	return nil
}

// beyond reports whether v lies past the bound (parsed like the setting
// itself) in direction dir: -1 below it, 1 above it.
func (s Setting) beyond(v reflect.Value, bound string, dir int) bool {
	if bound == "" {
		return false
	}
	var b Config
	if err := s.set(&b, bound); err != nil {
		panic(fmt.Sprintf("config: bound of %s: %v", s.Key, err))
	}
	w := reflect.ValueOf(b).Field(s.field)
	if v.CanFloat() {
		return cmp.Compare(v.Float(), w.Float()) == dir
	}
	return cmp.Compare(v.Int(), w.Int()) == dir
}

// shown is a value as one would write it.
func (s Setting) shown(v reflect.Value) string {
	if d, ok := v.Interface().(time.Duration); ok {
		return d.String()
	}
	return fmt.Sprint(v.Interface())
}

// Names is how a key is spelled in each source, for errors about a value
// that passed validation but failed at start-up (a busy port):
// "http_addr (--http-addr, VOCALS_BRIDGE_HTTP_ADDR)".
func Names(key string) string {
	return fmt.Sprintf("%s (--%s, %s%s)", key, strings.ReplaceAll(key, "_", "-"), EnvPrefix, strings.ToUpper(key))
}

// set parses raw into the setting's field of c.
func (s Setting) set(c *Config, raw string) error {
	v := reflect.ValueOf(c).Elem().Field(s.field)
	switch v.Interface().(type) {
	case string:
		v.SetString(raw)
	case int, int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		v.SetInt(n)
	case bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		v.SetBool(b)
	case float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		v.SetFloat(f)
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 30s or 5m", raw)
		}
		v.SetInt(int64(d))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// ShortUsage is what a mistyped command line points to, and the head of
// --help.
const ShortUsage = `usage:
  vocals-bridge [--config FILE] [--<setting> VALUE ...]   run the bridge
  vocals-bridge tail [--stages complete,error] [...]       follow the events (tail --help)
  vocals-bridge probe [--config FILE] [URL]                healthcheck: exit 0 when /readyz answers 200
  vocals-bridge inspect <task_id> [--json]                 what the bridge knows of a task (inspect --help)
  vocals-bridge deadletters list|show|redrive [...]        recover refused callbacks (deadletters --help)
  vocals-bridge version                                    print the version
  vocals-bridge help                                       every setting
`

// Commands are the words that may follow vocals-bridge.
var Commands = []string{"tail", "probe", "inspect", "deadletters", "version", "help"}

// Load builds the configuration from defaults, then the YAML file named by
// --config (if any), then VOCALS_BRIDGE_* variables from environ, then flags
// in args, and validates the result. Unknown YAML keys and flags are errors
// (a mistyped flag names the closest one); unknown VOCALS_BRIDGE_* variables
// only produce warnings, because Kubernetes injects <SERVICE>_PORT-style
// variables for a service named vocals-bridge. --help writes every setting
// to helpOut and returns flag.ErrHelp.
func Load(args, environ []string, helpOut io.Writer) (Config, []string, error) {
	cfg, rest, warnings, err := Parse(args, environ, helpOut)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unknown command %q%s; the commands are %s", rest[0], Suggest(rest[0], Commands, "", ""), strings.Join(Commands, ", "))
	}
	return cfg, warnings, err
}

// Parse is Load for a command that takes arguments after the flags: it
// returns them instead of refusing them.
func Parse(args, environ []string, helpOut io.Writer) (Config, []string, []string, error) {
	cfg := Default()
	settings := Settings()

	fs := flag.NewFlagSet("vocals-bridge", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help is written below
	file := fs.String("config", "", "YAML configuration file (example: config/vocals-bridge.yaml)")
	flagVals := make(map[string]*string, len(settings))
	names := []string{"config"}
	for _, s := range settings {
		flagVals[s.Key] = fs.String(s.Flag, "", s.Key)
		names = append(names, s.Flag)
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprint(helpOut, ShortUsage+"\n  --config FILE\n        a YAML file of settings (config/vocals-bridge.yaml lists every key); variables override it, flags override both\n")
			PrintHelp(helpOut)
			return cfg, nil, nil, flag.ErrHelp
		}
	}
	if err := fs.Parse(args); err != nil {
		return cfg, nil, nil, FlagError(err, names, `"vocals-bridge help" lists every setting`)
	}

	// Where each key got its value, so that an error found by Validate
	// names the key as it was written.
	source := map[string]string{}
	if *file != "" {
		keys, err := loadYAML(&cfg, *file)
		if err != nil {
			return cfg, nil, nil, err
		}
		for _, k := range keys {
			source[k] = *file
		}
	}

	byEnv := make(map[string]Setting, len(settings))
	for _, s := range settings {
		byEnv[s.Env] = s
	}
	var warnings []string
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		s, known := byEnv[name]
		if !known {
			warnings = append(warnings, fmt.Sprintf("ignoring unknown variable %s", name))
			continue
		}
		if err := s.set(&cfg, val); err != nil {
			return cfg, nil, warnings, &Error{Key: s.Key, Source: "env", Msg: err.Error()}
		}
		source[s.Key] = "env"
	}
	sort.Strings(warnings)

	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.Flag == f.Name && flagErr == nil {
				if err := s.set(&cfg, *flagVals[s.Key]); err != nil {
					flagErr = &Error{Key: s.Key, Source: "flag", Msg: err.Error()}
				}
				source[s.Key] = "flag"
			}
		}
	})
	if flagErr != nil {
		return cfg, nil, warnings, flagErr
	}
	err := cfg.Validate()
	var cfgErr *Error
	if errors.As(err, &cfgErr) && cfgErr.Source == "" {
		cfgErr.Source = source[cfgErr.Key]
	}
	return cfg, fs.Args(), warnings, err
}

// loadYAML applies a flat map of scalar keys; every value goes through the
// same parser as environment variables, so all sources accept one syntax.
func loadYAML(cfg *Config, path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	var doc map[string]yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	byKey := make(map[string]Setting)
	for _, s := range Settings() {
		byKey[s.Key] = s
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := byKey[k]
		if !ok {
			return nil, &Error{Key: k, Source: path, Msg: "unknown key"}
		}
		n := doc[k]
		if n.Kind != yaml.ScalarNode {
			return nil, &Error{Key: k, Source: path, Msg: fmt.Sprintf("line %d: must be a single value", n.Line)}
		}
		if err := s.set(cfg, n.Value); err != nil {
			return nil, &Error{Key: k, Source: path, Msg: fmt.Sprintf("line %d: %v", n.Line, err)}
		}
	}
	return keys, nil
}
