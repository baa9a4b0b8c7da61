package publish

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamSpec is the stream the bridge needs.
type StreamSpec struct {
	Name          string
	SubjectPrefix string
	Replicas      int
	MaxAge        time.Duration
	Duplicates    time.Duration
}

// Config returns the JetStream configuration for s. One message per subject
// with discard-new-per-subject makes a second event for the same task stage
// impossible while the first is retained, even after the duplicate window.
func (s StreamSpec) Config() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:                 s.Name,
		Description:          "vocals-bridge: Suno add-vocals callbacks as CloudEvents",
		Subjects:             []string{s.SubjectPrefix + ".>"},
		Storage:              jetstream.FileStorage,
		Retention:            jetstream.LimitsPolicy,
		Replicas:             s.Replicas,
		MaxAge:               s.MaxAge,
		Duplicates:           s.Duplicates,
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		AllowDirect:          true,
	}
}

// ErrStreamMissing is returned by CheckStream when the stream does not exist.
var ErrStreamMissing = errors.New("stream does not exist")

// EnsureStream creates the stream or updates it to match s.
func EnsureStream(ctx context.Context, js jetstream.JetStream, s StreamSpec) error {
	if _, err := js.CreateOrUpdateStream(ctx, s.Config()); err != nil {
		return fmt.Errorf("publish: creating or updating stream %s: %w", s.Name, err)
	}
	return nil
}

// CheckStream verifies that an operator-managed stream exists and captures
// the prefix. It returns the ways its configuration weakens the
// one-event-per-stage guarantee as warnings, not errors: the operator chose.
func CheckStream(ctx context.Context, js jetstream.JetStream, s StreamSpec) ([]string, error) {
	st, err := js.Stream(ctx, s.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("publish: %w: %s (stream_manage is off, so the bridge will not create it)", ErrStreamMissing, s.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("publish: looking up stream %s: %w", s.Name, err)
	}
	cfg := st.CachedInfo().Config
	covered := false
	for _, subj := range cfg.Subjects {
		if subj == s.SubjectPrefix+".>" || subj == ">" {
			covered = true
		}
	}
	if !covered {
		return nil, fmt.Errorf("publish: stream %s does not capture %s.> (subjects %v)", s.Name, s.SubjectPrefix, cfg.Subjects)
	}
	var warn []string
	if cfg.MaxMsgsPerSubject != 1 || !cfg.DiscardNewPerSubject {
		warn = append(warn, "stream does not keep one message per subject with discard-new-per-subject: a retry after the duplicate window can store a stage twice")
	}
	if cfg.Duplicates < s.Duplicates {
		warn = append(warn, fmt.Sprintf("stream duplicate window %s is shorter than the configured %s", cfg.Duplicates, s.Duplicates))
	}
	return warn, nil
}
