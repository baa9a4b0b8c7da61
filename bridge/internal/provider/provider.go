// Package provider is the bridge's client of the provider's API: it
// forwards every family's submissions and reads a task's state from its
// family's details endpoint, turning that state into the callback it
// stands for. Answers are untrusted bytes and are parsed defensively.
package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// maxAnswer bounds what is read of any answer.
const maxAnswer = 4 << 20

// Client talks to the provider. It is safe for concurrent use.
type Client struct {
	base string
	key  string
	http *http.Client
}

// New returns a Client for baseURL authenticating with apiKey.
func New(baseURL, apiKey string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("provider: base URL %q is not absolute", baseURL)
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), key: apiKey, http: &http.Client{Timeout: timeout}}, nil
}

// Error is an answer that was not a success. It never holds the API key.
type Error struct {
	Op         string // "submit" or "record-info"
	HTTPStatus int    // 0 when no answer arrived
	Code       int    // the envelope's code, 0 when absent
	Msg        string
	RetryAfter time.Duration // from a Retry-After header, 0 when absent
	Err        error         // the transport error, when no answer arrived
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("provider %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("provider %s: HTTP %d, code %d: %s", e.Op, e.HTTPStatus, e.Code, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// RateLimited reports an answer asking to slow down: HTTP 429, or the
// envelope codes the provider uses for call frequency (405, 429, 430).
func (e *Error) RateLimited() bool {
	return e.HTTPStatus == http.StatusTooManyRequests || e.Code == 405 || e.Code == 429 || e.Code == 430
}

// Reason is a short label for metrics: rate_limited, unauthorized,
// not_found, server_error, transport, or refused.
func (e *Error) Reason() string {
	switch {
	case e.RateLimited():
		return "rate_limited"
	case e.HTTPStatus == 401 || e.Code == 401:
		return "unauthorized"
	case e.Code == 404 || e.HTTPStatus == 404:
		return "not_found"
	case e.Err != nil:
		return "transport"
	case e.HTTPStatus >= 500 || e.Code >= 500:
		return "server_error"
	}
	return "refused"
}

// Answer is a forwarded submission's answer, to be returned unchanged.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
	// TaskID is data.taskId when the envelope's code is 200, else "".
	TaskID string
}

// Submit forwards a request body to a family's submit path (SubmitPath
// for add-vocals). auth is the Authorization header to send; empty sends
// the client's own key. A transport failure is an *Error; any answer,
// success or not, is returned as it came.
func (c *Client) Submit(ctx context.Context, path string, body []byte, auth string) (Answer, error) {
	if auth == "" {
		auth = "Bearer " + c.key
	}
	resp, raw, err := c.do(ctx, "submit", http.MethodPost, c.base+path, bytes.NewReader(body), auth)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: raw}
	var env struct {
		Code int `json:"code"`
		Data struct {
			TaskID string `json:"taskId"`
		} `json:"data"`
	}
	if resp.StatusCode == http.StatusOK && json.Unmarshal(raw, &env) == nil && env.Code == 200 {
		a.TaskID = env.Data.TaskID
	}
	return a, nil
}

// do sends one request with auth and reads the answer (at most maxAnswer
// bytes). Only a failure to get an answer is an error, an *Error.
func (c *Client) do(ctx context.Context, op, method, target string, body io.Reader, auth string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, nil, &Error{Op: op, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", auth)
	ctx, span := tracing.Start(ctx, method+" "+op, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	tracing.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := c.http.Do(req)
	if span.IsRecording() {
		span.SetAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.URLPath(req.URL.Path))
		if resp != nil {
			span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
		}
	}
	if err != nil {
		return nil, nil, &Error{Op: op, Err: redact(err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, nil, &Error{Op: op, HTTPStatus: resp.StatusCode, Err: err}
	}
	return resp, raw, nil
}

// bounded holds an answer to the bounds of a callback body before anything
// is built from it: a body's size, nesting, members and array elements (by
// the family's limits), so that an answer of a million empty tracks costs
// one streaming pass, not an event of hundreds of megabytes. A refused
// answer is an *Error (reason "refused"), a failed poll.
func bounded(resp *http.Response, raw []byte, lim callback.Limits) error {
	if len(raw) > maxDetails {
		return &Error{Op: "record-info", HTTPStatus: resp.StatusCode, Msg: fmt.Sprintf("answer is larger than %d bytes", maxDetails)}
	}
	if _, err := callback.PeekWith(raw, lim, nil); err != nil {
		return &Error{Op: "record-info", HTTPStatus: resp.StatusCode, Msg: "answer refused: " + err.Error()}
	}
	return nil
}

// maxDetails is the largest details answer read: a callback body's default
// limit (body_limit), since an answer stands for one.
const maxDetails = 1 << 20

// redact drops the request from a transport error: url.Error carries the
// URL, and a misconfigured base URL could carry credentials.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// get fetches path?taskId= and reads its envelope: a non-success answer
// is an *Error.
func (c *Client) get(ctx context.Context, path, taskID string) (*http.Response, []byte, error) {
	return c.do(ctx, "record-info", http.MethodGet, c.base+path+"?taskId="+url.QueryEscape(taskID), nil, "Bearer "+c.key)
}

func answerError(resp *http.Response, code int, msg string, perr error) *Error {
	e := &Error{Op: "record-info", HTTPStatus: resp.StatusCode, Code: code, Msg: msg}
	if perr != nil && resp.StatusCode == http.StatusOK {
		e.Msg = perr.Error()
	}
	if s, err := strconv.ParseInt(resp.Header.Get("Retry-After"), 10, 64); err == nil && s > 0 {
		e.RetryAfter = time.Duration(min(s, int64(MaxRetryAfter/time.Second))) * time.Second
	}
	return e
}

// MaxRetryAfter caps a provider's Retry-After: a pause asked for pauses
// every poll of the replica (task timeouts included), so one answer must
// not stop tracking for longer than the reconciler's longest backoff.
const MaxRetryAfter = 10 * time.Minute

func (c *Client) recordInfoWith(ctx context.Context, path, taskID string, lim callback.Limits) (TaskInfo, error) {
	resp, raw, err := c.get(ctx, path, taskID)
	if err != nil {
		return TaskInfo{}, err
	}
	if err := bounded(resp, raw, lim); err != nil {
		return TaskInfo{}, err
	}
	info, code, msg, perr := parseRecordInfo(raw)
	if resp.StatusCode != http.StatusOK || perr != nil || code != 200 {
		return TaskInfo{}, answerError(resp, code, msg, perr)
	}
	if info.TaskID != "" && info.TaskID != taskID {
		return TaskInfo{}, &Error{Op: "record-info", HTTPStatus: resp.StatusCode, Code: code,
			Msg: fmt.Sprintf("answer is for task %q", info.TaskID)}
	}
	info.TaskID, info.Raw = taskID, raw
	return info, nil
}
