package mixxx

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// schema is Mixxx's library layout as res/schema.xml builds it up to
// version 39, cut to the tables a history read touches (with their real
// column names and types, unused columns included).
const schema = `
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

// Playlists.hidden values.
const (
	normal  = 0
	autoDJ  = 1
	history = 2
)

// mixxxTime formats t as SQLite's CURRENT_TIMESTAMP does.
func mixxxTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// library is a Mixxx database written the way Mixxx writes it, through one
// connection held open for the whole test.
type library struct {
	tb   testing.TB
	path string
	db   *sql.DB
}

// newLibrary creates mixxxdb.sqlite in dir with the layout ddl, through
// openLibrary.
func newLibrary(tb testing.TB, dir string, wal bool, ddl string) *library {
	tb.Helper()
	l := openLibrary(tb, filepath.Join(dir, dbName), wal)
	l.exec(ddl)
	return l
}

// openLibrary opens the database at path as Mixxx would, one connection
// held until the test ends. wal puts it in WAL mode with automatic
// checkpoints off, so every change lives only in the -wal file while the
// writer is open; without it the database keeps a rollback journal, where a
// writer's lock blocks readers.
func openLibrary(tb testing.TB, path string, wal bool) *library {
	tb.Helper()
	q := "_pragma=journal_mode(DELETE)"
	if wal {
		q = "_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)"
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), OmitHost: true, RawQuery: q}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		tb.Fatal(err)
	}
	return &library{tb: tb, path: path, db: db}
}

func (l *library) exec(q string, args ...any) sql.Result {
	l.tb.Helper()
	res, err := l.db.Exec(q, args...)
	if err != nil {
		l.tb.Fatalf("%s: %v", q, err)
	}
	return res
}

func (l *library) lastID(res sql.Result) int64 {
	l.tb.Helper()
	id, err := res.LastInsertId()
	if err != nil {
		l.tb.Fatal(err)
	}
	return id
}

// playlist creates a playlist as PlaylistDAO::createPlaylist does.
func (l *library) playlist(name string, hidden int, at time.Time) int64 {
	l.tb.Helper()
	return l.lastID(l.exec(`INSERT INTO Playlists (name, position, hidden, date_created, date_modified)
		VALUES (?, (SELECT coalesce(max(position), 0) + 1 FROM Playlists), ?, ?, ?)`,
		name, hidden, mixxxTime(at), mixxxTime(at)))
}

// track adds a file to the library as Mixxx's scanner would.
func (l *library) track(artist, title, album string, bpm float64, key string, duration float64, location string) int64 {
	l.tb.Helper()
	loc := l.lastID(l.exec(`INSERT INTO track_locations (location, filename, directory, filesize, fs_deleted, needs_verification)
		VALUES (?, ?, ?, 8123456, 0, 0)`, location, filepath.Base(location), filepath.Dir(location)))
	return l.lastID(l.exec(`INSERT INTO library (artist, title, album, genre, location, duration, bitrate, samplerate, bpm, channels, filetype, key, key_id)
		VALUES (?, ?, ?, 'West Coast Swing', ?, ?, 320, 44100, ?, 2, 'mp3', ?, 22)`,
		artist, title, album, loc, duration, bpm, key))
}

// appendTrack appends a track to a playlist as PlaylistDAO does, at the
// given time; it returns the PlaylistTracks id.
func (l *library) appendTrack(playlist, track int64, at time.Time) int64 {
	l.tb.Helper()
	return l.lastID(l.exec(`INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added)
		VALUES (?, ?, (SELECT coalesce(max(position), 0) + 1 FROM PlaylistTracks WHERE playlist_id = ?), ?)`,
		playlist, track, playlist, mixxxTime(at)))
}

// appendNow appends with CURRENT_TIMESTAMP, exactly as Mixxx does.
func (l *library) appendNow(playlist, track int64) int64 {
	l.tb.Helper()
	return l.lastID(l.exec(`INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added)
		VALUES (?, ?, (SELECT coalesce(max(position), 0) + 1 FROM PlaylistTracks WHERE playlist_id = ?), CURRENT_TIMESTAMP)`,
		playlist, track, playlist))
}

// walOnly fails unless the -wal file holds changes.
func (l *library) walOnly() {
	l.tb.Helper()
	info, err := os.Stat(l.path + "-wal")
	if err != nil || info.Size() == 0 {
		l.tb.Fatalf("changes should be in the -wal file: %v", err)
	}
}

// set is an invented evening of West Coast Swing.
type set struct {
	lib                      *library
	normal, autoDJ, today    int64
	slow, smooth, funk, blue int64
}

func newSet(tb testing.TB, dir string, start time.Time) *set {
	tb.Helper()
	l := newLibrary(tb, dir, true, schema)
	s := &set{lib: l}
	s.normal = l.playlist("Friday WCS warm-up", normal, start.Add(-72*time.Hour))
	s.autoDJ = l.playlist("Auto DJ", autoDJ, start.Add(-72*time.Hour))
	l.playlist("2026-11-24", history, start.Add(-24*time.Hour))
	s.today = l.playlist("2026-11-25", history, start.Add(-time.Hour))
	s.slow = l.track("Example Band", "Slow Dance", "Late Nights", 92.5, "Am", 231.4, "/home/dj/Music/WCS/Example Band - Slow Dance.mp3")
	s.smooth = l.track("The Inventions", "Smooth Sailing (Club Edit)", "Harbour", 101, "8A", 198, "/home/dj/Music/WCS/smooth sailing.flac")
	s.funk = l.track("Lila Moreau", "Pocket Funk", "", 104.02, "F#m", 245.9, "/home/dj/Music/WCS/Lila Moreau/Pocket Funk.m4a")
	s.blue = l.track("", "", "", 0, "", 0, "/home/dj/Music/WCS/untagged blues 07.mp3")
	l.appendTrack(s.normal, s.slow, start.Add(-70*time.Hour))
	l.appendTrack(s.normal, s.smooth, start.Add(-70*time.Hour))
	l.appendTrack(s.autoDJ, s.funk, start.Add(-2*time.Hour))
	l.appendTrack(s.today, s.smooth, start.Add(-40*time.Minute))
	l.appendTrack(s.today, s.slow, start.Add(-35*time.Minute))
	return s
}

// clock is a settable clock for the source and its reader.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// running is a source running in the background, its plays in a channel.
type running struct {
	src   *detect.Polled
	plays chan detect.Entry
}

func run(tb testing.TB, path string, now func() time.Time) *running {
	tb.Helper()
	src, err := open(path, detect.Options{}, now)
	if err != nil {
		tb.Fatal(err)
	}
	r := &running{src: src, plays: make(chan detect.Entry, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(ctx context.Context, e detect.Entry) error {
			select {
			case r.plays <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return r
}

// read waits until the source has read the database once without error.
func (r *running) read(tb testing.TB) {
	tb.Helper()
	waitFor(tb, "a first good read", func() bool { return !r.src.Status().LastReadAt.IsZero() })
}

// next waits for the next play.
func (r *running) next(tb testing.TB) detect.Entry {
	tb.Helper()
	select {
	case e := <-r.plays:
		return e
	case <-time.After(10 * time.Second):
		tb.Fatalf("no play within 10 s; status %+v", r.src.Status())
	}
	return detect.Entry{}
}

// waitFor polls cond for up to 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s never happened", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
