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
	// TaskSubjectPrefix, when set, is captured too (tracking events).
	TaskSubjectPrefix string
	// MorePrefixes are captured as well: the other families' stage and
	// task subject prefixes.
	MorePrefixes []string
	Replicas     int
	MaxAge       time.Duration
	Duplicates   time.Duration
}

// Config returns the JetStream configuration for s. One message per subject
// with discard-new-per-subject makes a second event for the same task stage
// impossible while the first is retained, even after the duplicate window.
func (s StreamSpec) Config() jetstream.StreamConfig {
	var subjects []string
	for _, p := range s.prefixes() {
		subjects = append(subjects, p+".>")
	}
	description := "vocals-bridge: Suno add-vocals callbacks as CloudEvents"
	if len(s.MorePrefixes) > 0 {
		description = "vocals-bridge: Suno API callbacks as CloudEvents"
	}
	return jetstream.StreamConfig{
		Name:                 s.Name,
		Description:          description,
		Subjects:             subjects,
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

func (s StreamSpec) prefixes() []string {
	out := []string{s.SubjectPrefix}
	if s.TaskSubjectPrefix != "" {
		out = append(out, s.TaskSubjectPrefix)
	}
	return append(out, s.MorePrefixes...)
}

// ErrStreamMissing is returned by CheckStream when the stream does not exist.
var ErrStreamMissing = errors.New("stream does not exist")

// EnsureStream creates the stream or updates it to match s. A stream that
// already matches is left alone: an update is a cluster-wide proposal, and
// every bridge restart would otherwise make one.
func EnsureStream(ctx context.Context, js jetstream.JetStream, s StreamSpec) error {
	return Ensure(ctx, js, s.Config())
}

// Ensure creates the stream cfg describes, or updates it when the settings
// the bridge manages differ.
func Ensure(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	st, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := js.CreateStream(ctx, want); err != nil {
			return fmt.Errorf("publish: creating stream %s: %w", want.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("publish: looking up stream %s: %w", want.Name, err)
	case matches(st.CachedInfo().Config, want):
		return nil
	}
	if _, err := js.UpdateStream(ctx, want); err != nil {
		return fmt.Errorf("publish: updating stream %s: %w", want.Name, err)
	}
	return nil
}

// matches compares the settings the bridge manages.
func matches(have, want jetstream.StreamConfig) bool {
	return fmt.Sprint(have.Subjects) == fmt.Sprint(want.Subjects) &&
		have.Replicas == want.Replicas && have.MaxAge == want.MaxAge && have.Duplicates == want.Duplicates &&
		have.MaxMsgsPerSubject == want.MaxMsgsPerSubject && have.DiscardNewPerSubject == want.DiscardNewPerSubject &&
		have.Discard == want.Discard && have.Storage == want.Storage && have.AllowDirect == want.AllowDirect &&
		have.Description == want.Description && have.Retention == want.Retention && have.MaxBytes == want.MaxBytes
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
	for _, prefix := range s.prefixes() {
		covered := false
		for _, subj := range cfg.Subjects {
			if subj == prefix+".>" || subj == ">" {
				covered = true
			}
		}
		if !covered {
			return nil, fmt.Errorf("publish: stream %s does not capture %s.> (subjects %v)", s.Name, prefix, cfg.Subjects)
		}
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

// Refused reports whether err is the server refusing a request about a
// stream (a 4xx API error, such as a configuration it does not accept):
// asking again will not help, unlike a timeout or a missing leader. "No
// suitable peers" is not a refusal: a cluster that is still forming, or
// has a server down, places the stream once its peers are back.
func Refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 &&
		apiErr.ErrorCode != errCodeClusterNoPeers
}

// errCodeClusterNoPeers is nats-server's JSClusterNoPeersErr ("no suitable
// peers for placement"); nats.go names no constant for it.
const errCodeClusterNoPeers jetstream.ErrorCode = 10005
