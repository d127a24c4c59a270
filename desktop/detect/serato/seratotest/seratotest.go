// Package seratotest owns the Serato DJ 4 fixture tests build on: a
// Library/master.sqlite in Serato's real layout (history_session,
// history_entry, location, connection), kept open by its writer in WAL mode
// as Serato keeps it, where a track is loaded on a deck as a row with
// played = 0 and counted as played by setting it to 1. The serato
// package's tests and the end-to-end tests of `pika lan` both use it.
package seratotest

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// Schema4 is the layout of Serato DJ 4's master.sqlite, trimmed to the
// tables and columns that matter here (types as Serato declares them), with
// two library locations: the Mac's system drive and a USB stick.
const Schema4 = `
CREATE TABLE history_session (id INTEGER PRIMARY KEY AUTOINCREMENT, start_time INTEGER, end_time INTEGER DEFAULT -1,
	name TEXT, notes TEXT, file_count INTEGER, duration INTEGER, device TEXT);
CREATE TABLE history_entry (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER REFERENCES history_session(id),
	file_name TEXT, portable_id TEXT, location_id INTEGER, asset_id INTEGER,
	start_time INTEGER DEFAULT (strftime('%s','now')), end_time INTEGER DEFAULT -1, played INTEGER DEFAULT 0,
	deck TEXT, artist TEXT, name TEXT, album TEXT, genre TEXT, year TEXT, key TEXT, key_value INTEGER DEFAULT -1,
	bpm REAL, length_sec INTEGER, length_ms INTEGER, file_size INTEGER, file_bit_rate REAL, file_sample_rate REAL,
	label TEXT, remixer TEXT, comments TEXT, type_specific_data TEXT, device TEXT, app_name TEXT, app_version TEXT);
CREATE TABLE location (id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT, uuid BLOB);
CREATE TABLE connection (id INTEGER PRIMARY KEY AUTOINCREMENT, location_id INTEGER, database_uri TEXT);
INSERT INTO location (id, path, uuid) VALUES (1, '', x'0102'), (2, '', x'0304');
INSERT INTO connection (location_id, database_uri) VALUES
	(1, '/Users/dj/Library/Application Support/Serato/Library/root.sqlite'),
	(2, '/Volumes/DJ USB/_Serato_/Library/location.sqlite');
`

// Master is a master.sqlite and the one connection that writes it.
type Master struct {
	TB   testing.TB
	Path string
	DB   *sql.DB // the writer, held open until the test ends
}

// New creates dir/Library/master.sqlite (dir is Serato's folder) with the
// layout ddl, in WAL mode with automatic checkpoints off, so every change
// lives only in the -wal file while the writer is open, as with Serato
// running.
func New(tb testing.TB, dir, ddl string) *Master {
	tb.Helper()
	lib := filepath.Join(dir, "Library")
	detecttest.MkDir(tb, lib)
	return Create(tb, filepath.Join(lib, "master.sqlite"), ddl, true)
}

// Create creates the database at path with the layout ddl, held open by
// one connection until the test ends; without wal it keeps a rollback
// journal, where a writer's lock blocks readers.
func Create(tb testing.TB, path, ddl string, wal bool) *Master {
	tb.Helper()
	m := &Master{TB: tb, Path: path, DB: detecttest.OpenSQLiteWriter(tb, path, wal)}
	m.Exec(ddl)
	return m
}

// Exec runs q on the writer and returns the id of the row it inserted, if
// any, failing the test on error.
func (m *Master) Exec(q string, args ...any) int64 {
	m.TB.Helper()
	id, _ := detecttest.MustExec(m.TB, m.DB, q, args...).LastInsertId()
	return id
}

// OpenSession starts a session as Serato does when it opens, whose
// end_time is the given "still open" sentinel (nil, 0 or -1: versions
// differ), and returns its id.
func (m *Master) OpenSession(at time.Time, open any) int64 {
	m.TB.Helper()
	return m.Exec("INSERT INTO history_session (start_time, end_time, name, device) VALUES (?, ?, ?, 'MacBook Pro')",
		at.Unix(), open, at.Format("2006-01-02"))
}

// CloseSession ends a session, as Serato does when it quits.
func (m *Master) CloseSession(id int64, at time.Time) {
	m.TB.Helper()
	m.Exec("UPDATE history_session SET end_time = ? WHERE id = ?", at.Unix(), id)
}

// Load is a track loaded on a deck.
type Load struct {
	Deck, Artist, Title string
	At                  time.Time // when it was loaded
	Played              bool      // already counted played
	// Portable is the file as Serato stores it, relative to the root of
	// the drive of library location Location; "" is a file in the Mac's
	// Music folder named after artist and title. A streamed track has a
	// streaming:// URL and location 0.
	Portable string
	Location int
}

// Load inserts a row as Serato does when a track is loaded on a deck:
// end_time 0 until it is ejected, played 0 until Serato counts it. The
// track is 96.5 BPM in 8A. It returns the row's id.
func (m *Master) Load(session int64, l Load) int64 {
	m.TB.Helper()
	if l.Portable == "" {
		l.Portable = "Users/dj/Music/WCS/" + l.Artist + " - " + l.Title + ".mp3"
		l.Location = 1
	}
	played := 0
	if l.Played {
		played = 1
	}
	return m.Exec(`INSERT INTO history_entry (session_id, file_name, portable_id, location_id, start_time, end_time, played,
		deck, artist, name, album, genre, year, key, key_value, bpm, length_sec, length_ms, app_name, app_version)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 'Invented Album', 'R&B', '2024', '8A', 21, 96.5, 215, 215400, 'Serato DJ Pro', '4.0.6')`,
		session, filepath.Base(l.Portable), l.Portable, l.Location, l.At.Unix(), played, l.Deck, l.Artist, l.Title)
}

// SetPlayed marks a loaded row played, as Serato does once the track has
// gone out.
func (m *Master) SetPlayed(id int64) {
	m.TB.Helper()
	m.Exec("UPDATE history_entry SET played = 1 WHERE id = ?", id)
}

// Eject records that a row's track left its deck.
func (m *Master) Eject(id int64, at time.Time) {
	m.TB.Helper()
	m.Exec("UPDATE history_entry SET end_time = ? WHERE id = ?", at.Unix(), id)
}
