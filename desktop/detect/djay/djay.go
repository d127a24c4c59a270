// Package djay owns following Algoriddim's djay Pro 5 (macOS and Windows):
// finding its media library, reading the tracks it adds to its history
// (historySessionItems in the YapDatabase MediaLibrary.db) as it adds them,
// and the TSAF decoder for the blobs that database stores.
//
// djay has no signal for what the room hears: it records a track in its
// history when it plays it on a deck, so each new history row is a play,
// announced at once (Level Unknown, Played). Its BPM, key and file location
// arrive in a second transaction a moment later, so a new row waits up to
// AnalysisDelay for them.
package djay

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// ID is the product ID, Entry.Source of every play.
const ID = "djay"

// name is the program as DJs know it, in errors and on the setup screen.
const name = "djay Pro"

const dbName = "MediaLibrary.db"

// AnalysisDelay is how long a new history row waits for the BPM, key and
// location djay writes in a separate transaction about 0.3 s after it. A
// row whose track djay analysed and located before does not wait.
const AnalysisDelay = 750 * time.Millisecond

// RecentAtStart is how recently a track must have started, when Pika! first
// reads the library, to be announced: djay's history holds every earlier
// set, and those rows are not plays of this set. A track started moments
// before Pika! did is.
const RecentAtStart = 10 * time.Second

// maxRowsPerRead bounds one read, so a restored library with thousands of
// new rows costs a few reads instead of one long lock on djay's database.
const maxRowsPerRead = 200

// Product is djay Pro for auto-detection.
func Product() detect.Product {
	return detect.Product{ID: ID, Name: name, Locate: Locate, Open: Open}
}

// libraryDirs lists where djay keeps its media library folder on env.
func libraryDirs(env detect.Env) []string {
	switch env.GOOS {
	case "darwin":
		if env.Home == "" {
			return nil
		}
		return []string{env.Join(env.Home, "Music", "djay", "djay Media Library.djayMediaLibrary")}
	case "windows":
		profile := env.Get("USERPROFILE")
		if profile == "" {
			profile = env.Home
		}
		if profile == "" {
			return nil
		}
		return []string{env.Join(profile, "Music", "djay", "djay Media Library")}
	}
	return nil // djay Pro runs on macOS and Windows only
}

// Locate finds djay's MediaLibrary.db on env.
func Locate(env detect.Env) []detect.Found {
	var out []detect.Found
	for _, dir := range libraryDirs(env) {
		db := env.Join(dir, dbName)
		info, err := os.Stat(db)
		if err != nil {
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				out = append(out, detect.Found{
					Product: ID, Path: db,
					Why: "djay Pro's library folder is here but has no MediaLibrary.db yet: open djay Pro and play a track once.",
				})
			}
			continue
		}
		changed := info.ModTime()
		for _, side := range []string{db + "-wal", db + "-shm"} {
			if st, err := os.Stat(side); err == nil && st.ModTime().After(changed) {
				changed = st.ModTime()
			}
		}
		out = append(out, detect.Found{
			Product: ID, Path: db, Changed: changed, Ready: true,
			Why: fmt.Sprintf("djay Pro's library MediaLibrary.db, changed %s.", detect.Ago(time.Now(), changed)),
		})
	}
	return out
}

// Open follows the MediaLibrary.db at f.Path (or in the folder f.Path).
func Open(f detect.Found, opt detect.Options) (detect.Source, error) {
	path := f.Path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, dbName)
	}
	if path == "" {
		return nil, errors.New("djay Pro's library was not found; say where MediaLibrary.db is with --watch")
	}
	return newSource(config{Path: path, Policy: opt.Policy, Logger: opt.Log()})
}

// config is what a djay source needs; tests set the clock and delays.
type config struct {
	Path          string
	Policy        detect.Policy
	Logger        *slog.Logger
	Now           func() time.Time // nil = time.Now
	AnalysisDelay time.Duration    // 0 = AnalysisDelay
	ReadEvery     time.Duration    // 0 = detect.DefaultReadEvery
}

func newSource(cfg config) (*detect.Polled, error) {
	r := newReader(cfg)
	return detect.NewPolled(detect.PolledConfig{
		Name:      ID,
		Path:      cfg.Path,
		Hints:     []string{filepath.Dir(cfg.Path)},
		Read:      r.read,
		Policy:    cfg.Policy,
		ReadEvery: cfg.ReadEvery,
		Logger:    cfg.Logger,
		Now:       cfg.Now,
	})
}

// reader reads new history rows. It is used by one Polled source's loop
// only, so it needs no lock.
type reader struct {
	path  string
	now   func() time.Time
	delay time.Duration
	log   *slog.Logger

	started bool
	last    int64     // highest historySessionItems rowid read
	waiting []waiting // new rows waiting for their analysis
}

type waiting struct {
	it   historyItem
	seen time.Time
}

