package detect

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPolledWarningKeepsPlays: a Read that returns good decks with a
// Warning hands the plays over and shows the warning to the DJ; a plain
// error hands nothing over.
func TestPolledWarningKeepsPlays(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantPlays bool
	}{
		{"warning", &Warning{Err: errors.New("DJUCED's library is locked: plays go out without BPM")}, true},
		{"error", errors.New("unsupported DJUCED database"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deck := Deck{Deck: "1", Entry: Entry{ID: "load-1", Title: "Slow Dance", PlayedAt: time.Unix(1764190000, 0)}, Level: Unknown, Played: true}
			p, err := NewPolled(PolledConfig{Name: "test", ReadEvery: 10 * time.Millisecond,
				Read: func(context.Context) ([]Deck, error) { return []Deck{deck}, tc.err }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			got := make(chan Entry, 4)
			done := make(chan error, 1)
			go func() {
				done <- p.Run(ctx, func(_ context.Context, e Entry) error { got <- e; return nil })
			}()
			deadline := time.After(10 * time.Second)
			for p.Status().Err == "" {
				select {
				case <-deadline:
					t.Fatal("the problem never reached the status")
				case <-time.After(5 * time.Millisecond):
				}
			}
			if !strings.Contains(p.Status().Err, tc.err.Error()) {
				t.Errorf("status %q, want %q", p.Status().Err, tc.err)
			}
			var plays int
			if tc.wantPlays {
				select {
				case e := <-got:
					plays++
					if e.Title != "Slow Dance" {
						t.Errorf("handed over %+v", e)
					}
				case <-deadline:
					t.Fatal("no play handed over with a warning")
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			plays += len(got)
			if tc.wantPlays != (plays > 0) || plays > 1 {
				t.Errorf("%d plays handed over", plays)
			}
		})
	}
}
