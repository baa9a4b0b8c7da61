package main_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// peakRSS is the process's high-water mark of resident memory, in MiB.
func peakRSS(t *testing.T, pid int) float64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc status to read peak RSS from: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// hostile are bodies of about 1 MiB (under body_limit) built to make a
// decoder allocate: many tracks, deep nesting, many members, one huge
// string, many small extras in a track.
func hostile(task string) map[string][]byte {
	const size = 1 << 20
	head := `{"code":200,"msg":"m","data":{"callbackType":"complete","task_id":"` + task + `",`
	fill := func(unit string) string { return strings.Repeat(unit, (size-200)/len(unit)) }
	keys := func(prefix string) string {
		var b strings.Builder
		for i := 0; b.Len() < size-300; i++ {
			fmt.Fprintf(&b, `"%s%d":0,`, prefix, i)
		}
		return strings.TrimSuffix(b.String(), ",")
	}
	return map[string][]byte{
		"empty tracks":      []byte(head + `"data":[` + fill("{},") + `{}]}}`),
		"deep nesting":      []byte(head + `"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}}`),
		"many members":      []byte(head + keys("k") + `}}`),
		"one huge string":   []byte(head + `"x":"` + fill("ab") + `"}}`),
		"many track extras": []byte(head + `"data":[{` + keys("t") + `}]}}`),
		"many small arrays": []byte(head + `"x":[` + fill("[],") + `[]]}}`),
		// MIDI's limits are the loosest: many empty notes, and many notes
		// just under them.
		"midi empty notes": []byte(`{"code":200,"msg":"m","task_id":"` + task + `","data":{"instruments":[{"notes":[` + fill("{},") + `{}]}]}}`),
		"midi notes": []byte(`{"code":200,"msg":"m","task_id":"` + task + `","data":{"instruments":[{"notes":[` +
			strings.Repeat(`{"pitch":1,"start":2},`, 20_000) + `{}]}]}}`),
		// Just under the element limit, each note with members the event
		// keeps as extras.
		"midi notes with extras": []byte(`{"code":200,"msg":"m","task_id":"` + task + `","data":{"instruments":[{"notes":[` +
			strings.Repeat(`{"pitch":1,"x":1,"y":2,"z":3},`, 24_990) + `{}]}]}}`),
	}
}

// Eight concurrent hostile 1 MiB bodies, three rounds of each kind, keep
// the bridge's peak RSS under 300 MiB with its defaults: with verification
// off, with a valid signature (decoded in full) and with a junk one
// (refused after the streaming peek).
//
// Not parallel: peak RSS depends on when the collector gets to run, and
// with other tests competing for the two cores it runs later.
func TestHostileBodiesBoundMemory(t *testing.T) {
	bin := plainBinary
	for _, mode := range []string{"unsigned", "signed", "junk signature"} {
		t.Run(mode, func(t *testing.T) {
			var env []string
			if mode != "unsigned" {
				env = append(env, "VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=memory-key")
			}
			p := startBinary(t, bin, t.TempDir(), append(env, "VOCALS_BRIDGE_RATE_LIMIT=0")...)
			statuses := map[string]map[int]int{}
			var mu sync.Mutex
			for round := range 3 {
				for name, body := range hostile(fmt.Sprintf("hostile%d", round)) {
					var wg sync.WaitGroup
					for i := range 8 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							// A task of its own per request, so that every
							// signed one is decoded in full, not a replay.
							task := fmt.Sprintf("hostile%d%s%d", round, strings.ReplaceAll(name, " ", ""), i)
							body := bytes.Replace(body, []byte(`"hostile`+strconv.Itoa(round)+`"`), []byte(`"`+task+`"`), 1)
							header := map[string]string{}
							if mode != "unsigned" {
								ts, sig := sign("memory-key", task, time.Now().Unix())
								header["X-Webhook-Timestamp"] = ts
								header["X-Webhook-Signature"] = sig
								if mode == "junk signature" {
									header["X-Webhook-Signature"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
								}
							}
							route := "/callbacks/vocals"
							if strings.HasPrefix(name, "midi") {
								route = "/callbacks/midi"
							}
							req, _ := http.NewRequest(http.MethodPost, p.public+route, bytes.NewReader(body))
							req.Header.Set("Content-Type", "application/json")
							req.Header.Set("X-Request-Id", fmt.Sprintf("r%d%s%d", round, strings.ReplaceAll(name, " ", ""), i))
							for k, v := range header {
								req.Header.Set(k, v)
							}
							resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
							if err != nil {
								t.Error(err)
								return
							}
							resp.Body.Close()
							mu.Lock()
							if statuses[name] == nil {
								statuses[name] = map[int]int{}
							}
							statuses[name][resp.StatusCode]++
							mu.Unlock()
						}()
					}
					wg.Wait()
				}
			}
			peak := peakRSS(t, p.cmd.Process.Pid)
			t.Logf("%s: peak RSS %.0f MiB; answers %v", mode, peak, statuses)
			if peak >= 300 {
				t.Errorf("peak RSS %.0f MiB, want under 300", peak)
			}
			if mode == "junk signature" {
				for name, byStatus := range statuses {
					if byStatus[401]+byStatus[400] != 24 {
						t.Errorf("%s with a junk signature: %v", name, byStatus)
					}
				}
			}
		})
	}
}
