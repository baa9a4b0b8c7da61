package publish

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/redact"
)

// ConnHooks are told about connection state changes (for metrics).
type ConnHooks struct {
	OnConnected    func()
	OnDisconnected func()
}

// Connect opens the bridge's NATS connection. servers are seed URLs of one
// cluster. Extra options (e.g. nats.InProcessServer, or
// nats.RetryOnFailedConnect to start while NATS is down) come last.
//
// The reconnect buffer is disabled: while disconnected a publish fails at
// once instead of waiting in a client buffer, so nothing is ever answered as
// accepted that only the client holds.
func Connect(servers []string, log *zap.Logger, hooks ConnHooks, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("vocals-bridge"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.ReconnectBufSize(-1),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil when we closed it ourselves
				log.Warn("nats disconnected", zap.Error(err))
			}
			if hooks.OnDisconnected != nil {
				hooks.OnDisconnected()
			}
		}),
		nats.ConnectHandler(func(nc *nats.Conn) { // first connect after RetryOnFailedConnect
			log.Info("nats connected", zap.String("server", nc.ConnectedUrlRedacted()))
			if hooks.OnConnected != nil {
				hooks.OnConnected()
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", zap.String("server", nc.ConnectedUrlRedacted()))
			if hooks.OnConnected != nil {
				hooks.OnConnected()
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			log.Info("nats connection closed")
			if hooks.OnDisconnected != nil {
				hooks.OnDisconnected()
			}
		}),
	}
	opts = append(opts, extra...)
	nc, err := nats.Connect(strings.Join(servers, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("publish: connecting to nats %s: %w", redact.URLs(servers), err)
	}
	if hooks.OnConnected != nil && nc.IsConnected() {
		hooks.OnConnected()
	}
	return nc, nil
}

// redact drops user info from URLs before they reach a log or error.