func newReader(cfg config) *reader {
	r := &reader{path: cfg.Path, now: cfg.Now, delay: cfg.AnalysisDelay, log: cfg.Logger}
	if r.now == nil {
		r.now = time.Now
	}
	if r.delay <= 0 {
		r.delay = AnalysisDelay
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// read returns the history rows ready to announce, one Deck each.
func (r *reader) read(ctx context.Context) ([]detect.Deck, error) {
	if _, err := os.Stat(r.path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("djay Pro's library %s is not there: open djay Pro (on this computer, with this user) and play a track", r.path)
	}
	now := r.now()
	var decks []detect.Deck
	var keep, ws []waiting
	var last int64
	var started bool
	err := detect.ReadSQLite(ctx, r.path, func(ctx context.Context, db *sql.DB) error {
		// Work on copies, committed only when the whole read succeeds, and
		// started afresh when ReadSQLite retries a locked read: rows read
		// by a failed read are read again.
		last, started, ws = r.last, r.started, slices.Clone(r.waiting)
		decks, keep = nil, nil
		if err := detect.RequireColumns(ctx, db, name, "database2", "collection", "key", "data"); err != nil {
			return err
		}
		var top sql.NullInt64
		if err := db.QueryRowContext(ctx, `SELECT max(rowid) FROM database2 WHERE collection = 'historySessionItems'`).Scan(&top); err != nil {
			return fmt.Errorf("read djay Pro's history: %w", err)
		}
		if top.Int64 < last {
			// The history was cleared or the library restored from a
			// backup: rows from here on are new again.
			r.log.Info("djay Pro's history went back; following it from its newest row", "was", last, "now", top.Int64)
			last = top.Int64
		}
		fresh, newLast, err := newItems(ctx, db, last)
		if err != nil {
			return err
		}
		last = newLast
		for _, it := range fresh {
			if !started && (it.Start.IsZero() || now.Sub(it.Start) > RecentAtStart) {
				continue // an earlier set's history
			}
			ws = append(ws, waiting{it: it, seen: now})
		}
		started = true
		for _, w := range ws {
			e, complete, err := entry(ctx, db, w.it)
			if err != nil {
				return err
			}
			if !complete && now.Sub(w.seen) < r.delay {
				keep = append(keep, w)
				continue
			}
			decks = append(decks, detect.Deck{Deck: w.it.Deck, Entry: e, Played: true, Level: detect.Unknown})
		}
		return nil
	})
	if err != nil {
		return nil, r.explain(err)
	}
	r.last, r.started, r.waiting = last, started, keep
	return decks, nil
}

// explain words a read error for the DJ.
func (r *reader) explain(err error) error {
	var schema *detect.SchemaError
	switch {
	case errors.As(err, &schema), errors.Is(err, context.Canceled):
		return err
	case detect.IsBusy(err):
		return fmt.Errorf("djay Pro's library is locked by djay Pro; Pika! keeps trying: %w", err)
	}
	return fmt.Errorf("cannot read djay Pro's library %s: %w", filepath.Base(r.path), err)
}

// newItems reads history rows after rowid last, oldest first, and returns
// them with the highest rowid read.
func newItems(ctx context.Context, db *sql.DB, last int64) ([]historyItem, int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT rowid, key, data FROM database2
		WHERE collection = 'historySessionItems' AND rowid > ? ORDER BY rowid LIMIT ?`, last, maxRowsPerRead)
	if err != nil {
		return nil, last, fmt.Errorf("read djay Pro's history: %w", err)
	}
	defer rows.Close()
	var out []historyItem
	for rows.Next() {
		var rowid int64
		var key sql.NullString
		var data []byte
		if err := rows.Scan(&rowid, &key, &data); err != nil {
			return nil, last, fmt.Errorf("read djay Pro's history: %w", err)
		}
		last = rowid
		it, ok := decodeItem(data)
		if !ok {
			continue // not a track (or a blob this version writes differently)
		}
		it.rowid = rowid
		if it.UUID == "" {
			it.UUID = key.String
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, last, fmt.Errorf("read djay Pro's history: %w", err)
	}
	return out, last, nil
}

// entry makes the play of it, with the BPM, key and location djay has for
// its track. complete is true when both analysis and location were there.
func entry(ctx context.Context, db *sql.DB, it historyItem) (e detect.Entry, complete bool, err error) {
	e = detect.Entry{
		Artist: it.Artist, Title: it.Title, Duration: it.Duration, Deck: it.Deck,
		PlayedAt: it.Start, Source: ID, ISRC: it.ISRC,
		ID: playID(it),
	}
	if it.TitleID == "" {
		return e, false, nil
	}
	blobs := map[string][]byte{}
	rows, err := db.QueryContext(ctx, `SELECT collection, data FROM database2 WHERE key = ?
		AND collection IN ('mediaItemAnalyzedData', 'localMediaItemLocations', 'globalMediaItemLocations')`, it.TitleID)
	if err != nil {
		return e, false, fmt.Errorf("read djay Pro's track data: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var coll string
		var data []byte
		if err := rows.Scan(&coll, &data); err != nil {
			return e, false, fmt.Errorf("read djay Pro's track data: %w", err)
		}
		blobs[coll] = data
	}
	if err := rows.Err(); err != nil {
		return e, false, fmt.Errorf("read djay Pro's track data: %w", err)
	}
	a := decodeAnalysis(blobs["mediaItemAnalyzedData"])
	e.BPM, e.Key = a.BPM, a.Key
	e.Path = decodeLocation(blobs["localMediaItemLocations"])
	if e.Path == "" {
		e.Path = decodeLocation(blobs["globalMediaItemLocations"])
	}
	return e, e.BPM > 0 && e.Path != "", nil
}

// playID names one history row for good: its item uuid and start time.
func playID(it historyItem) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", it.UUID, strconv.FormatFloat(it.startRaw, 'g', -1, 64), it.Artist, it.Title)
	return ID + "-" + hex.EncodeToString(h.Sum(nil))[:20]
}
