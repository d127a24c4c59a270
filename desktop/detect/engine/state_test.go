package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// snap builds a snapshot from path → JSON pairs, decks loaded as listed.
func snap(t *testing.T, loaded []int, kv ...string) snapshot {
	t.Helper()
	s := snapshot{Values: map[string]value{}}
	for i := 0; i+1 < len(kv); i += 2 {
		var m map[string]any
		if err := json.Unmarshal([]byte(kv[i+1]), &m); err != nil {
			t.Fatalf("%s: %v", kv[i], err)
		}
		if v, ok := parseValue(m); ok {
			s.Values[kv[i]] = v
		}
	}
	for _, n := range loaded {
		s.Loads[n] = fmt.Sprintf("load-%d", n)
	}
	return s
}

func TestDecksFromState(t *testing.T) {
	mixer := []string{pathDeckCount, num(4), pathCrossfader, num(0.5),
		fader(1), num(0.5), fader(2), num(1), fader(3), num(0), fader(4), num(0.25),
		fmt.Sprintf(pathAssignFmt, 1), str("A"), fmt.Sprintf(pathAssignFmt, 2), str("B")}
	playing := func(n int) []string { return []string{dp(n, deckPlay), state(true)} }
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	type want struct {
		deck    string
		playing bool
		level   float64
	}
	for _, tc := range []struct {
		name   string
		loaded []int
		kv     []string
		want   []want
	}{
		{"own mixer, crossfader centred", []int{1, 2, 3, 4}, cat(mixer, playing(1), playing(2)),
			[]want{{"1", true, 0.5}, {"2", true, 1}, {"3", false, 0}, {"4", false, 0.25}}},
		{"crossfader at A cuts B", []int{1, 2}, cat(mixer, []string{pathCrossfader, num(0)}),
			[]want{{"1", false, 0.5}, {"2", false, 0}, {"3", false, 0}, {"4", false, 0.25}}[:2]},
		{"crossfader three quarters to B", []int{1, 2}, cat(mixer, []string{pathCrossfader, num(0.75)}),
			[]want{{"1", false, 0.25}, {"2", false, 1}}},
		{"crossfader beyond its range is clamped", []int{1}, cat(mixer, []string{pathCrossfader, num(7)}),
			[]want{{"1", false, 0}}},
		{"channel on THRU ignores the crossfader", []int{4}, cat(mixer, []string{pathCrossfader, num(1)}),
			[]want{{"4", false, 0.25}}},
		{"unknown assignment format counts as THRU", []int{1}, cat(mixer, []string{fmt.Sprintf(pathAssignFmt, 1), str("{0d6e-uuid},1"), pathCrossfader, num(1)}),
			[]want{{"1", false, 0.5}}},
		{"no crossfader value: fader alone", []int{2}, []string{fader(2), num(0.6), dp(2, deckPlay), state(true)},
			[]want{{"2", true, 0.6}}},
		{"linked mixer volume", []int{1}, []string{dp(1, deckExtVolume), num(0.7), dp(1, deckPlayState), state(true)},
			[]want{{"1", true, 0.7}}},
		{"analog mixer: playing counts as full", []int{1, 2}, playing(1),
			[]want{{"1", true, 1}, {"2", false, 0}}},
		{"PlayState as a number", []int{1}, []string{dp(1, deckPlayState), `{"state":1,"type":1}`},
			[]want{{"1", true, 1}}},
		{"unloaded decks are left out", []int{3}, cat(playing(1), playing(3)),
			[]want{{"3", true, 1}}},
		{"player 3 of a set: layers", []int{1, 2}, []string{pathDeckCount, num(2), pathPlayer, num(3)},
			[]want{{"P3-A", false, 0}, {"P3-B", false, 0}}},
		{"two decks, no player number", []int{1, 2}, []string{pathDeckCount, num(2)},
			[]want{{"1", false, 0}, {"2", false, 0}}},
		{"deck count bounds the decks", []int{1, 2, 3}, []string{pathDeckCount, num(2)},
			[]want{{"1", false, 0}, {"2", false, 0}}},
		{"nonsense deck count is ignored", []int{3}, []string{pathDeckCount, num(-1)},
			[]want{{"3", false, 0}}},
		{"fader as text is still a number", []int{1}, []string{fader(1), `{"string":"0.4","type":8}`, dp(1, deckPlay), state(true)},
			[]want{{"1", true, 0.4}}},
		{"garbage values count as absent", []int{1}, []string{fader(1), `{"type":0}`, dp(1, deckPlay), `{"state":"maybe"}`},
			[]want{{"1", false, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decks(snap(t, tc.loaded, tc.kv...))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d decks %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Deck != w.deck || g.Playing != w.playing || math.Abs(g.Level-w.level) > 1e-9 || g.Played {
					t.Errorf("deck %d = {%q playing %v level %v}, want %+v", i, g.Deck, g.Playing, g.Level, w)
				}
				if g.Entry.ID == "" || g.Entry.Source != ProductID {
					t.Errorf("deck %q entry = %+v", g.Deck, g.Entry)
				}
			}
		})
	}
}

