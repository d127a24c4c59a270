// Package mixxxtest owns the Mixxx fixture tests build on: a library
// database (mixxxdb.sqlite) in Mixxx's real layout, written through one
// connection held open as Mixxx holds it, with tracks added as its scanner
// adds them and rows appended to the History playlist as Mixxx appends them
// when a track goes out. The mixxx package's tests and the end-to-end tests
// of `pika lan` both use it, so there is one idea of what Mixxx writes.
package mixxxtest

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// DBName is Mixxx's library database in its settings folder.
const DBName = "mixxxdb.sqlite"

// Schema is Mixxx's library layout as res/schema.xml builds it up to
// version 39, cut to the tables a history read touches (with their real
// column names and types, unused columns included).
const Schema = `
CREATE TABLE settings (name TEXT UNIQUE NOT NULL, value TEXT, locked INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0);
CREATE TABLE track_locations (
	id INTEGER PRIMARY KEY AUTOINCREMENT, location varchar(512) UNIQUE, filename varchar(512),
	directory varchar(512), filesize INTEGER, fs_deleted INTEGER, needs_verification INTEGER);
CREATE TABLE library (
	id INTEGER PRIMARY KEY AUTOINCREMENT, artist varchar(64), title varchar(64), album varchar(64),
	year varchar(16), genre varchar(64), tracknumber varchar(3),
	location INTEGER REFERENCES track_locations(location), comment varchar(256), url varchar(256),
	duration FLOAT, bitrate INTEGER, samplerate INTEGER, cuepoint INTEGER, bpm FLOAT,
	wavesummaryhex BLOB, channels INTEGER, datetime_added DEFAULT CURRENT_TIMESTAMP,
	mixxx_deleted INTEGER, played INTEGER, header_parsed INTEGER DEFAULT 0, filetype varchar(8) DEFAULT '?',
	replaygain FLOAT DEFAULT 0, timesplayed INTEGER DEFAULT 0, rating INTEGER DEFAULT 0,
	key varchar(8) DEFAULT '', key_id INTEGER DEFAULT 0, last_played_at DATETIME DEFAULT NULL);
CREATE TABLE Playlists (
	id INTEGER PRIMARY KEY, name varchar(48), position INTEGER, hidden INTEGER DEFAULT 0 NOT NULL,
	date_created datetime, date_modified datetime, locked INTEGER DEFAULT 0);
CREATE TABLE PlaylistTracks (
	id INTEGER PRIMARY KEY, playlist_id INTEGER REFERENCES Playlists(id),
	track_id INTEGER REFERENCES library(id), position INTEGER, pl_datetime_added);
CREATE INDEX idx_PlaylistTracks_playlist_id_track_id ON PlaylistTracks (playlist_id, track_id);
INSERT INTO settings (name, value) VALUES ('mixxx.schema.version', '39');
`

// Playlists.hidden values: what kind of playlist a row is.
const (
	Normal  = 0
	AutoDJ  = 1
	History = 2
)

// Time formats t as SQLite's CURRENT_TIMESTAMP does, as Mixxx stores it.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// Library is a Mixxx database written the way Mixxx writes it, through one
// connection held open until the test ends.
type Library struct {
	TB   testing.TB
	Path string
	DB   *sql.DB // the writer: one connection, as Mixxx's
}

// New creates DBName in dir (which must exist) with the layout ddl, through
// Open.
func New(tb testing.TB, dir string, wal bool, ddl string) *Library {
	tb.Helper()
	l := Open(tb, filepath.Join(dir, DBName), wal)
	l.Exec(ddl)
	return l
}

// Open opens the database at path as Mixxx would, one connection held until
// the test ends. wal puts it in WAL mode with automatic checkpoints off, so
// every change lives only in the -wal file while the writer is open;
// without it the database keeps a rollback journal, where a writer's lock
// blocks readers.
func Open(tb testing.TB, path string, wal bool) *Library {
	tb.Helper()
	return &Library{TB: tb, Path: path, DB: detecttest.OpenSQLiteWriter(tb, path, wal)}
}

// Exec runs q on the writer, failing the test on error.
func (l *Library) Exec(q string, args ...any) sql.Result {
	l.TB.Helper()
	return detecttest.MustExec(l.TB, l.DB, q, args...)
}

func (l *Library) lastID(res sql.Result) int64 {
	l.TB.Helper()
	id, err := res.LastInsertId()
	if err != nil {
		l.TB.Fatal(err)
	}
	return id
}

// Playlist creates a playlist as PlaylistDAO::createPlaylist does; hidden is
// Normal, AutoDJ or History. It returns the playlist's id.
func (l *Library) Playlist(name string, hidden int, at time.Time) int64 {
	l.TB.Helper()
	return l.lastID(l.Exec(`INSERT INTO Playlists (name, position, hidden, date_created, date_modified)
		VALUES (?, (SELECT coalesce(max(position), 0) + 1 FROM Playlists), ?, ?, ?)`,
		name, hidden, Time(at), Time(at)))
}

