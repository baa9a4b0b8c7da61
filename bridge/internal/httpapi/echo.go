package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
)

// ErrorBody is the JSON body of every non-2xx answer.
type ErrorBody struct {
	Status string `json:"status"` // always "error"
	Reason string `json:"reason"` // machine-readable, fixed set
	Error  string `json:"error"`  // for humans
}

func errorBody(reason, msg string) ErrorBody {
	return ErrorBody{Status: "error", Reason: reason, Error: msg}
}

const requestIDHeader = "X-Request-Id"

// newEcho returns an Echo instance with the middleware both listeners share:
// request ids, panic recovery answered 500, JSON errors, and duration metrics.
func newEcho(log *zap.Logger, m *metrics.Metrics, listener string) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.JSONSerializer = jsonV2{}
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status, msg = he.Code, http.StatusText(he.Code)
		}
		reason := "internal"
		switch status {
		case http.StatusNotFound:
			reason = "not_found"
		case http.StatusMethodNotAllowed:
			reason = "method_not_allowed"
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, errorBody(reason, msg))
	}
	e.Use(
		// The id lives in the answer's header only (Echo's per-request store
		// allocates a map); a client's id is kept only when it is safe to log.
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{
			TargetHeader: requestIDHeader, Generator: newRequestID,
			RequestIDHandler: func(c echo.Context, id string) {
				if !validRequestID(id) {
					c.Response().Header().Set(requestIDHeader, newRequestID())
				}
			},
		}),
		func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				start := time.Now()
				err := next(c)
				if err != nil {
					c.Error(err)
				}
				route := c.Path()
				if route == "" || c.Response().Status == http.StatusNotFound {
					route = "unmatched" // keeps scanner noise out of the label set
				}
				metrics.Observe(c.Request().Context(), m.HTTPDuration.WithLabelValues(listener, route, strconv.Itoa(c.Response().Status)),
					time.Since(start).Seconds())
				return nil
			}
		},
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			StackSize: 4 << 10, DisableStackAll: true,
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				log.Error("handler panic", zap.String("request_id", requestID(c)), zap.Error(err), zap.ByteString("stack", stack))
				return echo.NewHTTPError(http.StatusInternalServerError)
			},
		}),
	)
	return e
}

// jsonV2 is Echo's JSON serializer with json v2: an answer is encoded
// into one buffer and written once (Echo's default encodes straight into
// the response, which was a tenth of the handler's time).
type jsonV2 struct{}

func (jsonV2) Serialize(c echo.Context, v any, indent string) error {
	var opts []json.Options
	if indent != "" { // WithIndent alone turns multiline output on
		opts = append(opts, jsontext.WithIndent(indent))
	}
	b, err := json.Marshal(v, opts...)
	if err != nil {
		return err
	}
	_, err = c.Response().Write(append(b, '\n'))
	return err
}

func (jsonV2) Deserialize(c echo.Context, v any) error {
	if err := json.UnmarshalRead(c.Request().Body, v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error()).SetInternal(err)
	}
	return nil
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(requestIDHeader)
}

// validRequestID reports whether a client's X-Request-Id can be kept:
// 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
