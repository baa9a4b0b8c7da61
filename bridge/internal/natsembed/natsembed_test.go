package natsembed

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap/zaptest"
)

// With a listener the bridge connects through it (cheaper than the
// in-process pipe); without one, in-process. Either way it reaches the
// server.
func TestConnectOptionUsesTheListenerWhenThereIsOne(t *testing.T) {
	for name, addr := range map[string]string{"listener": "127.0.0.1:0", "in-process": ""} {
		t.Run(name, func(t *testing.T) {
			srv, err := Start(Options{StoreDir: t.TempDir(), ListenAddr: addr}, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Shutdown)
			nc, err := nats.Connect("", srv.ConnectOption())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if err := nc.Flush(); err != nil {
				t.Fatalf("no round trip: %v", err)
			}
			tcp := nc.ConnectedAddr() != "pipe"
			if got := srv.ClientURL(); (got != "") != tcp {
				t.Fatalf("listener %q, connected over %q", got, nc.ConnectedAddr())
			}
			if tcp && nc.ConnectedUrl() != srv.ClientURL() {
				t.Fatalf("connected to %s, not the listener %s", nc.ConnectedUrl(), srv.ClientURL())
			}
		})
	}
}

// SyncAlways and SyncInterval reach the server's JetStream configuration:
// it fsyncs each message before acknowledging it, or on its timer (the
// journal's horizon counts on the interval).
func TestSyncIsTheServersSetting(t *testing.T) {
	for _, o := range []Options{{SyncAlways: true}, {}, {SyncInterval: time.Second}} {
		o.StoreDir = t.TempDir()
		srv, err := Start(o, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		cfg := srv.srv.JetStreamConfig()
		srv.Shutdown()
		want := o.SyncInterval
		if want == 0 {
			want = 2 * time.Minute // the server's default
		}
		if cfg.SyncAlways != o.SyncAlways || cfg.SyncInterval != want {
			t.Errorf("%+v: the server runs with always %v, interval %s", o, cfg.SyncAlways, cfg.SyncInterval)
		}
	}
}
