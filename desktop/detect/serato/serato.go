// Package serato owns following Serato DJ: Serato DJ 4 through its live
// library database (Library/master.sqlite, product "serato"), and Serato DJ
// 3 and Scratch Live through their binary session files
// (_Serato_/History/Sessions/<n>.session, product "serato3"). Both report
// what Serato itself marks played; Serato records no fader positions, so a
// deck's level is always detect.Unknown.
package serato

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// Product IDs and names, as the DJ chooses them.
const (
	ID4   = "serato"
	Name4 = "Serato DJ 4"
)

// Product is Serato DJ 4, read from its live library database.
func Product() detect.Product {
	return detect.Product{ID: ID4, Name: Name4, Locate: locate4, Open: open4}
}

// libraryDirs lists where Serato DJ 4 keeps its Library folder on env, most
// likely first. Serato has no Linux build.
func libraryDirs(env detect.Env) []string {
	var dirs []string
	add := func(base string, parts ...string) {
		if strings.TrimSpace(base) == "" {
			return
		}
		d := env.Join(append([]string{base}, parts...)...)
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	switch env.GOOS {
	case "darwin":
		add(env.Home, "Library", "Application Support", "Serato", "Library")
	case "windows":
		appData := env.Get("APPDATA")
		if appData == "" && env.Home != "" {
			appData = env.Join(env.Home, "AppData", "Roaming")
		}
		add(appData, "Serato", "Library")
		localAppData := env.Get("LOCALAPPDATA")
		if localAppData == "" && env.Home != "" {
			localAppData = env.Join(env.Home, "AppData", "Local")
		}
		add(localAppData, "Serato", "Library")
	}
	return dirs
}

func locate4(env detect.Env) []detect.Found {
	var found, notReady []detect.Found
	for _, dir := range libraryDirs(env) {
		db := env.Join(dir, "master.sqlite")
		if info, err := os.Stat(db); err == nil && info.Mode().IsRegular() {
			changed := newestMtime(db, db+"-wal")
			found = append(found, detect.Found{
				Product: ID4, Path: db, Changed: changed, Ready: true,
				Why: fmt.Sprintf("Serato DJ 4's library database, changed %s.", detect.Ago(time.Now(), changed)),
			})
			continue
		}
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			notReady = append(notReady, detect.Found{
				Product: ID4, Path: db, Changed: newestMtime(dir),
				Why: "Serato's Library folder is there but has no Serato DJ 4 database (master.sqlite) yet: open Serato DJ 4 once. Serato DJ 3 and Scratch Live are followed through their session files instead.",
			})
		}
	}
	return append(found, notReady...)
}

// newestMtime is the latest modification time among paths that exist.
func newestMtime(paths ...string) time.Time {
	var newest time.Time
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil && info.ModTime().After(newest) {
			newest = info.ModTime()
		}
	}
	return newest
}

func open4(f detect.Found, opt detect.Options) (detect.Source, error) {
	path := f.Path
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		path = filepath.Join(path, "master.sqlite") // the DJ named the Library folder
	}
	r := &db4{path: path}
	return detect.NewPolled(detect.PolledConfig{
		Name:   ID4,
		Path:   path,
		Hints:  []string{filepath.Dir(path)},
		Read:   r.read,
		Policy: opt.Policy,
		Logger: opt.Log().With("source", ID4),
	})
}

// db4 reads Serato DJ 4's master.sqlite.
type db4 struct {
	path string
}

// Columns read from history_entry. The required ones say which load is on
// which deck and whether Serato counts it played; without them Pika! cannot
// work, so their absence is a SchemaError. The optional ones only add
// metadata and are read when present.
var (
	sessionCols  = []string{"id", "start_time", "end_time"}
	entryCols    = []string{"id", "session_id", "deck", "start_time", "end_time", "played", "artist", "name"}
	optionalCols = []string{"album", "bpm", "key", "length_sec", "length_ms", "file_name", "portable_id", "location_id"}
)

// read returns the latest load on each deck of Serato's open session, oldest
// first, so that two loads Serato marks played between two reads are
// announced in the order they were loaded.
func (r *db4) read(ctx context.Context) ([]detect.Deck, error) {
	if _, err := os.Stat(r.path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no Serato DJ 4 library database yet (%s): open Serato DJ 4", r.path)
		}
		return nil, fmt.Errorf("cannot look at Serato's database: %w", err)
	}
	var decks []detect.Deck
	err := detect.ReadSQLite(ctx, r.path, func(ctx context.Context, db *sql.DB) error {
		var err error
		decks, err = readDecks(ctx, db)
		return err
	})
	if err != nil {
		var se *detect.SchemaError
		switch {
		case errors.As(err, &se):
			return nil, err
		case detect.IsBusy(err):
			return nil, &busyError{err}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot read Serato's database: %w", err)
	}
	return decks, nil
}

