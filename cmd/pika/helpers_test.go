package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/gateway"
	"github.com/pika-dj/pika/internal/testenv"
)

// history is a VirtualDJ-style history file a test appends plays to, as
// VirtualDJ does during a set.
type history struct {
	t    *testing.T
	path string
	at   time.Time
}

func newHistory(t *testing.T, path string, existing ...string) *history {
	h := &history{t: t, path: path, at: time.Now().Add(-time.Hour).Truncate(time.Second)}
	var b strings.Builder
	b.WriteString("\ufeff")
	for _, e := range existing {
		b.WriteString(h.entry(e))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// entry formats "Artist - Title" as an #EXTVDJ block with its own play time.
func (h *history) entry(artistTitle string) string {
	h.at = h.at.Add(3 * time.Minute)
	artist, title, _ := strings.Cut(artistTitle, " - ")
	return fmt.Sprintf("#EXTVDJ:<time>%s</time><lastplaytime>%d</lastplaytime><artist>%s</artist><title>%s</title>\r\nD:\\Music\\%s.mp3\r\n",
		h.at.Format("15:04"), h.at.Unix(), artist, title, strings.ReplaceAll(artistTitle, " ", "_"))
}

func (h *history) append(artistTitle string) {
	h.t.Helper()
	f, err := os.OpenFile(h.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(h.entry(artistTitle)); err != nil {
		h.t.Fatal(err)
	}
}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return resp.StatusCode
}

// liveSession waits until base serves exactly one live session whose
// current track has the given title.
func liveSession(t *testing.T, base, title string) gateway.SessionInfo {
	t.Helper()
	var got gateway.SessionInfo
	testenv.Eventually(t, 15*time.Second, "a live session playing "+title, func() bool {
		var list []gateway.SessionInfo
		if getJSON(t, base+"/api/sessions", &list) != 200 || len(list) != 1 || list[0].CurrentTrack == nil {
			return false
		}
		got = list[0]
		return got.CurrentTrack.Title == title
	})
	return got
}

// dancer is a dancer's phone: a real WebSocket client recording every
// frame it gets.
type dancer struct {
	*testenv.Phone
	t *testing.T
}

func dial(t *testing.T, base string) *dancer {
	t.Helper()
	return &dancer{Phone: testenv.Dial(t, base), t: t}
}

func (d *dancer) subscribe(sid string, lastSeq *uint64) {
	d.t.Helper()
	f := map[string]any{"type": "subscribe", "ref": "sub", "sessionId": sid, "clientId": "c-e2e-test-client"}
	if lastSeq != nil {
		f["lastSeq"] = *lastSeq
	}
	d.Send(f)
}

// wait returns the first frame matching fn, waiting up to dur.
func (d *dancer) wait(dur time.Duration, what string, fn func(map[string]any) bool) map[string]any {
	d.t.Helper()
	return d.Wait(dur, what, fn)
}

// events returns the bus events received so far (frames with a seq).
func (d *dancer) events() []map[string]any {
	var out []map[string]any
	for _, f := range d.Frames() {
		if _, ok := f["seq"]; ok && f["type"] != "snapshot" {
			out = append(out, f)
		}
	}
	return out
}

func isType(typ string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["type"] == typ }
}

func played(title string) func(map[string]any) bool {
	return func(f map[string]any) bool {
		if f["type"] != string(bus.TypeTrackPlayed) {
			return false
		}
		tr := f["play"].(map[string]any)["track"].(map[string]any)
		return tr["title"] == title
	}
}

// lockedBuffer is an io.Writer tests can read while the program writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLAN runs `pika lan args…` in-process and returns its base URL.
// startLANWith runs `pika lan args…` in-process with env as its whole
// environment (nil: an empty one, so no real home folder is ever searched
// for DJ programs; tests give a fake HOME).
func startLANWith(t *testing.T, env map[string]string, args ...string) (string, lanReady, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	ready := make(chan lanReady, 1)
	done := make(chan error, 1)
	a := &app{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader(""), stdout: out, stderr: out,
		ready: func(r lanReady) { ready <- r }}
	go func() { done <- a.run(ctx, append([]string{"lan", "--addr", "127.0.0.1:0"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pika lan: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("pika lan did not stop within 15 s")
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pika lan output:\n%s", out)
		}
	})
	select {
	case r := <-ready:
		return "http://" + r.Addr, r, out
	case err := <-done:
		done <- err // for the cleanup, which waits for it
		t.Fatalf("pika lan ended before serving: %v\n%s", err, out)
	case <-time.After(e2eWait):
		t.Fatalf("pika lan not serving after %s\n%s", e2eWait, out)
	}
	panic("unreachable")
}

func startLAN(t *testing.T, args ...string) (string, lanReady, *lockedBuffer) {
	t.Helper()
	return startLANWith(t, nil, args...)
}
