package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
)

// Every family's examples, published in both content modes, decode into
// the family's own data type; Consume takes only the families and stages
// asked for, across prefixes.
func TestEveryFamilyDecodesAndFilters(t *testing.T) {
	for _, mode := range []string{event.Structured, event.Binary} {
		t.Run(mode, func(t *testing.T) {
			srv := natstest.Start(t)
			nc, js := srv.Connect(t)
			pub, err := publish.NewJetStream(nc, "VOCALS", mode, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			prefixes := map[event.Family]string{event.FamilyLyrics: "songtext"}
			spec := publish.StreamSpec{Name: "VOCALS", SubjectPrefix: "vocals", Replicas: 1, MaxAge: time.Hour, Duplicates: time.Minute}
			b := cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost:8080/schemas", time.UTC).WithPrefixes(prefixes)
			for _, f := range family.All()[1:] {
				spec.MorePrefixes = append(spec.MorePrefixes, b.Prefix(f.Name))
			}
			if err := publish.EnsureStream(ctx, js, spec); err != nil {
				t.Fatal(err)
			}
			wantLyricsOrWAV := 0
			for i, f := range family.All() {
				for j, ex := range f.Examples() {
					body := ex.For(fmt.Sprintf("t%d-%d", i, j)) // one message per subject
					p, err := f.Kind.Peek(body)
					if err != nil {
						t.Fatal(err)
					}
					cb, err := f.Kind.Decode(p, f.Name)
					if err != nil {
						t.Fatal(err)
					}
					m, err := b.Build(cb, cloudevent.Source{Body: body})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := pub.Publish(ctx, m); err != nil {
						t.Fatal(err)
					}
					e, err := consumer.Decode(m.Subject, nats.Header{"Content-Type": {event.ContentType}}, m.Body)
					if err != nil {
						t.Fatalf("%s/%s: %v", f.Name, ex.Name, err)
					}
					if e.Family != f.Name || e.Stage != ex.Stage {
						t.Errorf("%s/%s decoded as %s %s", f.Name, ex.Name, e.Family, e.Stage)
					}
					if want := fmt.Sprintf("%T", f.Name.NewData())[1:]; fmt.Sprintf("%T", e.Payload) != want {
						t.Errorf("%s: payload %T, want %s", f.Name, e.Payload, want)
					}
					if _, ok := e.Failure(); ok != (ex.Stage == event.StageError) {
						t.Errorf("%s/%s: Failure() says %v", f.Name, ex.Name, ok)
					}
					if (f.Name == event.FamilyLyrics || f.Name == event.FamilyWAV) && ex.Stage == event.StageComplete {
						wantLyricsOrWAV++
					}
				}
			}
			// The stored messages decode in this content mode too.
			for _, m := range natstest.Messages(t, js, "VOCALS", ">") {
				if _, err := consumer.Decode(m.Subject, m.Header, m.Data); err != nil {
					t.Errorf("%s: %v", m.Subject, err)
				}
			}
			var (
				mu  sync.Mutex
				got []consumer.Event
			)
			cctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- consumer.Consume(cctx, js, consumer.Options{
					Durable: "lyrics-wav", Prefixes: prefixes,
					Families: []event.Family{event.FamilyLyrics, event.FamilyWAV},
					Stages:   []event.Stage{event.StageComplete},
				}, func(_ context.Context, e consumer.Event) error {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, e)
					return nil
				})
			}()
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n >= wantLyricsOrWAV || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != wantLyricsOrWAV {
				t.Fatalf("consumed %d events, want %d", len(got), wantLyricsOrWAV)
			}
			for _, e := range got {
				switch e.Family {
				case event.FamilyLyrics:
					if d, ok := consumer.DataOf[event.LyricsV1](e); !ok || len(d.Lyrics) == 0 || e.Subject[:9] != "songtext." {
						t.Errorf("lyrics event %s: %+v", e.Subject, e.Payload)
					}
				case event.FamilyWAV:
					if d, ok := consumer.DataOf[event.WavV1](e); !ok || d.AudioWavURL == "" {
						t.Errorf("wav event %s: %+v", e.Subject, e.Payload)
					}
				default:
					t.Errorf("%s event %s delivered", e.Family, e.Subject)
				}
				if e.Stage != event.StageComplete {
					t.Errorf("stage %s delivered", e.Stage)
				}
			}
		})
	}
}
