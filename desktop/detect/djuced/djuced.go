// Package djuced owns following Hercules' DJUCED: finding its
// Documents/DJUCED folder, reading the playing.txt it writes when Text File
// Output is on (a "title | deck | artist | album" line per deck), and
// filling in BPM, key, length and file path from its DJUCED.db library.
//
// DJUCED writes a deck's line when it loads or starts a track (which of the
// two is unverified) and has no signal for what the room hears. So a deck
// whose line changed is a play once the line has stayed the same for
// Stable: long enough to skip a half-written file, a track loaded and
// replaced at once, or a line rewritten while the DJ browses.
package djuced

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// ID is the product ID, Entry.Source of every play.
const ID = "djuced"

const (
	name        = "DJUCED"
	playingName = "playing.txt"
	dbName      = "DJUCED.db"
)

// Stable is how long a changed deck line must stay the same before it is
// a play.
const Stable = time.Second

// enrichTimeout bounds the library lookup for one play: the play goes out
// without BPM rather than late when DJUCED holds its database locked.
const enrichTimeout = time.Second

// setupHint is what the DJ must switch on, in DJUCED's words.
const setupHint = "turn on Settings → Record → Text File Output in DJUCED, with the format " + Format

// Product is DJUCED for auto-detection.
func Product() detect.Product {
	return detect.Product{ID: ID, Name: name, Locate: Locate, Open: Open}
}

// folders lists where DJUCED keeps its folder on env.
func folders(env detect.Env) []string {
	var out []string
	add := func(base string) {
		if base != "" {
			out = append(out, env.Join(base, "Documents", "DJUCED"))
		}
	}
	switch env.GOOS {
	case "darwin":
		add(env.Home)
	case "windows":
		profile := env.Get("USERPROFILE")
		if profile == "" {
			profile = env.Home
		}
		add(profile)
		add(env.Get("OneDrive")) // Documents moved to OneDrive (unverified for DJUCED)
	}
	return out // DJUCED runs on macOS and Windows only
}

// Locate finds DJUCED's folder on env.
func Locate(env detect.Env) []detect.Found {
	var out []detect.Found
	for _, dir := range folders(env) {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		var changed time.Time
		for _, f := range []string{playingName, dbName, dbName + "-wal"} {
			if st, err := os.Stat(env.Join(dir, f)); err == nil && st.ModTime().After(changed) {
				changed = st.ModTime()
			}
		}
		f := detect.Found{Product: ID, Path: dir, Changed: changed}
		if _, err := os.Stat(env.Join(dir, playingName)); err != nil {
			f.Why = "DJUCED is installed but writes no playing.txt: " + setupHint + "."
		} else {
			f.Ready = true
			f.Why = fmt.Sprintf("DJUCED's playing.txt, changed %s.", detect.Ago(time.Now(), changed))
		}
		out = append(out, f)
	}
	return out
}

// Open follows the DJUCED folder at f.Path (or the playing.txt named there).
func Open(f detect.Found, opt detect.Options) (detect.Source, error) {
	if f.Path == "" {
		return nil, errors.New("DJUCED's folder was not found; say where playing.txt is with --watch")
	}
	dir := f.Path
	if strings.EqualFold(filepath.Ext(dir), ".txt") {
		dir = filepath.Dir(dir)
	}
	return newSource(config{Dir: dir, Policy: opt.Policy, Logger: opt.Log()})
}

// config is what a DJUCED source needs; tests set the clock.
type config struct {
	Dir       string
	Policy    detect.Policy
	Logger    *slog.Logger
	Now       func() time.Time // nil = time.Now
	Stable    time.Duration    // 0 = Stable
	ReadEvery time.Duration    // 0 = detect.DefaultReadEvery
}

func newSource(cfg config) (*detect.Polled, error) {
	r := newReader(cfg)
	return detect.NewPolled(detect.PolledConfig{
		Name:      ID,
		Path:      r.playing,
		Hints:     []string{cfg.Dir},
		Read:      r.read,
		Policy:    cfg.Policy,
		ReadEvery: cfg.ReadEvery,
		Logger:    cfg.Logger,
		Now:       cfg.Now,
	})
}

// deckState is what Pika! knows of one deck.
type deckState struct {
	cur  Line         // the line accepted: read at start, or a load
	load detect.Entry // the play, once cur is a load Pika! saw happen
	// A different line seen, not yet Stable.
	cand      Line
	candSince time.Time // by Pika!'s clock
	candAt    time.Time // playing.txt's mtime when it was first seen
	hasCand   bool
}

// reader reads playing.txt. It is used by one Polled source's loop only.
type reader struct {
	playing, db string
	now         func() time.Time
	stable      time.Duration
	log         *slog.Logger

	started bool
	decks   map[string]*deckState
	order   []string // decks in the order first seen
	bad     string   // content that did not parse, reported when seen twice
	dbErr   string   // the last library error logged
}

