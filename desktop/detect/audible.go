package detect

import (
	"slices"
	"time"
)

// Unknown is Deck.Level for a source that cannot tell how loud a deck is.
const Unknown = -1.0

// Deck is one deck as a source sees it at one moment. Sources without
// decks (a history file, a broadcast) report each play as a Deck with Deck
// "" and Played set.
type Deck struct {
	// Deck names the deck as the program does: "1".."4", "A".."D"; "" when
	// the source has no decks.
	Deck string
	// Entry is the track on the deck. Entry.ID names this load of it: the
	// same load polled twice has the same ID, a reload gets a new one.
	Entry Entry
	// Playing is true while the deck's transport runs.
	Playing bool
	// Level is how loud the deck reaches the room, 0..1 (channel fader ×
	// crossfader, as the program reports them), or Unknown.
	Level float64
	// Played is the program's own verdict that the track went out: Serato's
	// played flag, a Mixxx or rekordbox history row, a VirtualDJ history
	// line, the track Traktor broadcasts.
	Played bool
}

// Policy is the one audible-not-cued rule every source goes through.
//
// A deck whose level is known is audible while it plays with its level at
// or above MinLevel, and is announced once it has stayed audible for
// MinAudible: a headphone preview (fader down) never is, a cue or a scratch
// through an open fader shorter than MinAudible never is. A deck whose
// level is unknown is announced when the program marks it played, at once:
// the program has applied its own threshold and waiting more only delays.
//
// Two decks audible at once (a blend, a long mix-in) is normal: each load is
// announced once, when it qualifies, so dancers see the incoming track as
// now playing once it has been audible MinAudible, while the outgoing one
// stays in their history. A load that goes quiet and comes back is not
// announced again.
type Policy struct {
	MinAudible  time.Duration // default DefaultMinAudible
	MinLevel    float64       // default DefaultMinLevel
	IgnoreDecks []string      // decks never announced (sample decks 3/4 on some controllers)
}

// Defaults of Policy.
const (
	DefaultMinAudible = 5 * time.Second
	DefaultMinLevel   = 0.1
)

// rememberLoads bounds how many announced loads a Decider remembers, so a
// source that reports an old load again (a re-queried database row) is not
// announced twice however long the set.
const rememberLoads = 256

// Decider turns successive deck observations into plays by Policy. It is
// not safe for concurrent use; a source owns one.
type Decider struct {
	p         Policy
	since     map[string]time.Time // deck+load → when it became audible, while it is
	announced []string             // deck+load announced, oldest first
}

// NewDecider returns a Decider with p's zero fields set to their defaults.
func NewDecider(p Policy) *Decider {
	if p.MinAudible <= 0 {
		p.MinAudible = DefaultMinAudible
	}
	if p.MinLevel <= 0 {
		p.MinLevel = DefaultMinLevel
	}
	return &Decider{p: p, since: map[string]time.Time{}}
}

// Observe takes every deck the source sees at now and returns the loads to
// announce, in the order they became audible. An announced Entry whose
// PlayedAt is zero gets the moment its deck became audible.
func (d *Decider) Observe(now time.Time, decks []Deck) []Entry {
	type due struct {
		at time.Time
		e  Entry
	}
	var out []due
	seen := map[string]bool{}
	for _, dk := range decks {
		if slices.Contains(d.p.IgnoreDecks, dk.Deck) {
			continue
		}
		key := dk.Deck + "\x00" + dk.Entry.ID
		seen[key] = true
		if slices.Contains(d.announced, key) {
			continue
		}
		levelKnown := dk.Level >= 0
		audible := dk.Played
		if levelKnown {
			audible = dk.Playing && dk.Level >= d.p.MinLevel
		}
		if !audible {
			delete(d.since, key)
			continue
		}
		start, ok := d.since[key]
		if !ok {
			start = now
			d.since[key] = start
		}
		if levelKnown && now.Sub(start) < d.p.MinAudible {
			continue
		}
		e := dk.Entry
		if e.Deck == "" {
			e.Deck = dk.Deck
		}
		if e.PlayedAt.IsZero() {
			e.PlayedAt = start
		}
		out = append(out, due{at: start, e: e})
		delete(d.since, key)
		d.announced = append(d.announced, key)
		if len(d.announced) > rememberLoads {
			d.announced = d.announced[len(d.announced)-rememberLoads:]
		}
	}
	// A load no longer reported (ejected, replaced) starts over if it comes back.
	for key := range d.since {
		if !seen[key] {
			delete(d.since, key)
		}
	}
	slices.SortStableFunc(out, func(a, b due) int { return a.at.Compare(b.at) })
	entries := make([]Entry, len(out))
	for i, o := range out {
		entries[i] = o.e
	}
	return entries
}

// Pending reports the earliest moment a deck now audible but not yet
// announced would qualify, so a source can look again then instead of
// waiting a whole poll interval. ok is false when nothing is waiting.
func (d *Decider) Pending() (at time.Time, ok bool) {
	for _, start := range d.since {
		t := start.Add(d.p.MinAudible)
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	return at, ok
}
