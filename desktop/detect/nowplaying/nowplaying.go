// Package nowplaying owns following a "now playing" text file: a small file
// that a DJ program or plugin rewrites with the current track on each
// change (djay's NowPlaying.txt, a streaming plugin's output), read as one
// line "Artist - Title" or as "Key: value" lines.
//
// The file says what the program shows as current, so each track it names
// is a play once the file has held it for a short stability window
// (DefaultStableFor): a file caught half-written never is.
package nowplaying

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// ID is the product id, Entry.Source of every play.
const ID = "nowplaying"

// EnvFile is the environment variable naming the file; there is no
// standard place for one.
const EnvFile = "PIKA_NOWPLAYING_FILE"

// DefaultStableFor is how long the file must name the same track before it
// is a play: long enough to never take a half-written file for a track,
// short enough that dancers see the change within about a second.
const DefaultStableFor = time.Second

// staleAfter: a file last written longer ago than this when Pika! starts
// is left over from an earlier set, not the track playing now.
const staleAfter = 10 * time.Minute

// maxFileBytes bounds what is read: a now-playing file is a few hundred
// bytes, so a bigger one is not one.
const maxFileBytes = 64 << 10

// Product is the generic now-playing text file.
func Product() detect.Product {
	return detect.Product{ID: ID, Name: "Now-playing text file", Locate: Locate, Open: Open}
}

// Locate returns the file named by PIKA_NOWPLAYING_FILE, or nil when it is
// not set: a now-playing file has no place of its own to look in.
func Locate(env detect.Env) []detect.Found {
	path := env.Get(EnvFile)
	if path == "" {
		return nil
	}
	f := detect.Found{Product: ID, Path: path}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		f.Why = EnvFile + " names " + path + ", which is not there yet: switch on the now-playing text file in your DJ program, or play a track so it writes it."
	case info.IsDir():
		f.Why = EnvFile + " names the folder " + path + ": name the text file your DJ program writes in it."
	default:
		f.Changed, f.Ready = info.ModTime(), true
		f.Why = "the now-playing file " + filepath.Base(path) + " named by " + EnvFile
	}
	return []detect.Found{f}
}

// Open follows the file at f.Path.
func Open(f detect.Found, opt detect.Options) (detect.Source, error) {
	return open(f.Path, opt, DefaultStableFor, nil)
}

// open is Open with a stability window and a clock, for tests.
func open(path string, opt detect.Options, stableFor time.Duration, now func() time.Time) (*detect.Polled, error) {
	if path == "" {
		return nil, errors.New("no now-playing file named: set " + EnvFile + " or name it with --watch")
	}
	if now == nil {
		now = time.Now
	}
	log := opt.Log().With("source", ID)
	r := &reader{path: path, now: now, log: log, importCurrent: opt.Import}
	p, err := detect.NewPolled(detect.PolledConfig{
		Name:  ID,
		Path:  path,
		Hints: []string{filepath.Dir(path)},
		Read:  r.read,
		// The program writing the file already decided what is playing;
		// the DJ's audible policy has nothing to add. The Decider only
		// holds each track back until it has been in the file stableFor.
		Policy: detect.Policy{MinAudible: stableFor, MinLevel: 1},
		Logger: log,
		Now:    now,
	})
	if err != nil {
		return nil, fmt.Errorf("follow the now-playing file %s: %w", path, err)
	}
	return p, nil
}

// reader reads the file for one Polled source, from one goroutine.
type reader struct {
	path          string
	now           func() time.Time
	log           *slog.Logger
	importCurrent bool // announce what the file names at start, however old

	started bool
	stale   string // the track the file named at start, if left from an earlier set
	// The track the file names now: its identity, and the ID and time of
	// the write that put it there. A rewrite naming the same track (or an
	// empty file, then the same track: a pause) keeps them, so it is not a
	// new play.
	current string
	id      string
	at      time.Time
}

// read reports the track the file names as a deck that is playing and
// fully audible; the Decider announces it once it has stayed StableFor.
func (r *reader) read(ctx context.Context) ([]detect.Deck, error) {
	data, mtime, err := r.load()
	if err != nil {
		return nil, err
	}
	e, ok := ParseNowPlaying(data)
	if !ok {
		r.started = true
		return nil, nil // an empty file: nothing is playing
	}
	key := e.Artist + "\x00" + e.Title
	if !r.started {
		r.started = true
		if !r.importCurrent && r.now().Sub(mtime) > staleAfter {
			r.stale = key
			r.log.Info("the now-playing file is left from earlier; waiting for the next track",
				"file", r.path, "written", mtime, "track", e.Title)
		}
	}
	if key == r.stale {
		return nil, nil
	}
	r.stale = ""
	if key != r.current {
		r.current, r.at = key, mtime.UTC()
		sum := sha256.Sum256([]byte(r.path + "\x00" + key + "\x00" + strconv.FormatInt(mtime.UnixNano(), 10)))
		r.id = ID + "-" + hex.EncodeToString(sum[:])[:20]
	}
	e.Source, e.ID, e.PlayedAt = ID, r.id, r.at
	return []detect.Deck{{Entry: e, Playing: true, Level: 1}}, nil
}

// load reads the whole file and its modification time.
func (r *reader) load() ([]byte, time.Time, error) {
	f, err := os.Open(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, fmt.Errorf("the now-playing file %s is not there: switch on your DJ program's now-playing text file, or check %s", r.path, EnvFile)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cannot open the now-playing file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cannot read the now-playing file: %w", err)
	}
	if info.IsDir() {
		return nil, time.Time{}, fmt.Errorf("%s is a folder, not a now-playing file: name the text file your DJ program writes", r.path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cannot read the now-playing file %s: %w", r.path, err)
	}
	if len(data) > maxFileBytes {
		return nil, time.Time{}, fmt.Errorf("%s is too big to be a now-playing file (over %d KB): is it the right file?", r.path, maxFileBytes>>10)
	}
	return data, info.ModTime(), nil
}