// busyError is a lock Serato kept through every retry. Its text is for the
// DJ; the SQLite error stays reachable for errors.As.
type busyError struct{ err error }

func (e *busyError) Error() string {
	return "Serato's database is locked by Serato (still locked after several tries); Pika! keeps trying"
}
func (e *busyError) Unwrap() error { return e.err }

func readDecks(ctx context.Context, db *sql.DB) ([]detect.Deck, error) {
	if err := detect.RequireColumns(ctx, db, Name4, "history_session", sessionCols...); err != nil {
		return nil, err
	}
	if err := detect.RequireColumns(ctx, db, Name4, "history_entry", entryCols...); err != nil {
		var se *detect.SchemaError
		if errors.As(err, &se) {
			se.Version = appVersion(ctx, db)
		}
		return nil, err
	}

	// The open session: Serato 4 has been seen marking it with end_time 0
	// and with -1 (and NULL is no end either). A crash can leave an older
	// one open, so the highest id wins.
	var sessionID, sessionStart int64
	err := db.QueryRowContext(ctx, `SELECT id, coalesce(start_time, 0) FROM history_session
		WHERE end_time IS NULL OR end_time <= 0 ORDER BY id DESC LIMIT 1`).Scan(&sessionID, &sessionStart)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil // Serato is not running, or between sessions
	}
	if err != nil {
		return nil, fmt.Errorf("find Serato's open session: %w", err)
	}

	have, err := columns(ctx, db, "history_entry")
	if err != nil {
		return nil, err
	}
	sel := make([]string, 0, len(entryCols)+len(optionalCols))
	for _, c := range entryCols {
		sel = append(sel, "e."+c)
	}
	for _, c := range optionalCols {
		if slices.Contains(have, c) {
			sel = append(sel, "e."+c)
		} else {
			sel = append(sel, "NULL")
		}
	}
	// The latest load on each deck: rows are inserted at load and updated
	// in place (played, end_time) afterwards. One pass over the session's
	// rows: history_entry holds every set ever played.
	q := `SELECT ` + strings.Join(sel, ", ") + ` FROM (
		SELECT *, row_number() OVER (PARTITION BY deck ORDER BY start_time DESC, id DESC) AS pika_rank
		FROM history_entry WHERE session_id = ?) e
		WHERE e.pika_rank = 1 ORDER BY e.start_time, e.id`
	rows, err := db.QueryContext(ctx, q, sessionID)
	if err != nil {
		return nil, fmt.Errorf("read Serato's history: %w", err)
	}
	defer rows.Close()

	type row struct {
		id, startTime                  int64
		deck, artist, name             sql.NullString
		endTime, played                sql.NullInt64
		album, key, fileName, portable sql.NullString
		bpm                            sql.NullFloat64
		lengthSec, lengthMs, location  sql.NullInt64
	}
	var got []row
	for rows.Next() {
		var x row
		var sessionCol sql.NullInt64 // the session asked for; scanned only to keep the column list one
		var start sql.NullInt64
		if err := rows.Scan(&x.id, &sessionCol, &x.deck, &start, &x.endTime, &x.played, &x.artist, &x.name,
			&x.album, &x.bpm, &x.key, &x.lengthSec, &x.lengthMs, &x.fileName, &x.portable, &x.location); err != nil {
			return nil, fmt.Errorf("read Serato's history: %w", err)
		}
		x.startTime = start.Int64
		got = append(got, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read Serato's history: %w", err)
	}
	rows.Close()

	roots, err := locationRoots(ctx, db)
	if err != nil {
		return nil, err
	}

	decks := make([]detect.Deck, 0, len(got))
	for _, x := range got {
		e := detect.Entry{
			Artist: x.artist.String,
			Title:  x.name.String,
			Album:  x.album.String,
			BPM:    x.bpm.Float64,
			Key:    x.key.String,
			Source: ID4,
			Deck:   x.deck.String,
			Path:   trackPath(x.portable.String, roots[x.location.Int64]),
			ID:     entryID(ID4, strconv.FormatInt(sessionID, 10), strconv.FormatInt(sessionStart, 10), strconv.FormatInt(x.id, 10)),
		}
		switch {
		case x.lengthSec.Int64 > 0:
			e.Duration = float64(x.lengthSec.Int64)
		case x.lengthMs.Int64 > 0:
			e.Duration = float64(x.lengthMs.Int64) / 1000
		}
		if e.Path == "" {
			e.Path = x.fileName.String
		}
		if e.Title == "" && e.Artist == "" {
			// An unanalysed file: its name is all Serato knows.
			base := x.fileName.String
			e.Title = strings.TrimSuffix(base, filepath.Ext(base))
		}
		if x.startTime > 0 {
			e.PlayedAt = time.Unix(x.startTime, 0).UTC()
		}
		decks = append(decks, detect.Deck{
			Deck:    x.deck.String,
			Entry:   e,
			Level:   detect.Unknown,
			Played:  x.played.Int64 == 1,
			Playing: x.endTime.Int64 <= 0, // NULL, 0 or -1: not ejected yet
		})
	}
	return decks, nil
}

