package deadletter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
)

// Dead letters are found by reason, family and task with subject filters,
// keep the signature headers, and a mark is found again.
func TestStoreFindsAndMarks(t *testing.T) {
	ctx := context.Background()
	_, js := natstest.Start(t).Connect(t)
	w := deadletter.New(js, spec, 1<<20, 16<<20, nil)
	if err := w.EnsureStream(ctx); err != nil {
		t.Fatal(err)
	}
	sig := http.Header{"X-Webhook-Signature": {"c2ln"}, "X-Webhook-Timestamp": {"1700000000"}}
	for _, r := range []deadletter.Rejection{
		{Reason: "signature", Family: "vocals", TaskID: "t1", Body: []byte(`{"a":1}`), BodySize: 7, Header: sig},
		{Reason: "malformed_json", Family: "lyrics", TaskID: "t2", Body: []byte(`{`), BodySize: 1},
		{Reason: "malformed_json", Family: "lyrics", Body: []byte(`{{`), BodySize: 2},
		{Reason: "signature", Family: "wav", TaskID: "bad.task*id", Body: []byte(`{"b":2}`), BodySize: 7},
	} {
		r.At, r.ContentType, r.Error = time.Now(), "application/json", "test"
		w.Record(r)
	}
	w.Close(ctx)
	store := deadletter.Store{JS: js, Spec: spec}
	tests := map[string]struct {
		f    deadletter.Filter
		want []string // subjects
	}{
		"all":              {deadletter.Filter{}, []string{"vocals_dlq.signature.vocals.t1", "vocals_dlq.malformed_json.lyrics.t2", "vocals_dlq.malformed_json.lyrics._", "vocals_dlq.signature.wav._"}},
		"by reason":        {deadletter.Filter{Reason: "signature"}, []string{"vocals_dlq.signature.vocals.t1", "vocals_dlq.signature.wav._"}},
		"by family":        {deadletter.Filter{Family: "lyrics"}, []string{"vocals_dlq.malformed_json.lyrics.t2", "vocals_dlq.malformed_json.lyrics._"}},
		"by task":          {deadletter.Filter{TaskID: "t2"}, []string{"vocals_dlq.malformed_json.lyrics.t2"}},
		"none":             {deadletter.Filter{TaskID: "nope"}, nil},
		"limit":            {deadletter.Filter{Limit: 1}, []string{"vocals_dlq.signature.vocals.t1"}},
		"after":            {deadletter.Filter{After: 2}, []string{"vocals_dlq.malformed_json.lyrics._", "vocals_dlq.signature.wav._"}},
		"after, by reason": {deadletter.Filter{After: 1, Reason: "signature"}, []string{"vocals_dlq.signature.wav._"}},
		"in the past":      {deadletter.Filter{Until: time.Now().Add(-time.Hour)}, nil},
		"from the future":  {deadletter.Filter{Since: time.Now().Add(time.Hour)}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			list, err := store.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range list {
				got = append(got, l.Subject)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	l, err := store.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(l.Body) != `{"a":1}` || l.Header.Get("X-Webhook-Signature") != "c2ln" || l.TaskID != "t1" || l.Redriven != nil {
		t.Errorf("dead letter 1: %+v", l)
	}
	mark := deadletter.Redrive{Outcome: "published", EventID: "e1", Subject: "vocals.t1.complete", At: time.Now().UTC().Truncate(time.Second)}
	for range 2 { // marking twice keeps one mark
		if err := store.Mark(ctx, 1, mark); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := store.Get(ctx, 1); err != nil || l.Redriven == nil || *l.Redriven != mark {
		t.Errorf("after the mark: %+v %v", l.Redriven, err)
	}
	if _, err := store.Get(ctx, 5); !errors.Is(err, deadletter.ErrNotFound) { // the mark itself
		t.Errorf("Get of a mark: %v", err)
	}
	if _, err := store.Get(ctx, 99); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("Get of nothing: %v", err)
	}
	if list, _ := store.List(ctx, deadletter.Filter{}); len(list) != 4 {
		t.Errorf("a mark is listed as a dead letter: %d", len(list))
	}
	// A long list reads the marks in one pass.
	w = deadletter.New(js, spec, 1<<20, 16<<20, nil)
	for i := range 20 {
		w.Record(deadletter.Rejection{Reason: "malformed_json", Family: "midi", Body: []byte(fmt.Sprint(i)), BodySize: 1, At: time.Now()})
	}
	w.Close(ctx)
	if err := store.Mark(ctx, 10, mark); err != nil {
		t.Fatal(err)
	}
	list, err := store.List(ctx, deadletter.Filter{})
	if err != nil || len(list) != 24 {
		t.Fatalf("%d dead letters, %v", len(list), err)
	}
	for _, l := range list {
		if (l.Redriven != nil) != (l.Seq == 1 || l.Seq == 10) {
			t.Errorf("dead letter %d: mark %+v", l.Seq, l.Redriven)
		}
	}
}