func newReader(cfg config) *reader {
	r := &reader{
		playing: filepath.Join(cfg.Dir, playingName), db: filepath.Join(cfg.Dir, dbName),
		now: cfg.Now, stable: cfg.Stable, log: cfg.Logger, decks: map[string]*deckState{},
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.stable <= 0 {
		r.stable = Stable
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// read returns every deck whose current track Pika! saw DJUCED load, as
// played; decks as they were when Pika! started are not plays.
func (r *reader) read(ctx context.Context) ([]detect.Deck, error) {
	data, mtime, err := readFile(r.playing)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("DJUCED writes no playing.txt: " + setupHint)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read DJUCED's playing.txt: %w", err)
	}
	now := r.now()
	lines := ParsePlaying(data)
	if len(lines) == 0 && strings.TrimSpace(string(data)) != "" {
		// Once may be a file caught mid-write; the same content twice is
		// a format Pika! cannot read.
		if string(data) == r.bad {
			return nil, errors.New("DJUCED's playing.txt is not in the format Pika! reads: in Settings → Record → Text File Output set the format to " + Format)
		}
		r.bad = string(data)
	} else {
		r.bad = ""
	}
	for _, l := range lines {
		d, ok := r.decks[l.Deck]
		if !ok {
			d = &deckState{}
			r.decks[l.Deck] = d
			r.order = append(r.order, l.Deck)
			if !r.started {
				d.cur = l // on screen before Pika! started: not a play it saw
				continue
			}
		}
		switch {
		case l == d.cur:
			d.hasCand = false // back to what it was: a flicker
		case !d.hasCand || l != d.cand:
			d.cand, d.candSince, d.candAt, d.hasCand = l, now, mtime, true
		}
		if d.hasCand && now.Sub(d.candSince) >= r.stable {
			d.cur, d.hasCand = d.cand, false
			d.load = detect.Entry{}
			if !d.cur.empty() {
				d.load = r.entry(ctx, d.cur, d.candAt)
			}
		}
	}
	// A deck missing from the file keeps its line: DJUCED may be halfway
	// through rewriting it.
	r.started = true
	var out []detect.Deck
	for _, name := range r.order {
		d := r.decks[name]
		if d.load.ID != "" {
			out = append(out, detect.Deck{Deck: name, Entry: d.load, Played: true, Level: detect.Unknown})
		}
	}
	return out, nil
}

// readFile reads at most maxFile bytes of path and its mtime.
func readFile(path string) ([]byte, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFile))
	return data, st.ModTime(), err
}

// entry makes the play of line l, first seen in the playing.txt written at
// at, with what DJUCED's library knows of the track.
func (r *reader) entry(ctx context.Context, l Line, at time.Time) detect.Entry {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%d", l.Deck, l.Title, l.Artist, l.Album, at.UnixNano())
	e := detect.Entry{
		Title: l.Title, Artist: l.Artist, Album: l.Album, Deck: l.Deck,
		PlayedAt: at, Source: ID, ID: ID + "-" + hex.EncodeToString(h.Sum(nil))[:20],
	}
	ctx, cancel := context.WithTimeout(ctx, enrichTimeout)
	defer cancel()
	t, err := lookup(ctx, r.db, l.Artist, l.Title)
	switch {
	case err != nil:
		// The play still goes out, without BPM; a DJ who wants it can
		// tell us what the log says.
		if err.Error() != r.dbErr {
			r.log.Warn("cannot read DJUCED's library for BPM and key; plays go out without them", "err", err)
			r.dbErr = err.Error()
		}
	default:
		r.dbErr = ""
		e.BPM, e.Key, e.Duration, e.Path = t.bpm, t.key, t.length, t.path
		if e.Album == "" {
			e.Album = t.album
		}
	}
	return e
}

// libTrack is what DJUCED.db's tracks table says of a track.
type libTrack struct {
	album, key, path string
	bpm, length      float64
}

var errNoLibrary = errors.New("DJUCED.db is not there")

// lookup finds the track by artist and title in DJUCED.db. No match is not
// an error: the track may be streamed or not in the library.
func lookup(ctx context.Context, db, artist, title string) (t libTrack, err error) {
	if _, err := os.Stat(db); err != nil {
		return t, errNoLibrary
	}
	err = detect.ReadSQLite(ctx, db, func(ctx context.Context, conn *sql.DB) error {
		if err := detect.RequireColumns(ctx, conn, name, "tracks", "artist", "title", "album", "bpm", "key", "length", "absolutepath"); err != nil {
			return err
		}
		var album, key, path sql.NullString
		var bpm, length sql.NullFloat64
		// Exact first, then ignoring case: playing.txt may differ in case
		// from the tags DJUCED imported.
		err := conn.QueryRowContext(ctx, `SELECT album, key, absolutepath, bpm, length FROM tracks
			WHERE (artist = ?1 AND title = ?2) OR (artist = ?1 COLLATE NOCASE AND title = ?2 COLLATE NOCASE)
			ORDER BY (artist = ?1 AND title = ?2) DESC LIMIT 1`, artist, title).Scan(&album, &key, &path, &bpm, &length)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look up %q in DJUCED's library: %w", title, err)
		}
		t.album, t.path = strings.TrimSpace(album.String), strings.TrimSpace(path.String)
		t.key = keyText(key.String)
		if b := bpm.Float64; b >= 20 && b <= 400 {
			t.bpm = math.Round(b*100) / 100
		}
		t.length = seconds(length.Float64)
		return nil
	})
	if detect.IsBusy(err) || errors.Is(err, context.DeadlineExceeded) {
		// Still retrying a lock when the time for one play's lookup ran out.
		err = fmt.Errorf("DJUCED's library is locked by DJUCED: %w", err)
	}
	return t, err
}

// keyText keeps a key written as text ("Am", "8A"); a bare number is an
// index whose meaning in DJUCED is unverified, so it is left out.
func keyText(k string) string {
	k = strings.TrimSpace(k)
	if k == "" || strings.Trim(k, "0123456789.-") == "" || len(k) > 8 {
		return ""
	}
	return k
}

// seconds reads tracks.length: seconds, or milliseconds when it is too long
// to be seconds (which DJUCED stores is unverified).
func seconds(v float64) float64 {
	switch {
	case v <= 0 || math.IsNaN(v) || math.IsInf(v, 0):
		return 0
	case v > 10*3600:
		return v / 1000
	}
	return v
}
