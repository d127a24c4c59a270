package serato

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// Product ID and name of Serato DJ 3 and Scratch Live, followed through
// their session files.
const (
	ID3   = "serato3"
	Name3 = "Serato DJ 3 / Scratch Live"
)

// staleSession is how old the newest session file may be and still be
// followed. Serato writes it at every load and eject, so an older one is a
// past set (as whatsnowplaying does, so its last tracks are not announced
// again when Pika! starts between gigs).
const staleSession = 10 * time.Minute

// maxSessionBytes bounds the session file read. A night's session is tens
// of kilobytes, preallocated space a few more; anything near this is not a
// session file.
const maxSessionBytes = 64 << 20

// Session3Product is Serato DJ 3 / Scratch Live, read from the binary
// session file Serato appends to at each load and eject.
func Session3Product() detect.Product {
	return detect.Product{ID: ID3, Name: Name3, Locate: locate3, Open: open3}
}

// seratoDir is the _Serato_ folder in the user's Music folder on env.
func seratoDir(env detect.Env) string {
	switch env.GOOS {
	case "darwin":
		if env.Home == "" {
			return ""
		}
		return env.Join(env.Home, "Music", "_Serato_")
	case "windows":
		profile := env.Get("USERPROFILE")
		if profile == "" {
			profile = env.Home
		}
		if profile == "" {
			return ""
		}
		return env.Join(profile, "Music", "_Serato_")
	}
	return "" // no Serato for Linux
}

func locate3(env detect.Env) []detect.Found {
	base := seratoDir(env)
	if base == "" {
		return nil
	}
	sessions := env.Join(base, "History", "Sessions")
	if info, err := os.Stat(sessions); err == nil && info.IsDir() {
		newest, n, _ := newestSession(sessions)
		changed := newestMtime(env.Join(base, "History", "history.database"))
		if newest != "" {
			if t := newestMtime(newest); t.After(changed) {
				changed = t
			}
		}
		why := "Serato's session folder, with no session yet: play a track in Serato DJ 3 or Scratch Live."
		if newest != "" {
			why = fmt.Sprintf("Serato's session files (session %d, changed %s).", n, detect.Ago(time.Now(), changed))
		}
		return []detect.Found{{Product: ID3, Path: sessions, Changed: changed, Ready: true, Why: why}}
	}
	if info, err := os.Stat(base); err == nil && info.IsDir() {
		return []detect.Found{{
			Product: ID3, Path: sessions, Changed: newestMtime(base),
			Why: "Serato's _Serato_ folder has no History sessions: Serato DJ 3 and Scratch Live write them once a track is loaded; Serato DJ 4 no longer writes them, so choose Serato DJ 4 instead.",
		}}
	}
	return nil
}

// newestSession is the session file with the highest number in dir, not the
// newest by time: Serato has been seen updating an older session after the
// current one (whatsnowplaying#10). path is "" when there is none.
func newestSession(dir string) (path string, n int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", 0, err
	}
	best := -1
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), ".session")
		if !ok || e.IsDir() {
			continue
		}
		v, err := strconv.Atoi(stem)
		if err != nil || v < 0 {
			continue
		}
		if v > best {
			best, path = v, filepath.Join(dir, e.Name())
		}
	}
	return path, best, nil
}

func open3(f detect.Found, opt detect.Options) (detect.Source, error) {
	r := &sessions3{dir: f.Path, now: time.Now, log: opt.Log().With("source", ID3)}
	if strings.HasSuffix(f.Path, ".session") {
		r.dir, r.file = filepath.Dir(f.Path), f.Path // the DJ named one session file
	} else if sub := filepath.Join(f.Path, "History", "Sessions"); isDir(sub) {
		r.dir = sub // the DJ named the _Serato_ folder
	}
	return r.source(opt.Policy)
}

