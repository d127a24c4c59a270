package mixxx

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
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// program names Mixxx in errors the DJ sees.
const program = "Mixxx"

// historyHidden is Playlists.hidden of a history ("set log") playlist:
// 0 is a normal playlist, 1 the Auto DJ queue.
const historyHidden = 2

// recentAtStart is how long before Pika!'s first read a history row may
// have been added and still be announced: Pika! is often started together
// with Mixxx, and a track that went out a few seconds earlier is the one
// playing now. Older rows are the DJ's past and are not imported. A restart
// of Pika! may hand such a row over again; its ID and PlayedAt are the same,
// so the app drops the repeat.
const recentAtStart = 10 * time.Second

// startRows is how many of the newest PlaylistTracks rows the first read
// looks at for recent plays and for copies to recognise later.
const startRows = 32

// maxRows bounds the rows one read hands over; more new history rows than
// this between two reads half a second apart is not a DJ playing.
const maxRows = 256

// rememberCopies bounds how many history rows' (track, time added) the
// reader remembers to recognise copies.
const rememberCopies = 512

// reader reads new history rows. It is used by one Polled source, from one
// goroutine at a time.
type reader struct {
	path string
	now  func() time.Time
	log  *slog.Logger

	started bool
	cursor  int64 // the highest PlaylistTracks id at the last read
	// floor is the newest history row's time at the first read. A new row
	// added before it is a copy of old history: Mixxx's "Join with
	// previous" copies a session's rows, keeping their times, into the
	// session before it, under new ids.
	floor time.Time
	// seen holds (track, time added) of history rows already read, oldest
	// first, so that the copy of a row already seen is not a new play.
	seen []string
}

// row is one PlaylistTracks row of a history playlist.
type row struct {
	id      int64
	track   int64
	added   string // pl_datetime_added as stored
	at      time.Time
	missing bool // its library row is gone
	entry   detect.Entry
}

func (r row) copyKey() string { return strconv.FormatInt(r.track, 10) + "|" + r.added }

// read returns each history row added since the last read as a played deck,
// oldest first.
func (r *reader) read(ctx context.Context) ([]detect.Deck, error) {
	if _, err := os.Stat(r.path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no Mixxx library yet: start Mixxx, which creates %s (looked for %s)", dbName, r.path)
	}
	from := r.cursor
	var maxID int64
	var newestHistory string
	var rows []row
	err := detect.ReadSQLite(ctx, r.path, func(ctx context.Context, db *sql.DB) error {
		if err := checkSchema(ctx, db); err != nil {
			return err
		}
		opt, err := optionalColumns(ctx, db)
		if err != nil {
			return err
		}
		// One read transaction, so the highest id and the rows agree.
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("start reading: %w", err)
		}
		defer tx.Rollback()
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM PlaylistTracks").Scan(&maxID); err != nil {
			return fmt.Errorf("read the newest playlist row: %w", err)
		}
		if !r.started {
			from = max(0, maxID-startRows)
			var v any
			err := tx.QueryRowContext(ctx, `SELECT max(pt.pl_datetime_added) FROM PlaylistTracks pt
				JOIN Playlists p ON p.id = pt.playlist_id WHERE p.hidden = ?`, historyHidden).Scan(&v)
			if err != nil {
				return fmt.Errorf("read the newest history row: %w", err)
			}
			newestHistory = text(v)
		}
		// A row deleted at the top frees its id for reuse: never look past
		// the highest id there is now.
		from = min(from, maxID)
		rows, err = historyRows(ctx, tx, opt, from)
		return err
	})
	if err != nil {
		var se *detect.SchemaError
		switch {
		case errors.As(err, &se):
			return nil, err
		case detect.IsBusy(err):
			return nil, fmt.Errorf("the Mixxx database is locked by Mixxx; Pika! keeps trying: %w", err)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot read Mixxx's database %s: %w", r.path, err)
	}

	var decks []detect.Deck
	if !r.started {
		r.started = true
		r.floor = parseTime(newestHistory)
		since := r.now().Add(-recentAtStart)
		for _, rw := range rows {
			r.remember(rw.copyKey())
			if !rw.missing && !rw.at.IsZero() && !rw.at.Before(since) {
				decks = append(decks, played(rw.entry))
			}
		}
		r.log.Info("following Mixxx's history", "db", r.path, "from_row", maxID, "recent_plays", len(decks))
		r.cursor = maxID
		return decks, nil
	}
	for _, rw := range rows {
		key := rw.copyKey()
		switch {
		case !r.floor.IsZero() && !rw.at.IsZero() && rw.at.Before(r.floor):
			r.log.Debug("history row older than the session: a copy, not a play", "row", rw.id, "added", rw.added)
			continue
		case r.remembered(key):
			r.log.Debug("history row copies one already read", "row", rw.id, "added", rw.added)
			continue
		case rw.missing:
			r.log.Warn("history row names a track missing from Mixxx's library", "row", rw.id, "track", rw.track)
		default:
			decks = append(decks, played(rw.entry))
		}
		r.remember(key)
	}
	r.cursor = maxID
	return decks, nil
}

// played is a history row as a deck: Mixxx decided it went out, and Pika!
// cannot see levels.
func played(e detect.Entry) detect.Deck {
	return detect.Deck{Entry: e, Level: detect.Unknown, Played: true}
}

func (r *reader) remember(key string) {
	r.seen = append(r.seen, key)
	if len(r.seen) > rememberCopies {
		r.seen = r.seen[len(r.seen)-rememberCopies:]
	}
}

