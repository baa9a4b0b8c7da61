package sunosim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"path"
	"strings"
	"time"
)

// MediaPath is where the simulator serves the files its callbacks name
// (Options.MediaBase is the URL of this path on its listener).
const MediaPath = "/media/"

// DefaultMediaBase is the media URL base when Options.MediaBase is empty:
// a host that does not resolve, as the provider's files are out of reach
// of a test.
const DefaultMediaBase = "https://files.sunosim.invalid"

// Media files whose name holds one of these words misbehave:
//   - large: 4 MiB instead of 8-40 KiB;
//   - slow: sent in 1 KiB pieces over about two seconds;
//   - crawl: the same over about a minute;
//   - flaky: 503 for the first two requests of each path, then the file;
//   - fail: always 503;
//   - html: an error page, text/html;
//   - redirect: 302 to the same file on localhost instead of the address
//     asked (a host an allow-list of the address does not name).
const (
	MediaLarge    = "large"
	MediaSlow     = "slow"
	MediaCrawl    = "crawl"
	MediaFlaky    = "flaky"
	MediaFail     = "fail"
	MediaHTML     = "html"
	MediaRedirect = "redirect"
)

// mediaTypes map a file extension to its content type and leading bytes
// (what a content sniffer recognises).
var mediaTypes = map[string]struct {
	contentType string
	magic       []byte
}{
	".mp3":  {"audio/mpeg", []byte("ID3\x04\x00\x00\x00\x00\x00\x00")},
	".wav":  {"audio/wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt ")},
	".jpeg": {"image/jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")},
	".jpg":  {"image/jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")},
	".png":  {"image/png", []byte("\x89PNG\r\n\x1a\n")},
	".mp4":  {"video/mp4", []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")},
}

// MediaFile is the file the simulator serves at MediaPath+name: the same
// bytes for the same name, every time, so a test knows their digest.
func MediaFile(name string) (body []byte, contentType string) {
	mt, ok := mediaTypes[path.Ext(name)]
	if !ok {
		mt = mediaTypes[".mp3"] // a stream URL has no extension
	}
	seed := sha256.Sum256([]byte(name))
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:16])))
	size := 8<<10 + rng.IntN(32<<10)
	if strings.Contains(name, MediaLarge) {
		size = 4 << 20
	}
	body = make([]byte, size)
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	copy(body, mt.magic)
	return body, mt.contentType
}

// media serves MediaFile, with the misbehaviours its name asks for.
func (s *Sim) media(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, MediaPath)
	s.mu.Lock()
	s.mediaHits[name]++
	hits := s.mediaHits[name]
	s.mu.Unlock()
	switch {
	case strings.Contains(name, MediaRedirect):
		_, port, _ := strings.Cut(r.Host, ":")
		http.Redirect(w, r, "http://localhost:"+port+MediaPath+strings.ReplaceAll(name, MediaRedirect, "moved"), http.StatusFound)
		return
	case strings.Contains(name, MediaFail), strings.Contains(name, MediaFlaky) && hits <= 2:
		http.Error(w, "storage busy", http.StatusServiceUnavailable)
		return
	case strings.Contains(name, MediaHTML):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><html><body>not found</body></html>"))
		return
	}
	body, ct := MediaFile(name)
	w.Header().Set("Content-Type", ct)
	over := map[bool]time.Duration{true: 2 * time.Second}[strings.Contains(name, MediaSlow)]
	if strings.Contains(name, MediaCrawl) {
		over = time.Minute
	}
	if over == 0 {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
		return
	}
	const piece = 1 << 10
	pause := over / time.Duration(len(body)/piece+1)
	for len(body) > 0 {
		n := min(piece, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		body = body[n:]
		select {
		case <-r.Context().Done():
			return
		case <-time.After(pause):
		}
	}
}

// MediaHits is how often the file name was asked for.
func (s *Sim) MediaHits(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mediaHits[name]
}
