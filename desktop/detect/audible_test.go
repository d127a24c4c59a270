package detect

import (
	"testing"
	"time"
)

func TestDecider(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a := Entry{ID: "load-a", Title: "A"}
	b := Entry{ID: "load-b", Title: "B"}
	c := Entry{ID: "load-c", Title: "C"}
	type step struct {
		at    int
		decks []Deck
		want  []string // titles announced
	}
	tests := []struct {
		name  string
		p     Policy
		steps []step
	}{
		{"fader known: loaded, preview in headphones, then up", Policy{MinAudible: 5 * time.Second}, []step{
			{0, []Deck{{Deck: "1", Entry: a, Level: 0}}, nil},                             // loaded
			{1, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 0}}, nil},              // headphone preview
			{10, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 0.8}}, nil},           // fader up
			{14, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 0.8}}, nil},           // 4 s audible
			{15, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 0.8}}, []string{"A"}}, // 5 s
			{16, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 0.8}}, nil},           // once only
		}},
		{"a short cue through an open fader is not a play", Policy{MinAudible: 5 * time.Second}, []step{
			{0, []Deck{{Deck: "2", Entry: b, Playing: true, Level: 1}}, nil},
			{3, []Deck{{Deck: "2", Entry: b, Playing: false, Level: 1}}, nil}, // stopped: back to cue
			{4, []Deck{{Deck: "2", Entry: b, Playing: true, Level: 1}}, nil},  // the clock starts again
			{8, []Deck{{Deck: "2", Entry: b, Playing: true, Level: 1}}, nil},
			{9, []Deck{{Deck: "2", Entry: b, Playing: true, Level: 1}}, []string{"B"}},
		}},
		{"two decks audible: a blend announces the incoming one once", Policy{MinAudible: 5 * time.Second}, []step{
			{0, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 1}}, nil},
			{5, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 1}, {Deck: "2", Entry: b, Playing: true, Level: 0.5}}, []string{"A"}},
			{10, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 0.5}, {Deck: "2", Entry: b, Playing: true, Level: 1}}, []string{"B"}},
			{20, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 1}, {Deck: "2", Entry: b, Playing: true, Level: 1}}, nil}, // back and forth: no repeat
		}},
		{"both qualify at one read: in the order they became audible", Policy{MinAudible: 5 * time.Second}, []step{
			{0, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 1}}, nil},
			{2, []Deck{{Deck: "1", Entry: a, Playing: true, Level: 1}, {Deck: "2", Entry: b, Playing: true, Level: 1}}, nil},
			{8, []Deck{{Deck: "2", Entry: b, Playing: true, Level: 1}, {Deck: "1", Entry: a, Playing: true, Level: 1}}, []string{"A", "B"}},
		}},
		{"level unknown: the program's played flag, at once", Policy{}, []step{
			{0, []Deck{{Deck: "1", Entry: a, Level: Unknown}}, nil},
			{1, []Deck{{Deck: "1", Entry: a, Level: Unknown, Played: true}}, []string{"A"}},
			{2, []Deck{{Deck: "1", Entry: a, Level: Unknown, Played: true}, {Deck: "2", Entry: b, Level: Unknown}}, nil},
			{3, []Deck{{Deck: "1", Entry: a, Level: Unknown, Played: true}, {Deck: "2", Entry: b, Level: Unknown, Played: true}}, []string{"B"}},
			{4, []Deck{{Deck: "1", Entry: c, Level: Unknown, Played: true}}, []string{"C"}},
			{5, []Deck{{Deck: "1", Entry: a, Level: Unknown, Played: true}}, nil}, // an old load read again
		}},
		{"ignored decks", Policy{IgnoreDecks: []string{"3"}}, []step{
			{0, []Deck{{Deck: "3", Entry: a, Level: Unknown, Played: true}}, nil},
			{1, []Deck{{Deck: "1", Entry: b, Level: Unknown, Played: true}}, []string{"B"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecider(tc.p)
			for _, s := range tc.steps {
				got := d.Observe(at(s.at), s.decks)
				var titles []string
				for _, e := range got {
					titles = append(titles, e.Title)
					if e.PlayedAt.IsZero() || e.Deck == "" {
						t.Errorf("at %ds: %q announced without time or deck: %+v", s.at, e.Title, e)
					}
				}
				if len(titles) != len(s.want) {
					t.Fatalf("at %ds: announced %v, want %v", s.at, titles, s.want)
				}
				for i := range titles {
					if titles[i] != s.want[i] {
						t.Fatalf("at %ds: announced %v, want %v", s.at, titles, s.want)
					}
				}
			}
		})
	}
}

func TestDeciderPlayedAtIsWhenItBecameAudible(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)
	d := NewDecider(Policy{MinAudible: 5 * time.Second})
	d.Observe(t0, []Deck{{Deck: "1", Entry: Entry{ID: "x", Title: "X"}, Playing: true, Level: 1}})
	if at, ok := d.Pending(); !ok || !at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("Pending = %v %v, want %v", at, ok, t0.Add(5*time.Second))
	}
	got := d.Observe(t0.Add(6*time.Second), []Deck{{Deck: "1", Entry: Entry{ID: "x", Title: "X"}, Playing: true, Level: 1}})
	if len(got) != 1 || !got[0].PlayedAt.Equal(t0) {
		t.Fatalf("got %+v, want X played at %v", got, t0)
	}
	if _, ok := d.Pending(); ok {
		t.Fatal("nothing should be pending after the announcement")
	}
}