func (r *sessions3) source(p detect.Policy) (*detect.Polled, error) {
	return detect.NewPolled(detect.PolledConfig{
		Name:   ID3,
		Path:   r.dir,
		Hints:  []string{r.dir},
		Read:   r.read,
		Policy: p,
		Logger: r.log,
		Now:    r.now,
	})
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

// sessions3 reads the current session file. Its read is called by one
// Polled.Run at a time, so the cache needs no lock.
type sessions3 struct {
	dir  string // the Sessions folder
	file string // one session file to read instead of the newest; usually ""
	now  func() time.Time
	log  *slog.Logger

	// The last file parsed, so an unchanged file is not parsed again every
	// half second.
	lastPath  string
	lastSize  int64
	lastMod   time.Time
	lastDecks []detect.Deck
}

func (r *sessions3) read(ctx context.Context) ([]detect.Deck, error) {
	path, n := r.file, 0
	if path == "" {
		var err error
		path, n, err = newestSession(r.dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no Serato session folder (%s): Serato DJ 3 and Scratch Live make it when a track is loaded; Serato DJ 4 does not write it at all", r.dir)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot list Serato's session files: %w", err)
		}
		if path == "" {
			return nil, nil // Serato has not started a session yet
		}
	} else {
		n, _ = strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".session"))
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read Serato's session %s: %w", filepath.Base(path), err)
	}
	if r.file == "" && r.now().Sub(info.ModTime()) > staleSession {
		return nil, nil // a past set; Serato is not playing now
	}
	if path == r.lastPath && info.Size() == r.lastSize && info.ModTime().Equal(r.lastMod) {
		return r.lastDecks, nil
	}
	data, err := readAtMost(path, maxSessionBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot read Serato's session %s: %w", filepath.Base(path), err)
	}
	s := ParseSession(data)
	if s.Truncated {
		r.log.Debug("session file ends inside a chunk; reading the rest next time", "file", path, "complete", s.Complete, "size", len(data))
	}
	decks := sessionDecks(n, s)
	r.lastPath, r.lastSize, r.lastMod, r.lastDecks = path, info.Size(), info.ModTime(), decks
	return decks, ctx.Err()
}

// readAtMost reads path whole, refusing a file larger than limit.
func readAtMost(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("it is larger than %d MB, too large for a session file", limit>>20)
	}
	return data, nil
}

// sessionDecks is the latest row loaded on each deck of session n, oldest
// first. Serato's status is read from the played flag and the play time:
// played with no play time yet is playing; played with a play time is
// finished; not played is loaded (or skipped).
func sessionDecks(n int, s Session) []detect.Deck {
	latest := map[uint32]SessionRow{}
	for _, row := range s.Rows {
		if row.Deck == 0 {
			continue // a row without its deck is damaged or half written
		}
		if cur, ok := latest[row.Deck]; !ok || row.Row >= cur.Row {
			latest[row.Deck] = row
		}
	}
	rows := make([]SessionRow, 0, len(latest))
	for _, row := range latest {
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b SessionRow) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		return cmp.Compare(a.Row, b.Row)
	})
	decks := make([]detect.Deck, 0, len(rows))
	for _, row := range rows {
		deck := strconv.FormatUint(uint64(row.Deck), 10)
		e := detect.Entry{
			Artist:   row.Artist,
			Title:    row.Title,
			Album:    row.Album,
			Key:      row.Key,
			BPM:      float64(row.BPM),
			Duration: parseLength(row.Length),
			Path:     row.Path,
			Source:   ID3,
			Deck:     deck,
			ID:       entryID(ID3, strconv.Itoa(n), strconv.FormatUint(uint64(row.Row), 10), row.Path),
		}
		if e.Path == "" {
			e.Path = row.FileName
		}
		if e.Title == "" && e.Artist == "" {
			e.Title = strings.TrimSuffix(row.FileName, filepath.Ext(row.FileName))
		}
		if row.Start > 0 {
			e.PlayedAt = time.Unix(row.Start, 0).UTC()
		}
		decks = append(decks, detect.Deck{
			Deck:    deck,
			Entry:   e,
			Level:   detect.Unknown,
			Played:  row.Played,
			Playing: row.Played && row.PlayTime == 0 && row.End == 0,
		})
	}
	return decks
}

// parseLength reads Serato's length text ("06:25.31", "1:02:03") as
// seconds; 0 when it is not one.
func parseLength(s string) float64 {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0
	}
	secs, err := strconv.ParseFloat(parts[len(parts)-1], 64)
	if err != nil || secs < 0 || secs >= 60 {
		return 0
	}
	total := secs
	mult := 60.0
	for i := len(parts) - 2; i >= 0; i-- {
		v, err := strconv.Atoi(parts[i])
		if err != nil || v < 0 {
			return 0
		}
		total += float64(v) * mult
		mult *= 60
	}
	return total
}
