package natsembed

import (
	"testing"

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

// SyncAlways reaches the server's JetStream configuration: it fsyncs each
// message before acknowledging it, or on its two-minute timer when off.
func TestSyncAlwaysIsTheServersSetting(t *testing.T) {
	for _, on := range []bool{true, false} {
		srv, err := Start(Options{StoreDir: t.TempDir(), SyncAlways: on}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		got := srv.srv.JetStreamConfig().SyncAlways
		srv.Shutdown()
		if got != on {
			t.Errorf("SyncAlways %v: the server runs with %v", on, got)
		}
	}
}
