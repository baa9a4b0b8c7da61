// Command sunosim is a stand-in for the Suno API (every callback family),
// for demos and end-to-end tests of vocals-bridge.
//
//	sunosim [serve flags]        run the simulated provider
//	sunosim submit [flags]       submit tasks to it (or to the bridge's submit proxy)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	run := serve
	if len(args) > 0 && args[0] == "submit" {
		run, args = submit, args[1:]
	}
	if err := run(ctx, args, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sunosim:", err)
		}
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sunosim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	key := fs.String("api-key", os.Getenv("SUNOSIM_API_KEY"), "Bearer key clients must send (default $SUNOSIM_API_KEY)")
	hmacKey := fs.String("hmac-key", os.Getenv("SUNOSIM_HMAC_KEY"), "sign callbacks with this key (default $SUNOSIM_HMAC_KEY)")
	scale := fs.Float64("scale", 1, "multiply every provider delay by this (0.01: the 21-minute retry span in 12.6 s)")
	gap := fs.Duration("stage-gap", 20*time.Second, "unscaled time between stages")
	faultSpec := fs.String("fault", "", "fault for tasks that name none: never, skip, duplicate, stuck, drop=text+first, late=2s, fail=531, pollerr=2")
	pollLimit := fs.Int("poll-limit", 3, "record-info requests per second per task before 429")
	spelling := fs.String("spelling", sunosim.SpellingK, "whose pages callbacks follow where the providers disagree: s or k")
	media := fs.Bool("media", false, "name media files on this listener (http://<addr>/media/...) in callbacks, and serve them; without it they are on a host that does not resolve")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *key == "" {
		return errors.New("set -api-key or SUNOSIM_API_KEY")
	}
	if *spelling != sunosim.SpellingS && *spelling != sunosim.SpellingK {
		return fmt.Errorf("-spelling %q: want s or k", *spelling)
	}
	fault, err := sunosim.ParseFault(*faultSpec)
	if err != nil {
		return err
	}
	logger := log.New(out, "sunosim ", log.LstdFlags|log.Lmicroseconds)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	mediaBase := ""
	if *media {
		mediaBase = "http://" + ln.Addr().String() + strings.TrimSuffix(sunosim.MediaPath, "/")
	}
	sim := sunosim.New(sunosim.Options{
		APIKey: *key, HMACKey: *hmacKey, Scale: *scale, StageGap: *gap, Fault: fault,
		PollLimit: *pollLimit, Logf: logger.Printf, Spelling: *spelling, MediaBase: mediaBase,
	})
	defer sim.Close()
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	logger.Printf("listening on http://%s (scale %g, stage gap %s, spelling %s)", ln.Addr(), *scale, *gap, *spelling)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func submit(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sunosim submit", flag.ContinueOnError)
	api := fs.String("api", "http://127.0.0.1:8090", "base URL: the simulator, or the bridge's submit proxy")
	key := fs.String("api-key", os.Getenv("SUNOSIM_API_KEY"), "Bearer key; empty sends none (the bridge's proxy adds its own)")
	n := fs.Int("n", 1, "tasks to submit")
	callback := fs.String("callback", "", "callBackUrl; empty lets the bridge's proxy fill it in")
	faults := fs.String("faults", "", "semicolon-separated fault per task, used in turn (e.g. \";never;fail=531\")")
	famName := fs.String("family", "vocals", "the tasks' family: vocals, generate, lyrics, wav, stems, ...")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fam, ok := sunosim.FamilyNamed(*famName)
	if !ok {
		return fmt.Errorf("-family %q is not a family", *famName)
	}
	perTask := strings.Split(*faults, ";")
	client := &http.Client{Timeout: 20 * time.Second}
	for i := range *n {
		req := map[string]any{
			"uploadUrl": "https://files.sunosim.invalid/instrumental.mp3", "prompt": "[Verse] Night city lights shining bright",
			"title": fmt.Sprintf("Demo song %d", i+1), "style": "synthwave", "negativeTags": "metal",
			fam.CallbackField(): *callback, "vocalGender": "f",
		}
		if f := perTask[i%len(perTask)]; f != "" {
			req[sunosim.FaultField] = f
		}
		body, _ := json.Marshal(req)
		header := http.Header{"Content-Type": {"application/json"}}
		if *key != "" {
			header.Set("Authorization", "Bearer "+*key)
		}
		// A bridge that is starting answers 503 with Retry-After.
		status, answer, err := sunosim.Post(ctx, client, strings.TrimSuffix(*api, "/")+fam.Submit, header, body)
		if err != nil {
			return err
		}
		fault, _ := req[sunosim.FaultField].(string)
		fmt.Fprintf(out, "submitted %s %q (fault %q): HTTP %d %s\n", fam.Name, req["title"], fault, status, bytes.TrimSpace(answer))
	}
	return nil
}
