package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/internal/testenv"
)

// TestLoadSmoke is CI's load smoke: 500 dancers against an in-process
// `pika lan` equivalent, three plays through the engine and one through the
// watched history file, crowd actions and a reconnect storm. It asserts
// correctness only (timing belongs in BENCHMARKS.md, not in a test): every
// subscribed dancer got every track exactly once, nothing of another
// session reached anyone, and the storm ended with every snapshot.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

func TestLoadSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("load smoke: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dbURL := testenv.Postgres(t)
	tg, err := startInProcess(ctx, true, dbURL, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tg.stop(); err != nil {
			t.Errorf("stop server: %v", err)
		}
	}()
	o := options{
		Dancers: 500, Foreign: 50, Sources: 4, DialConc: 32, StormConc: 256,
		BusTracks: 3, FileTracks: 1, Gap: 100 * time.Millisecond,
		PhaseLimit: 20 * time.Second, Timeout: 10 * time.Second, Settle: 10 * time.Millisecond,
		Storm: true, Actions: true, ProbeWrites: true, DatabaseURL: dbURL,
	}
	rep, err := run(ctx, tg, o, log)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printReport(&b, rep)
	t.Log("\n" + b.String())

	if len(rep.Errors) > 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
	if rep.Connect.OK != 500 || rep.Subscribe.OK != 500 {
		t.Errorf("joined %d, subscribed %d of 500", rep.Connect.OK, rep.Subscribe.OK)
	}
	if len(rep.Plays) != 2 {
		t.Fatalf("play phases = %d, want bus and file", len(rep.Plays))
	}
	for _, p := range rep.Plays {
		if p.Phones != 500 || p.Missed != 0 || p.Duplicates != 0 || p.Latency.N != 500*p.Tracks {
			t.Errorf("%s: %d phones, %d frames, %d missed, %d duplicates (want every phone every track once)",
				p.Drive, p.Phones, p.Latency.N, p.Missed, p.Duplicates)
		}
		for i, w := range p.ServerWrites {
			if w != 500 {
				t.Errorf("%s track %d: the server wrote %d track frames, want one per phone (500)", p.Drive, i, w)
			}
		}
	}
	if rep.Foreigns != 0 || rep.Leaks != 0 {
		t.Errorf("isolation: %d frames of another session, %d tracks at the other session's phones", rep.Foreigns, rep.Leaks)
	}
	if a := rep.Actions; a == nil || a.Answered != int64(a.Sent) || a.Sent != 2000 {
		t.Errorf("crowd actions: %+v (want 2,000 sent, every one answered)", a)
	} else if p := a.Persisted; p == nil || !p.Complete || p.Doubled != 0 || len(p.Found) != 3 {
		t.Errorf("persisted: %+v (want every accepted action in PostgreSQL once)", p)
	} else {
		for k, want := range p.Expected {
			if want != 500 || p.Found[k] != want {
				t.Errorf("PostgreSQL %s: %d rows, want %d (one per dancer, all 500 accepted)", k, p.Found[k], want)
			}
		}
	}
	if s := rep.Storm; s == nil || s.Want != 500 || s.OK != 500 {
		t.Errorf("storm: %+v (want all 500 with a snapshot)", s)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:3000", "127.9.9.9:1", "[::1]:80", "localhost:3000"} {
		if err := loopbackAddr(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:3000", "example.com:80", "0.0.0.0:3000", "192.168.1.2:3000"} {
		if loopbackAddr(bad) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	err := mainErr(context.Background(), []string{"--url", "http://10.1.2.3:3000", "--quiet"}, &strings.Builder{}, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("--url 10.1.2.3: %v", err)
	}
}

func TestFrameScan(t *testing.T) {
	f := []byte(`{"v":1,"id":"01JDA9XYZ","type":"track.played","sessionId":"S1","seq":42,"at":"x","play":{"track":{"id":"trk_1","title":"pika-load #17","artist":"a"}}}`)
	if string(frameType(f)) != "track.played" || string(stringField(f, "sessionId")) != "S1" || string(stringField(f, "id")) != "01JDA9XYZ" {
		t.Fatalf("fields: %s %s %s", frameType(f), stringField(f, "sessionId"), stringField(f, "id"))
	}
	if n, ok := uintField(f, "seq"); !ok || n != 42 {
		t.Fatalf("seq = %d %v", n, ok)
	}
	if k, ok := trackMarker(f); !ok || k != 17 {
		t.Fatalf("marker = %d %v", k, ok)
	}
	if v, err := parseShare("10%"); err != nil || v != 0.1 {
		t.Fatalf("parseShare = %v %v", v, err)
	}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
