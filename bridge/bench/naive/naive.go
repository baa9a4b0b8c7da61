// Package naive is the bridge a user would write by hand, the benchmark's
// baseline: a plain net/http handler that decodes the callback and does one
// synchronous JetStream publish with a Nats-Msg-Id per request. No
// verification, no event envelope, no spool, no metrics, no logging.
package naive

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Handler answers POSTs with 200 once JetStream acknowledged the body.
func Handler(js jetstream.JetStream, prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var cb struct {
			Code int `json:"code"`
			Data struct {
				CallbackType string `json:"callbackType"`
				TaskID       string `json:"task_id"`
			} `json:"data"`
		}
		if err != nil || json.Unmarshal(body, &cb) != nil || cb.Data.TaskID == "" {
			http.Error(w, "bad callback", http.StatusBadRequest)
			return
		}
		stage := cb.Data.CallbackType
		if cb.Code != 200 {
			stage = "error"
		}
		msg := &nats.Msg{Subject: prefix + "." + cb.Data.TaskID + "." + stage, Data: body}
		if _, err := js.PublishMsg(r.Context(), msg, jetstream.WithMsgID(cb.Data.TaskID+"/"+stage)); err != nil {
			http.Error(w, "publish failed", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"received"}`))
	})
}
