package virtualdj

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop/detect"
)

// Loads persisted across a restart are trusted only this long after the
// state was saved: longer, and a track on a deck is a new load (the DJ
// loaded it again another night).
const (
	stateFresh  = 2 * time.Minute
	stateResave = 30 * time.Second
	keepIDs     = 256
)

// pluginState is what the deck reader keeps in the data folder so that a
// restart of Pika! mid-track neither gives the track on a deck a new
// identity nor announces it again.
type pluginState struct {
	SavedAt   time.Time        `json:"savedAt"`
	Loads     map[string]*load `json:"loads"`     // by deck
	Announced []string         `json:"announced"` // entry IDs handed over, oldest first
}

// load is one track loaded on one deck: its identity lasts from the moment
// Pika! first saw it there until the deck shows something else.
type load struct {
	Sig      string        `json:"sig"` // path, artist, title
	ID       string        `json:"id"`
	LoadedAt time.Time     `json:"loadedAt"`
	entry    *detect.Entry // details, asked once per load
}

// deckReader turns the plugin's answers into decks for the Decider. Its
// read runs on the Polled goroutine only; mu guards what the emit side
// shares (Announced) and the state file.
type deckReader struct {
	c        *client
	decks    []int
	now      func() time.Time
	log      *slog.Logger
	stateAt  string                      // "" = memory only
	answered func(ok bool, at time.Time) // tells the source whether the plugin answered

	handshaken bool
	noSandbox  bool
	sandboxed  bool
	held       []detect.Deck // the decks seen last outside Sandbox

	mu    sync.Mutex
	st    pluginState
	dirty bool
}

func newDeckReader(c *client, decks []int, now func() time.Time, log *slog.Logger, stateAt string) *deckReader {
	r := &deckReader{c: c, decks: decks, now: now, log: log, stateAt: stateAt, answered: func(bool, time.Time) {}}
	r.st = pluginState{Loads: map[string]*load{}}
	if stateAt == "" {
		return r
	}
	b, err := os.ReadFile(stateAt)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("cannot read the VirtualDJ plugin state; starting afresh", "file", stateAt, "err", err)
		}
		return r
	}
	var st pluginState
	if err := json.Unmarshal(b, &st); err != nil {
		log.Warn("VirtualDJ plugin state is damaged; starting afresh", "file", stateAt, "err", err)
		return r
	}
	if st.Loads == nil || now().Sub(st.SavedAt) > stateFresh {
		st.Loads = map[string]*load{}
	}
	for k, l := range st.Loads {
		if l == nil {
			delete(st.Loads, k)
		}
	}
	r.st = st
	return r
}

// read asks the plugin about every deck. Any question that does not get
// through fails the whole read, so the source knows the plugin is gone.
func (r *deckReader) read(ctx context.Context) ([]detect.Deck, error) {
	decks, err := r.ask(ctx)
	now := r.now()
	r.answered(err == nil, now)
	if err != nil {
		r.handshaken = false
		return nil, r.c.djError(err)
	}
	r.save(now)
	return decks, nil
}

func (r *deckReader) ask(ctx context.Context) ([]detect.Deck, error) {
	if !r.handshaken {
		// get_clock is the plugin's own smoke test. Something else on the
		// port (a web server answering every path) must not pass for it.
		v, err := r.c.query(ctx, "get_clock")
		if err != nil {
			return nil, err
		}
		if len(v) > 32 || !strings.ContainsAny(v, "0123456789") || strings.ContainsAny(v, "<>{}") {
			return nil, fmt.Errorf("the answer to get_clock, %q, is not VirtualDJ's", v)
		}
		r.handshaken = true
	}
	if !r.noSandbox {
		v, err := r.c.query(ctx, "sandbox")
		var ve *vdjError
		switch {
		case errors.As(err, &ve):
			// This VirtualDJ has no Sandbox: stop asking.
			r.noSandbox = true
		case err != nil:
			return nil, err
		case parseBool(v):
			// In Sandbox the DJ rehearses on the headphones while the room
			// keeps hearing what was on air, and is_audible answers for the
			// rehearsal: hold the decks as they were.
			if !r.sandboxed {
				r.log.Info("VirtualDJ's Sandbox is on: holding the decks as they were until it is off")
				r.sandboxed = true
			}
			return r.held, nil
		}
		if r.sandboxed {
			r.log.Info("VirtualDJ's Sandbox is off: following the decks again")
			r.sandboxed = false
		}
	}
	var decks []detect.Deck
	for _, n := range r.decks {
		dk, ok, err := r.deck(ctx, n)
		if err != nil {
			return nil, err
		}
		if ok {
			decks = append(decks, dk)
		}
	}
	r.held = decks
	return decks, nil
}

// field asks one question whose VDJScript error only means "not known":
// an older VirtualDJ without the verb, an empty field.
func (r *deckReader) field(ctx context.Context, script string) (string, error) {
	v, err := r.c.query(ctx, script)
	var ve *vdjError
	if errors.As(err, &ve) {
		return "", nil
	}
	return v, err
}