func (r *reader) remembered(key string) bool {
	for _, k := range r.seen {
		if k == key {
			return true
		}
	}
	return false
}

// checkSchema checks the tables and columns the query needs, and names
// Mixxx's schema version when one is missing.
func checkSchema(ctx context.Context, db *sql.DB) error {
	need := []struct {
		table string
		cols  []string
	}{
		{"Playlists", []string{"id", "hidden"}},
		{"PlaylistTracks", []string{"id", "playlist_id", "track_id", "pl_datetime_added"}},
		{"library", []string{"id", "artist", "title", "location"}},
		{"track_locations", []string{"id", "location"}},
	}
	for _, n := range need {
		err := detect.RequireColumns(ctx, db, program, n.table, n.cols...)
		var se *detect.SchemaError
		if errors.As(err, &se) {
			se.Version = schemaVersion(ctx, db)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// schemaVersion is Mixxx's schema version as it records it, or "".
func schemaVersion(ctx context.Context, db *sql.DB) string {
	var v any
	if err := db.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = 'mixxx.schema.version'").Scan(&v); err != nil {
		return ""
	}
	return text(v)
}

// optional are library columns a play is richer with but can do without.
var optional = []string{"album", "bpm", "key", "duration"}

// optionalColumns returns the select expression for each of optional:
// the column, or NULL when this database lacks it.
func optionalColumns(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT lower(name) FROM pragma_table_info('library')")
	if err != nil {
		return nil, fmt.Errorf("read the layout of library: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read the layout of library: %w", err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the layout of library: %w", err)
	}
	exprs := make([]string, len(optional))
	for i, c := range optional {
		exprs[i] = "NULL"
		if have[c] {
			exprs[i] = "l." + c
		}
	}
	return exprs, nil
}

// historyRows reads the history rows after id from, oldest first.
func historyRows(ctx context.Context, tx *sql.Tx, opt []string, from int64) ([]row, error) {
	q := `SELECT pt.id, pt.track_id, pt.pl_datetime_added, l.id, l.artist, l.title, ` +
		strings.Join(opt, ", ") + `, tl.location
		FROM PlaylistTracks pt
		JOIN Playlists p ON p.id = pt.playlist_id
		LEFT JOIN library l ON l.id = pt.track_id
		LEFT JOIN track_locations tl ON tl.id = l.location
		WHERE p.hidden = ? AND pt.id > ?
		ORDER BY pt.id
		LIMIT ?`
	rs, err := tx.QueryContext(ctx, q, historyHidden, from, maxRows)
	if err != nil {
		return nil, fmt.Errorf("read the history playlist: %w", err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		// Scanned as any and converted leniently: one odd value must not
		// stop every later play from being read.
		var id, track, added, libID, artist, title, album, bpm, key, duration, location any
		if err := rs.Scan(&id, &track, &added, &libID, &artist, &title, &album, &bpm, &key, &duration, &location); err != nil {
			return nil, fmt.Errorf("read the history playlist: %w", err)
		}
		rw := row{id: integer(id), track: integer(track), added: text(added), missing: libID == nil}
		rw.at = parseTime(rw.added)
		rw.entry = detect.Entry{
			Artist:   clean(text(artist)),
			Title:    clean(text(title)),
			Album:    clean(text(album)),
			BPM:      positive(number(bpm), 999),
			Key:      clean(text(key)),
			Duration: positive(number(duration), 24*3600),
			Path:     text(location),
			PlayedAt: rw.at,
			Source:   ID,
			ID:       entryID(rw.id, rw.added),
		}
		if rw.entry.Title == "" && rw.entry.Artist == "" && rw.entry.Path != "" {
			// Mixxx shows an untagged file by its name; so do we.
			base := path.Base(strings.ReplaceAll(rw.entry.Path, `\`, "/"))
			rw.entry.Title = strings.TrimSuffix(base, path.Ext(base))
		}
		out = append(out, rw)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read the history playlist: %w", err)
	}
	return out, nil
}

// entryID names one history row: its id and the moment it was added, so a
// row id reused after a deletion is a different play.
func entryID(id int64, added string) string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(id, 10) + "\x00" + added))
	return ID + "-" + hex.EncodeToString(sum[:])[:20]
}

// timeLayouts are the ways a history row's time may be written. Mixxx
// writes SQLite's CURRENT_TIMESTAMP: UTC, "YYYY-MM-DD HH:MM:SS".
var timeLayouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// parseTime reads a pl_datetime_added value; zero when it is not a time.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if len(s) < len("2006-01-02 15:04:05") || len(s) > 40 {
		return time.Time{}
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// text is a column value as text.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return strings.ToValidUTF8(string(v), "\uFFFD")
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04:05")
	}
	return ""
}

func integer(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(text(v)), 10, 64)
	return n
}

func number(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	f, _ := strconv.ParseFloat(strings.TrimSpace(text(v)), 64)
	return f
}

// positive is f when 0 < f ≤ limit, else 0 (unknown).
func positive(f, limit float64) float64 {
	if f > 0 && f <= limit {
		return f
	}
	return 0
}

// clean trims a tag and bounds its length: a damaged row must not put
// megabytes on every dancer's phone.
func clean(s string) string {
	s = strings.TrimSpace(s)
	const maxLen = 1024
	if len(s) > maxLen {
		s = strings.ToValidUTF8(s[:maxLen], "")
	}
	return s
}
