package desktop_test

import (
	"context"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop"
	"github.com/pika-dj/pika/internal/testenv"
)

func TestParseManual(t *testing.T) {
	for _, c := range []struct {
		line, artist, title string
		bpm                 float64
		bad                 bool
	}{
		{line: "Example Band - Slow Dance", artist: "Example Band", title: "Slow Dance"},
		{line: "  Example Band - Slow Dance | 96 ", artist: "Example Band", title: "Slow Dance", bpm: 96},
		{line: "Example Band – Slow Dance|101.5 BPM", artist: "Example Band", title: "Slow Dance", bpm: 101.5},
		{line: "Slow Dance", title: "Slow Dance"},
		{line: "Slow Dance | 88bpm", title: "Slow Dance", bpm: 88},
		{line: "Artist - Song - Radio Edit", artist: "Artist", title: "Song - Radio Edit"},
		{line: "Jay-Z - 99 Problems", artist: "Jay-Z", title: "99 Problems"},
		{line: "AC|DC - Thunder | 130", artist: "AC|DC", title: "Thunder", bpm: 130},
		{line: "", bad: true},
		{line: "   \t ", bad: true},
		{line: "Artist - ", bad: true},
		{line: "| 96", bad: true},
		{line: "Song | fast", bad: true},
		{line: "Song | NaN", bad: true},
		{line: "Song | 1000", bad: true},
		{line: "Song\x07", bad: true},
	} {
		d, err := desktop.ParseManual(c.line)
		if c.bad {
			if err == nil {
				t.Errorf("%q: accepted as %+v", c.line, d.Track)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		want := bus.NewTrack(c.artist, c.title)
		want.BPM = c.bpm
		if d.Track != want || d.Source != "manual" || d.Key != "" || !d.At.IsZero() {
			t.Errorf("%q: got %+v, want track %+v", c.line, d, want)
		}
	}
}

func TestDemoPlays(t *testing.T) {
	b := testenv.NATS(t)
	e := engine(t, b, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- desktop.Demo(ctx, e, 20*time.Millisecond) }()
	testenv.Eventually(t, 10*time.Second, "demo did not play 14 tracks", func() bool {
		st, ok := e.State()
		return ok && st.Plays >= 14 // more than the table: it loops
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Demo returned %v", err)
	}
	st, _ := e.State()
	evs := stored(t, b, st.ID)
	for _, ev := range evs[1:] {
		tr := ev.Play.Track
		if ev.Play.Source != "demo" || tr.BPM < 80 || tr.BPM > 110 || tr.Key == "" || tr.Artist == "" {
			t.Fatalf("demo play %+v", ev.Play)
		}
	}
	if err := desktop.Demo(t.Context(), e, 0); err == nil {
		t.Fatal("Demo accepted a zero interval")
	}
}