// deck reads deck n; ok is false when nothing is loaded on it.
func (r *deckReader) deck(ctx context.Context, n int) (detect.Deck, bool, error) {
	name := strconv.Itoa(n)
	q := func(what string) (string, error) { return r.field(ctx, "deck "+name+" "+what) }
	v, err := q("loaded")
	if err != nil {
		return detect.Deck{}, false, err
	}
	if !parseBool(v) {
		r.forget(name)
		return detect.Deck{}, false, nil
	}
	var audible, path, title, artist string
	for _, f := range []struct {
		dst  *string
		what string
	}{
		{&audible, "is_audible"},
		{&path, "get_filepath"},
		{&title, "get_loaded_song 'title'"},
		{&artist, "get_loaded_song 'artist'"},
	} {
		if *f.dst, err = q(f.what); err != nil {
			return detect.Deck{}, false, err
		}
	}
	if title == "" && path == "" {
		return detect.Deck{}, false, nil // loaded with nothing to name it by
	}
	ld := r.loadOf(name, path+"\x00"+artist+"\x00"+title)
	if ld.entry == nil {
		e, err := r.details(ctx, name, path, artist, title)
		if err != nil {
			return detect.Deck{}, false, err
		}
		e.ID = ld.ID
		ld.entry = &e
	}
	level := 0.0
	if parseBool(audible) {
		level = 1
	}
	// is_audible already folds in play state, fader and crossfader, so
	// the deck counts as playing and the level carries the verdict.
	return detect.Deck{Deck: name, Entry: *ld.entry, Playing: true, Level: level}, true, nil
}

// details asks the rest of a load's fields once: they do not change while
// it stays loaded.
func (r *deckReader) details(ctx context.Context, deck, path, artist, title string) (detect.Entry, error) {
	q := func(what string) (string, error) { return r.field(ctx, "deck "+deck+" "+what) }
	var album, key, remix, bpm, total string
	for _, f := range []struct {
		dst  *string
		what string
	}{
		{&album, "get_loaded_song 'album'"},
		{&key, "get_loaded_song 'key'"},
		{&remix, "get_loaded_song 'remix'"},
		{&bpm, "get_bpm absolute"},
		{&total, "get_time total"},
	} {
		var err error
		if *f.dst, err = q(f.what); err != nil {
			return detect.Entry{}, err
		}
	}
	if title == "" {
		artist, title = fromFileName(path, artist)
	}
	if remix != "" && !strings.Contains(strings.ToLower(title), strings.ToLower(remix)) {
		title += " (" + remix + ")"
	}
	return detect.Entry{
		Artist:   clip(artist, bus.MaxTextLen),
		Title:    clip(title, bus.MaxTextLen),
		Album:    clip(album, bus.MaxTextLen),
		Key:      cleanKey(key),
		BPM:      parseBPM(bpm),
		Duration: parseDuration(total),
		Path:     clip(path, 4096),
		Source:   ID,
		Deck:     deck,
	}, nil
}

// fromFileName names an untitled track by its file: "Artist - Title.mp3".
func fromFileName(path, artist string) (string, string) {
	name := path[strings.LastIndexAny(path, `/\`)+1:]
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 6 {
		name = name[:i]
	}
	if a, t, ok := strings.Cut(name, " - "); ok {
		if artist == "" {
			artist = strings.TrimSpace(a)
		}
		return artist, strings.TrimSpace(t)
	}
	return artist, strings.TrimSpace(name)
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return strings.TrimSpace(string(r[:n]))
	}
	return s
}

// loadOf is the load on deck with signature sig: the one already there, or
// a new one from now.
func (r *deckReader) loadOf(deck, sig string) *load {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ld := r.st.Loads[deck]; ld != nil && ld.Sig == sig {
		return ld
	}
	now := r.now().UTC()
	sum := sha256.Sum256([]byte("plugin\x00" + deck + "\x00" + sig + "\x00" + now.Format(time.RFC3339Nano)))
	ld := &load{Sig: sig, ID: ID + "-" + hex.EncodeToString(sum[:])[:20], LoadedAt: now}
	r.st.Loads[deck] = ld
	r.dirty = true
	return ld
}

func (r *deckReader) forget(deck string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.st.Loads[deck]; ok {
		delete(r.st.Loads, deck)
		r.dirty = true
	}
}

// announced reports whether id was handed over already, in this run or
// the last.
func (r *deckReader) announced(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.st.Announced, id)
}

// markAnnounced remembers id as handed over, and saves at once: this is
// what keeps a restart from announcing it twice.
func (r *deckReader) markAnnounced(id string) {
	r.mu.Lock()
	r.st.Announced = append(r.st.Announced, id)
	if len(r.st.Announced) > keepIDs {
		r.st.Announced = slices.Clone(r.st.Announced[len(r.st.Announced)-keepIDs:])
	}
	r.dirty = true
	r.mu.Unlock()
	r.save(r.now())
}

// save writes the state when it changed, and now and then while a track
// is loaded, so its freshness tells a restart from another night.
func (r *deckReader) save(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stateAt == "" {
		return
	}
	if !r.dirty && (len(r.st.Loads) == 0 || now.Sub(r.st.SavedAt) < stateResave) {
		return
	}
	r.st.SavedAt = now.UTC()
	b, err := json.Marshal(r.st)
	if err == nil {
		err = bus.WriteFileAtomic(r.stateAt, b)
	}
	if err != nil {
		r.log.Warn("cannot save the VirtualDJ plugin state; a restart may announce the current track again", "file", r.stateAt, "err", err)
		return
	}
	r.dirty = false
}