func TestEntryFromState(t *testing.T) {
	s := snap(t, []int{2},
		dp(2, deckArtist), str(" Example Band "), dp(2, deckTitle), str("Slow Dance"),
		dp(2, deckNetworkPath), str("net://c0ffee/USB 1 (sda1)/Music/slow.flac"),
		dp(2, deckBPM), num(101.23456), dp(2, deckTrackBPM), num(98),
		dp(2, deckKeyIndex), num(21), dp(2, deckLength), num(187.5))
	e := decks(s)[0].Entry
	want := detect.Entry{Artist: "Example Band", Title: "Slow Dance", Path: "net://c0ffee/USB 1 (sda1)/Music/slow.flac",
		BPM: 101.23, Key: "Gm", Duration: 187.5, Source: "engine", ID: "load-2"}
	if e != want {
		t.Errorf("entry = %+v\nwant    %+v", e, want)
	}

	// Without the deck's tempo the track's is used; odd values are dropped.
	s = snap(t, []int{1}, dp(1, deckTrackBPM), num(98), dp(1, deckKeyIndex), num(24), dp(1, deckLength), num(1e9))
	if e := decks(s)[0].Entry; e.BPM != 98 || e.Key != "" || e.Duration != 0 {
		t.Errorf("entry = %+v", e)
	}
	if keyName(0) != "C" || keyName(1) != "Am" || keyName(2.5) != "" || keyName(-1) != "" {
		t.Error("key names")
	}
}

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		js    string
		ok    bool
		truth bool
		num   float64
		text  string
	}{
		{`{"state":true,"type":1}`, true, true, 1, ""},
		{`{"state":false,"type":1}`, true, false, 0, ""},
		{`{"state":2,"type":1}`, true, true, 2, ""},
		{`{"type":0,"value":0.25}`, true, true, 0.25, ""},
		{`{"type":0,"value":0}`, true, false, 0, ""},
		{`{"string":"Example Band","type":8}`, true, false, 0, "Example Band"},
		{`{"string":"true","type":8}`, true, true, 0, "true"},
		{`{"color":"#ff00ff","type":16}`, true, false, 0, "#ff00ff"},
		{`{"type":0}`, false, false, 0, ""},
		{`{"value":null}`, false, false, 0, ""},
		{`{"value":[1,2]}`, false, false, 0, ""},
		{`{}`, false, false, 0, ""},
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(tc.js), &m); err != nil {
			t.Fatal(err)
		}
		v, ok := parseValue(m)
		n, _ := v.number()
		if ok != tc.ok || v.truth() != tc.truth || n != tc.num || v.text() != tc.text {
			t.Errorf("%s → ok %v truth %v number %v text %q", tc.js, ok, v.truth(), n, v.text())
		}
	}
}

func TestLoadIDs(t *testing.T) {
	at := time.Date(2026, 8, 14, 22, 0, 0, 0, time.UTC)
	a := loadID("prime4/01", 1, "net://x/a.mp3", at)
	if a != loadID("prime4/01", 1, "net://x/a.mp3", at) || len(a) != len("engine-")+20 {
		t.Errorf("load id %q is not stable or not engine-<20 hex>", a)
	}
	for _, other := range []string{
		loadID("prime4/02", 1, "net://x/a.mp3", at),
		loadID("prime4/01", 2, "net://x/a.mp3", at),
		loadID("prime4/01", 1, "net://x/b.mp3", at),
		loadID("prime4/01", 1, "net://x/a.mp3", at.Add(time.Millisecond)),
		loadID("prime4/01", 1, "net://x/a.mp3", time.Time{}),
	} {
		if other == a {
			t.Errorf("two different loads share the id %q", a)
		}
	}
}
