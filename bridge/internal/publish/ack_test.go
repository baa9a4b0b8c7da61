package publish

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// The hand-read ack agrees with encoding/json on JetStream's answers, and
// whatever it cannot read goes the general way.
func TestParseAck(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    ack
		wantErr error
	}{
		{"stored", `{"stream":"VOCALS","seq":42}`, ack{seq: 42}, nil},
		{"duplicate, as nats-server writes it", `{"stream":"VOCALS","seq":42,"duplicate": true}`, ack{seq: 42, duplicate: true}, nil},
		{"duplicate false", `{"stream":"VOCALS","seq":42,"duplicate":false}`, ack{seq: 42}, nil},
		{"with domain", `{"stream":"VOCALS","domain":"hub","seq":7}`, ack{seq: 7}, nil},
		{"other order", `{"seq":9,"stream":"VOCALS"}`, ack{seq: 9}, nil},
		{"error", `{"error":{"code":503,"err_code":10077,"description":"maximum messages per subject exceeded"},"stream":"VOCALS","seq":0}`, ack{}, jetstream.ErrStreamNotFound},
		{"no stream", `{"seq":1}`, ack{}, jetstream.ErrInvalidJSAck},
		{"garbage", `hello`, ack{}, jetstream.ErrInvalidJSAck},
		{"seq not a number", `{"stream":"VOCALS","seq":"x"}`, ack{}, jetstream.ErrInvalidJSAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAck([]byte(tt.data))
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v %v, want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			var apiErr *jetstream.APIError
			if tt.name == "error" {
				if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 || !isPerSubjectDuplicate(err) {
					t.Errorf("error %v is not the API error", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}
