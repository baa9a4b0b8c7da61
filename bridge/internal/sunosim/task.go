package sunosim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// task is one simulated task. Its fields are guarded by Sim.mu.
type task struct {
	ID          string
	fam         Family
	param       string // the request as submitted, a JSON string
	callbackURL string
	title       string
	prompt      string
	fault       Fault
	media       string // the media URL base, ending in "/"

	status    string // record-info status
	stage     string // last stage reached
	reachedAt time.Time

	Submitted   time.Time
	Deliveries  []Delivery
	Abandoned   []string // stages whose callback was given up after every retry
	active      int      // goroutines of the task's still running; see Sim.spawn
	Polls       []time.Time
	PollErrors  int
	RateLimited int
}

// statusOf maps a stage to the record-info status it shows.
var statusOf = map[string]string{
	"text": "TEXT_SUCCESS", "first": "FIRST_SUCCESS", "complete": "SUCCESS",
}

func (t *task) reach(stage string) {
	t.stage, t.reachedAt = stage, time.Now()
	if st, ok := statusOf[stage]; ok {
		t.status = st
		return
	}
	t.status = "GENERATE_AUDIO_FAILED"
	if t.fault.Fail == 400 {
		t.status = "SENSITIVE_WORD_ERROR"
	}
}

// track is one generated track in both spellings the provider uses.
type track struct {
	id, audio, stream, image, title, prompt, created string
	duration                                         float64
	ready                                            bool // audio exists
}

// tracks are what the task has produced by its current stage: both titles
// and lyrics from text on, the first track's audio from first, both from
// complete.
func (t *task) tracks() []track {
	if t.stage == "" || t.stage == "error" {
		return nil
	}
	base := t.media + t.ID
	created := t.reachedAt.UTC().Format("2006-01-02 15:04:05")
	out := make([]track, 2)
	for i := range out {
		out[i] = track{
			id: fmt.Sprintf("%s-%d", t.ID[:8], i+1), title: t.title, prompt: t.prompt,
			image: fmt.Sprintf("%s/%d.jpeg", base, i+1), created: created,
		}
		if t.stage == "complete" || t.stage == "first" && i == 0 {
			out[i].ready = true
			out[i].audio = fmt.Sprintf("%s/%d.mp3", base, i+1)
			out[i].stream = fmt.Sprintf("%s/%d/stream", base, i+1)
			out[i].duration = 180.5 + float64(i)
		}
	}
	if t.stage == "first" {
		return out[:1]
	}
	return out
}

// item is the track as JSON: snake_case as in callbacks, or camelCase as
// in record-info's sunoData.
func (tr track) item(camel bool) map[string]any {
	fields := []struct {
		snake, camel string
		val          any
	}{
		{"id", "id", tr.id}, {"audio_url", "audioUrl", tr.audio}, {"source_audio_url", "sourceAudioUrl", tr.audio},
		{"stream_audio_url", "streamAudioUrl", tr.stream}, {"source_stream_audio_url", "sourceStreamAudioUrl", tr.stream},
		{"image_url", "imageUrl", tr.image}, {"source_image_url", "sourceImageUrl", tr.image},
		{"prompt", "prompt", tr.prompt}, {"model_name", "modelName", "chirp-v4-5"}, {"title", "title", tr.title},
		{"tags", "tags", "sim"}, {"createTime", "createTime", tr.created}, {"duration", "duration", nil},
	}
	if tr.ready {
		fields[len(fields)-1].val = tr.duration
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if camel {
			out[f.camel] = f.val
		} else {
			out[f.snake] = f.val
		}
	}
	return out
}

// callbackBody is the callback the provider sends on reaching stage.
func (t *task) callbackBody(stage, spelling string) []byte {
	if !strings.HasPrefix(t.fam.Kind, "music") {
		b, _ := json.Marshal(t.oneShotBody(stage, spelling))
		return b
	}
	if stage == "error" {
		b, _ := json.Marshal(map[string]any{
			"code": t.fault.Fail, "msg": failureMsg(t.fault.Fail),
			"data": map[string]any{"callbackType": "error", "task_id": t.ID, "data": nil},
		})
		return b
	}
	var items []map[string]any
	for _, tr := range t.tracks() {
		items = append(items, tr.item(false))
	}
	msgs := map[string]string{
		"text": "Text generation completed.", "first": "First track generated.", "complete": "All generated successfully.",
	}
	b, _ := json.Marshal(map[string]any{
		"code": 200, "msg": msgs[stage],
		"data": map[string]any{"callbackType": stage, "task_id": t.ID, "data": items},
	})
	return b
}

func failureMsg(code int) string {
	switch code {
	case 400:
		return "Lyrics contained copyrighted material."
	case 413:
		return "Uploaded audio matches an existing work of art."
	case 531:
		return "Sorry, the generation failed due to an issue. Your credits have been refunded. Please try again."
	}
	return "Audio generation failed."
}

// recordInfo is the data of a record-info answer, in its camelCase form.
func (t *task) recordInfo() map[string]any {
	var suno []map[string]any
	for _, tr := range t.tracks() {
		suno = append(suno, tr.item(true))
	}
	data := map[string]any{
		"taskId": t.ID, "param": t.param, "status": t.status, "type": t.fam.taskType(),
		"response":  map[string]any{"taskId": t.ID, "sunoData": suno},
		"errorCode": nil, "errorMessage": nil,
	}
	if t.stage == "error" {
		data["errorCode"] = t.fault.Fail
		data["errorMessage"] = failureMsg(t.fault.Fail)
	}
	return data
}

func (t *task) view() TaskView {
	return TaskView{
		ID: t.ID, Status: t.status, Submitted: t.Submitted,
		Deliveries: append([]Delivery(nil), t.Deliveries...), Abandoned: append([]string(nil), t.Abandoned...),
		Polls:      append([]time.Time(nil), t.Polls...),
		PollErrors: t.PollErrors, RateLimited: t.RateLimited, Settled: t.active == 0,
	}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func drain(r io.Reader) (int64, error) { return io.Copy(io.Discard, io.LimitReader(r, 1<<20)) }
