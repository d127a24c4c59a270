package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
)

// TestLANEndToEnd: a line appended to a watched history file reaches a
// real WebSocket client subscribed to that session, and a client
// subscribed to another session receives nothing.
func TestLANEndToEnd(t *testing.T) {
	dir := t.TempDir()
	hist := newHistory(t, filepath.Join(dir, "2026-11-26.m3u"), "Old Artist - Played Before Pika Started")
	base, r, out := startLAN(t, "--data", filepath.Join(dir, "data"), "--watch", hist.path, "--dj-name", "DJ Nova")

	hist.append("Example Band - Slow Dance")
	defer func() {
		if t.Failed() {
			t.Logf("pika lan output:\n%s", out)
		}
	}()
	first := liveSession(t, base, "Slow Dance")
	if first.DJName != "DJ Nova" {
		t.Fatalf("session = %+v", first)
	}
	// End that session; the next play opens a second one.
	if err := r.Engine.End(context.Background(), bus.EndByDJ); err != nil {
		t.Fatal(err)
	}
	other := dial(t, base)
	other.subscribe(first.ID, nil)
	other.wait(5*time.Second, "snapshot of the ended session", isType("snapshot"))

	hist.append("Second Band - Opening Number")
	second := liveSession(t, base, "Opening Number")
	if second.ID == first.ID {
		t.Fatal("the play after End did not start a new session")
	}
	d := dial(t, base)
	d.subscribe(second.ID, nil)
	snap := d.wait(5*time.Second, "snapshot", isType("snapshot"))
	if np := snap["nowPlaying"].(map[string]any); np["title"] != "Opening Number" {
		t.Fatalf("snapshot nowPlaying = %v", np)
	}

	hist.append("Third Band - Live Wire")
	ev := d.wait(10*time.Second, "the appended play on the socket", played("Live Wire"))
	if ev["sessionId"] != second.ID {
		t.Fatalf("event for %v on a socket subscribed to %s", ev["sessionId"], second.ID)
	}
	time.Sleep(300 * time.Millisecond) // give a stray event time to arrive
	for _, e := range other.events() {
		if e["sessionId"] != first.ID {
			t.Fatalf("a socket following %s received %v", first.ID, e)
		}
	}
	// The play that was in the file before Pika! first saw it is not a play.
	var hist1 []bus.PlayedTrack
	getJSON(t, base+"/api/sessions/"+first.ID+"/history", &hist1)
	if len(hist1) != 1 || hist1[0].Title != "Slow Dance" {
		t.Fatalf("first session history = %+v", hist1)
	}
	if !strings.Contains(out.String(), "Dancers: ") {
		t.Fatalf("no dancer URL printed:\n%s", out)
	}
}

// TestLANConfig: bad values are reported one line each, not as a crash.
func TestLANConfig(t *testing.T) {
	a := &app{getenv: func(k string) string {
		return map[string]string{"PIKA_LOG_LEVEL": "loud", "PORT": "99999"}[k]
	}, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	err := a.run(context.Background(), []string{"lan", "--addr", "nope", "--demo-every", "1ms", "--public-url", "ftp://x", "--actions-per-ip", "0"})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	msg := err.Error()
	for _, want := range []string{"--addr/PIKA_ADDR \"nope\"", "--port/PORT \"99999\"", "PIKA_LOG_LEVEL \"loud\"", "--demo-every", "--public-url", "--actions-per-ip"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
	// A flag wins over the environment.
	cfg, err := parseLAN([]string{"--dj-name", "Flag Name"}, func(k string) string {
		return map[string]string{"PIKA_DJ_NAME": "Env Name", "PORT": "4000"}[k]
	}, nil)
	if err != nil || cfg.DJName != "Flag Name" || cfg.Addr != ":4000" {
		t.Fatalf("cfg = %+v, %v", cfg, err)
	}
}

// TestDemoUsesTemporaryData: --demo plays tracks and leaves the real data
// folder untouched.
func TestDemoUsesTemporaryData(t *testing.T) {
	real := filepath.Join(t.TempDir(), "must-not-exist")
	base, r, _ := startLAN(t, "--demo", "--demo-every", "1s", "--data", real)
	liveSession(t, base, "Slow Burn Sunday")
	t.Logf("pika lan --demo: serving %s after start", r.Elapsed)
	if _, err := os.Stat(real); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the demo touched the data folder: %v", err)
	}
}