// Track is a file as Mixxx's library knows it.
type Track struct {
	Artist, Title, Album string
	BPM                  float64
	Key                  string
	Duration             float64 // seconds
	Location             string  // the file's full path
}

// Track adds a file to the library as Mixxx's scanner would and returns
// its library id.
func (l *Library) Track(t Track) int64 {
	l.TB.Helper()
	loc := l.lastID(l.Exec(`INSERT INTO track_locations (location, filename, directory, filesize, fs_deleted, needs_verification)
		VALUES (?, ?, ?, 8123456, 0, 0)`, t.Location, filepath.Base(t.Location), filepath.Dir(t.Location)))
	return l.lastID(l.Exec(`INSERT INTO library (artist, title, album, genre, location, duration, bitrate, samplerate, bpm, channels, filetype, key, key_id)
		VALUES (?, ?, ?, 'West Coast Swing', ?, ?, 320, 44100, ?, 2, 'mp3', ?, 22)`,
		t.Artist, t.Title, t.Album, loc, t.Duration, t.BPM, t.Key))
}

// Append appends a track to a playlist as PlaylistDAO does, at the given
// time; it returns the PlaylistTracks id.
func (l *Library) Append(playlist, track int64, at time.Time) int64 {
	l.TB.Helper()
	return l.lastID(l.Exec(`INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added)
		VALUES (?, ?, (SELECT coalesce(max(position), 0) + 1 FROM PlaylistTracks WHERE playlist_id = ?), ?)`,
		playlist, track, playlist, Time(at)))
}

// AppendNow appends with CURRENT_TIMESTAMP, exactly as Mixxx does when a
// track goes out.
func (l *Library) AppendNow(playlist, track int64) int64 {
	l.TB.Helper()
	return l.lastID(l.Exec(`INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added)
		VALUES (?, ?, (SELECT coalesce(max(position), 0) + 1 FROM PlaylistTracks WHERE playlist_id = ?), CURRENT_TIMESTAMP)`,
		playlist, track, playlist))
}

// WALOnly fails the test unless the -wal file holds changes.
func (l *Library) WALOnly() {
	l.TB.Helper()
	info, err := os.Stat(l.Path + "-wal")
	if err != nil || info.Size() == 0 {
		l.TB.Fatalf("changes should be in the -wal file: %v", err)
	}
}

// Set is an invented evening of West Coast Swing in a WAL-mode library: a
// normal playlist, the Auto DJ queue, yesterday's history and today's
// (Today) with two tracks played before start, and four tracks, one of them
// untagged (Blue).
type Set struct {
	Lib                      *Library
	Normal, AutoDJ, Today    int64 // playlists
	Slow, Smooth, Funk, Blue int64 // tracks
}

// NewSet creates the evening's library in dir, its history as of start.
func NewSet(tb testing.TB, dir string, start time.Time) *Set {
	tb.Helper()
	l := New(tb, dir, true, Schema)
	s := &Set{Lib: l}
	s.Normal = l.Playlist("Friday WCS warm-up", Normal, start.Add(-72*time.Hour))
	s.AutoDJ = l.Playlist("Auto DJ", AutoDJ, start.Add(-72*time.Hour))
	l.Playlist(start.Add(-24*time.Hour).Format(time.DateOnly), History, start.Add(-24*time.Hour))
	s.Today = l.Playlist(start.Format(time.DateOnly), History, start.Add(-time.Hour))
	s.Slow = l.Track(Track{Artist: "Example Band", Title: "Slow Dance", Album: "Late Nights", BPM: 92.5, Key: "Am", Duration: 231.4,
		Location: "/home/dj/Music/WCS/Example Band - Slow Dance.mp3"})
	s.Smooth = l.Track(Track{Artist: "The Inventions", Title: "Smooth Sailing (Club Edit)", Album: "Harbour", BPM: 101, Key: "8A", Duration: 198,
		Location: "/home/dj/Music/WCS/smooth sailing.flac"})
	s.Funk = l.Track(Track{Artist: "Lila Moreau", Title: "Pocket Funk", BPM: 104.02, Key: "F#m", Duration: 245.9,
		Location: "/home/dj/Music/WCS/Lila Moreau/Pocket Funk.m4a"})
	s.Blue = l.Track(Track{Location: "/home/dj/Music/WCS/untagged blues 07.mp3"})
	l.Append(s.Normal, s.Slow, start.Add(-70*time.Hour))
	l.Append(s.Normal, s.Smooth, start.Add(-70*time.Hour))
	l.Append(s.AutoDJ, s.Funk, start.Add(-2*time.Hour))
	l.Append(s.Today, s.Smooth, start.Add(-40*time.Minute))
	l.Append(s.Today, s.Slow, start.Add(-35*time.Minute))
	return s
}