// columns lists table's column names, lower case.
func columns(ctx context.Context, db *sql.DB, table string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT lower(name) FROM pragma_table_info(?)", table)
	if err != nil {
		return nil, fmt.Errorf("read the layout of Serato's %s table: %w", table, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read the layout of Serato's %s table: %w", table, err)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// appVersion is the Serato version that wrote the newest history row, for a
// SchemaError; "" when the database does not say.
func appVersion(ctx context.Context, db *sql.DB) string {
	cols, err := columns(ctx, db, "history_entry")
	if err != nil || !slices.Contains(cols, "app_version") {
		return ""
	}
	var v sql.NullString
	_ = db.QueryRowContext(ctx, "SELECT app_version FROM history_entry ORDER BY rowid DESC LIMIT 1").Scan(&v)
	return v.String
}

// locationRoots maps each location id to the folder its portable ids are
// relative to, from the connection table's database_uri. A database
// without those tables (or an unknown location) leaves paths as Serato
// stores them.
func locationRoots(ctx context.Context, db *sql.DB) (map[int64]string, error) {
	roots := map[int64]string{}
	cols, err := columns(ctx, db, "connection")
	if err != nil {
		return nil, err
	}
	if !slices.Contains(cols, "location_id") || !slices.Contains(cols, "database_uri") {
		return roots, nil
	}
	rows, err := db.QueryContext(ctx, "SELECT location_id, database_uri FROM connection WHERE location_id IS NOT NULL")
	if err != nil {
		return nil, fmt.Errorf("read Serato's drive locations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var uri sql.NullString
		if err := rows.Scan(&id, &uri); err != nil {
			return nil, fmt.Errorf("read Serato's drive locations: %w", err)
		}
		if root, ok := rootOf(uri.String); ok {
			roots[id] = root
		}
	}
	return roots, rows.Err()
}

// rootOf is the folder a location's portable ids are relative to, from the
// location's database_uri: a drive's own _Serato_/Library/location.sqlite
// means the drive's root; the library's root.sqlite means the root of the
// system drive ("/" on macOS, "C:\" on Windows).
func rootOf(uri string) (string, bool) {
	s := strings.TrimSpace(uri)
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		s = rest
		if u, err := url.PathUnescape(rest); err == nil {
			s = u
		}
		s = strings.TrimPrefix(s, "localhost")
		if len(s) >= 3 && s[0] == '/' && isDrive(s[1:]) {
			s = s[1:] // file:///C:/… → C:/…
		}
	}
	windows := isDrive(s) || strings.HasPrefix(s, `\\`) || strings.Contains(s, `\`)
	slashed := strings.ReplaceAll(s, `\`, "/")
	lower := strings.ToLower(slashed)
	var root string
	switch {
	case strings.HasSuffix(lower, "/_serato_/library/location.sqlite"):
		root = slashed[:len(slashed)-len("/_serato_/library/location.sqlite")]
		if root == "" {
			root = "/"
		}
	case strings.HasSuffix(lower, "/root.sqlite") || lower == "root.sqlite":
		root = "/"
		if isDrive(slashed) {
			root = slashed[:2]
		}
	default:
		return "", false
	}
	if windows {
		root = strings.ReplaceAll(root, "/", `\`)
		if isDrive(root) && len(root) == 2 {
			root += `\`
		}
	}
	return root, true
}

// trackPath joins a portable id (a path relative to its drive's root, with
// either slash) to root; streaming ids (streaming://…) and absolute paths
// are kept as they are.
func trackPath(portable, root string) string {
	if portable == "" {
		return ""
	}
	if strings.Contains(portable, "://") || root == "" {
		return portable
	}
	rel := strings.TrimLeft(portable, `/\`)
	if isDrive(portable) {
		return portable
	}
	if strings.Contains(root, `\`) || isDrive(root) {
		rel = strings.ReplaceAll(rel, "/", `\`)
		return strings.TrimRight(root, `\`) + `\` + rel
	}
	rel = strings.ReplaceAll(rel, `\`, "/")
	return strings.TrimRight(root, "/") + "/" + rel
}

// isDrive reports whether s starts with a Windows drive letter and colon.
func isDrive(s string) bool {
	return len(s) >= 2 && s[1] == ':' && (s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z')
}

// entryID names one load of a track, stable across reads and restarts:
// the product and the program's own identifiers of the load, hashed.
func entryID(product string, parts ...string) string {
	h := sha256.Sum256([]byte(product + "\x00" + strings.Join(parts, "\x00")))
	return product + ":" + hex.EncodeToString(h[:])[:20]
}
