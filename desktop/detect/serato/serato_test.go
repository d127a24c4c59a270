package serato

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/internal/testenv"
)

// t0 is when the invented sets start: a Thursday night social.
var t0 = time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)

// The layout of Serato DJ 4's master.sqlite, trimmed to the tables and
// columns that matter here (types as Serato declares them).
const schema4 = `
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

// master is a master.sqlite kept open by its writer, as Serato keeps it:
// WAL mode, automatic checkpoints off, so every change lives only in the
// -wal file.
type master struct {
	path string
	w    *sql.DB
}

func newMaster(t testing.TB, dir string, ddl string) *master {
	t.Helper()
	lib := filepath.Join(dir, "Library")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(lib, "master.sqlite")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), OmitHost: true,
		RawQuery: "_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)"}
	w, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	t.Cleanup(func() { w.Close() })
	if _, err := w.Exec(ddl); err != nil {
		t.Fatal(err)
	}
	return &master{path: path, w: w}
}

func (m *master) exec(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	res, err := m.w.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	id, _ := res.LastInsertId()
	return id
}

// openSession starts a session whose end_time is the given "open" sentinel
// (nil, 0 or -1).
func (m *master) openSession(t testing.TB, at time.Time, open any) int64 {
	return m.exec(t, "INSERT INTO history_session (start_time, end_time, name, device) VALUES (?, ?, ?, 'MacBook Pro')",
		at.Unix(), open, at.Format("2006-01-02"))
}

func (m *master) closeSession(t testing.TB, id int64, at time.Time) {
	m.exec(t, "UPDATE history_session SET end_time = ? WHERE id = ?", at.Unix(), id)
}

type load struct {
	deck, artist, title string
	at                  time.Time
	played              int
	portable            string
	location            int
}

// load inserts a row as Serato does when a track is loaded on a deck:
// end_time 0 until it is ejected, played 0 until Serato counts it.
func (m *master) load(t testing.TB, session int64, l load) int64 {
	if l.portable == "" {
		l.portable = "Users/dj/Music/WCS/" + l.artist + " - " + l.title + ".mp3"
		l.location = 1
	}
	return m.exec(t, `INSERT INTO history_entry (session_id, file_name, portable_id, location_id, start_time, end_time, played,
		deck, artist, name, album, genre, year, key, key_value, bpm, length_sec, length_ms, app_name, app_version)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 'Invented Album', 'R&B', '2024', '8A', 21, 96.5, 215, 215400, 'Serato DJ Pro', '4.0.6')`,
		session, filepath.Base(l.portable), l.portable, l.location, l.at.Unix(), l.played, l.deck, l.artist, l.title)
}

func (m *master) setPlayed(t testing.TB, id int64) {
	m.exec(t, "UPDATE history_entry SET played = 1 WHERE id = ?", id)
}

func (m *master) eject(t testing.TB, id int64, at time.Time) {
	m.exec(t, "UPDATE history_entry SET end_time = ? WHERE id = ?", at.Unix(), id)
}

// stepper reads the fixture the way the polled source does, through the
// one Decider, with a clock that moves a second per read.
type stepper struct {
	r   *db4
	dec *detect.Decider
	now time.Time
}

func newStepper(path string) *stepper {
	return &stepper{r: &db4{path: path}, dec: detect.NewDecider(detect.Policy{}), now: t0}
}

func (s *stepper) step(t *testing.T, want ...string) []detect.Entry {
	t.Helper()
	decks, err := s.r.read(context.Background())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	s.now = s.now.Add(time.Second)
	got := s.dec.Observe(s.now, decks)
	if titles := titlesOf(got); !slices.Equal(titles, want) {
		t.Fatalf("announced %q, want %q (decks %+v)", titles, want, decks)
	}
	return got
}

func titlesOf(es []detect.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Title)
	}
	return out
}

func TestSerato4Script(t *testing.T) {
	for _, open := range []any{0, -1, nil} {
		t.Run(fmt.Sprintf("open session end_time %v", open), func(t *testing.T) {
			m := newMaster(t, t.TempDir(), schema4)
			s := newStepper(m.path)
			s.step(t) // no session yet

			s1 := m.openSession(t, t0, open)
			a := m.load(t, s1, load{deck: "1", artist: "Invented Band", title: "Slow Burn", at: t0.Add(time.Minute)})
			if info, err := os.Stat(m.path + "-wal"); err != nil || info.Size() == 0 {
				t.Fatalf("the rows should live in the -wal file only: %v", err)
			}
			s.step(t) // loaded, not played: nothing
			s.step(t)
			m.setPlayed(t, a)
			got := s.step(t, "Slow Burn")
			e := got[0]
			if e.Artist != "Invented Band" || e.Album != "Invented Album" || e.BPM != 96.5 || e.Key != "8A" || e.Duration != 215 ||
				e.Path != "/Users/dj/Music/WCS/Invented Band - Slow Burn.mp3" || e.Deck != "1" || e.Source != "serato" ||
				!e.PlayedAt.Equal(t0.Add(time.Minute)) || !strings.HasPrefix(e.ID, "serato:") || len(e.ID) != len("serato:")+20 {
				t.Fatalf("entry %+v", e)
			}
			s.step(t) // announced once

			b := m.load(t, s1, load{deck: "2", artist: "Other Band", title: "Push Break", at: t0.Add(4 * time.Minute)})
			s.step(t)
			m.setPlayed(t, b)
			s.step(t, "Push Break")
			m.eject(t, a, t0.Add(5*time.Minute))
			s.step(t)

			// A new load on deck 1 replaces the ejected one.
			c := m.load(t, s1, load{deck: "1", artist: "Invented Band", title: "Anchor Step", at: t0.Add(7 * time.Minute)})
			s.step(t)
			m.setPlayed(t, c)
			s.step(t, "Anchor Step")

			// Serato quits: the session closes. Next time it opens a new one.
			m.closeSession(t, s1, t0.Add(time.Hour))
			if decks, err := s.r.read(context.Background()); err != nil || len(decks) != 0 {
				t.Fatalf("closed session: decks %+v, %v", decks, err)
			}
			s.step(t)
			s2 := m.openSession(t, t0.Add(2*time.Hour), open)
			s.step(t)
			d := m.load(t, s2, load{deck: "1", artist: "Invented Band", title: "Slow Burn", at: t0.Add(2*time.Hour + time.Minute), played: 1})
			got = s.step(t, "Slow Burn") // the same song again is a new play
			if got[0].ID == e.ID {
				t.Fatalf("a second play of the same song kept the first play's id %s", e.ID)
			}
			_ = d
		})
	}
}

func TestSerato4IDsStableAcrossRestarts(t *testing.T) {
	m := newMaster(t, t.TempDir(), schema4)
	s1 := m.openSession(t, t0, -1)
	m.load(t, s1, load{deck: "1", artist: "A", title: "One", at: t0.Add(time.Minute), played: 1})
	m.load(t, s1, load{deck: "2", artist: "B", title: "Two", at: t0.Add(2 * time.Minute), played: 1})
	first := newStepper(m.path).step(t, "One", "Two")
	// Pika! restarts: a new reader and a new Decider announce the same
	// plays with the same ids and times, so the app drops the repeat.
	again := newStepper(m.path).step(t, "One", "Two")
	for i := range first {
		if first[i].ID != again[i].ID || !first[i].PlayedAt.Equal(again[i].PlayedAt) {
			t.Fatalf("restart changed %q: %s@%v → %s@%v", first[i].Title, first[i].ID, first[i].PlayedAt, again[i].ID, again[i].PlayedAt)
		}
	}
	if first[0].ID == first[1].ID {
		t.Fatal("two loads share an id")
	}
}

func TestSerato4LoadedNeverPlayed(t *testing.T) {
	m := newMaster(t, t.TempDir(), schema4)
	s := newStepper(m.path)
	s1 := m.openSession(t, t0, 0)
	a := m.load(t, s1, load{deck: "1", artist: "A", title: "Loaded Only", at: t0.Add(time.Minute)})
	s.step(t)
	m.eject(t, a, t0.Add(2*time.Minute)) // taken off the deck unplayed
	s.step(t)
	m.load(t, s1, load{deck: "1", artist: "A", title: "Played Instead", at: t0.Add(3 * time.Minute), played: 1})
	s.step(t, "Played Instead")
}

func TestSerato4HeadphonePreviewIsNotAPlay(t *testing.T) {
	m := newMaster(t, t.TempDir(), schema4)
	s := newStepper(m.path)
	s1 := m.openSession(t, t0, -1)
	m.load(t, s1, load{deck: "1", artist: "A", title: "On Air", at: t0.Add(time.Minute), played: 1})
	s.step(t, "On Air")
	// Deck 2 plays in the DJ's headphones for minutes: Serato leaves its
	// played flag at 0.
	m.load(t, s1, load{deck: "2", artist: "B", title: "Cueing", at: t0.Add(2 * time.Minute)})
	for range 10 {
		s.now = s.now.Add(time.Minute)
		s.step(t)
	}
}

func TestSerato4TwoDecksPlayedAtOnce(t *testing.T) {
	m := newMaster(t, t.TempDir(), schema4)
	s := newStepper(m.path)
	s1 := m.openSession(t, t0, -1)
	// Both marked played between two reads: announced in load order,
	// whichever deck number.
	m.load(t, s1, load{deck: "2", artist: "A", title: "First", at: t0.Add(time.Minute), played: 1})
	m.load(t, s1, load{deck: "1", artist: "B", title: "Second", at: t0.Add(2 * time.Minute), played: 1})
	got := s.step(t, "First", "Second")
	if got[0].Deck != "2" || got[1].Deck != "1" {
		t.Fatalf("decks %q %q", got[0].Deck, got[1].Deck)
	}
}

func TestSerato4IgnoredDeck(t *testing.T) {
	m := newMaster(t, t.TempDir(), schema4)
	s := newStepper(m.path)
	s.dec = detect.NewDecider(detect.Policy{IgnoreDecks: []string{"3"}})
	s1 := m.openSession(t, t0, -1)
	m.load(t, s1, load{deck: "3", artist: "Sampler", title: "Air Horn", at: t0.Add(time.Minute), played: 1})
	m.load(t, s1, load{deck: "1", artist: "A", title: "Real Track", at: t0.Add(2 * time.Minute), played: 1})
	s.step(t, "Real Track")
}

func TestSerato4StreamingAndExternalDrive(t *testing.T) {
	m := newMaster(t, t.TempDir(), schema4)
	s := newStepper(m.path)
	s1 := m.openSession(t, t0, -1)
	m.load(t, s1, load{deck: "1", artist: "Streamed Artist", title: "Cloud Song", at: t0.Add(time.Minute), played: 1,
		portable: "streaming://tidal/track/123456789", location: 0})
	m.load(t, s1, load{deck: "2", artist: "USB Artist", title: "Stick Song", at: t0.Add(2 * time.Minute), played: 1,
		portable: "Music/WCS/Stick Song.flac", location: 2})
	got := s.step(t, "Cloud Song", "Stick Song")
	if got[0].Artist != "Streamed Artist" || got[0].Path != "streaming://tidal/track/123456789" {
		t.Fatalf("streaming entry %+v", got[0])
	}
	if got[1].Path != "/Volumes/DJ USB/Music/WCS/Stick Song.flac" {
		t.Fatalf("external drive path %q", got[1].Path)
	}
}

func TestSerato4UntaggedFileUsesItsName(t *testing.T) {
	m := newMaster(t, t.TempDir(), schema4)
	s1 := m.openSession(t, t0, -1)
	m.exec(t, `INSERT INTO history_entry (session_id, file_name, portable_id, location_id, start_time, end_time, played, deck, length_ms)
		VALUES (?, 'untagged_mix_v2.wav', 'Users/dj/Music/untagged_mix_v2.wav', 1, ?, -1, 1, '1', 183500)`, s1, t0.Add(time.Minute).Unix())
	got := newStepper(m.path).step(t, "untagged_mix_v2")
	if got[0].Duration != 183.5 || got[0].Path != "/Users/dj/Music/untagged_mix_v2.wav" {
		t.Fatalf("entry %+v", got[0])
	}
}

func TestPathResolution(t *testing.T) {
	for _, tc := range []struct{ uri, portable, want string }{
		{"/Users/dj/Library/Application Support/Serato/Library/root.sqlite", "Users/dj/Music/a.mp3", "/Users/dj/Music/a.mp3"},
		{"/Volumes/DJ USB/_Serato_/Library/location.sqlite", "Music/a.mp3", "/Volumes/DJ USB/Music/a.mp3"},
		{"file:///Volumes/DJ%20USB/_Serato_/Library/location.sqlite", "Music/a.mp3", "/Volumes/DJ USB/Music/a.mp3"},
		{`E:\_Serato_\Library\location.sqlite`, "Music/WCS/a.mp3", `E:\Music\WCS\a.mp3`},
		{"file:///E:/_Serato_/Library/location.sqlite", `Music\a.mp3`, `E:\Music\a.mp3`},
		{`C:\Users\dj\AppData\Roaming\Serato\Library\root.sqlite`, "Users/dj/Music/a.mp3", `C:\Users\dj\Music\a.mp3`},
		{`\\nas\music\_Serato_\Library\location.sqlite`, "Sets/a.mp3", `\\nas\music\Sets\a.mp3`},
		{"/_Serato_/Library/location.sqlite", "a.mp3", "/a.mp3"},
		{"/some/other.sqlite", "Music/a.mp3", "Music/a.mp3"}, // unknown: as Serato stores it
		{"/Volumes/X/_Serato_/Library/location.sqlite", "streaming://beatport/1", "streaming://beatport/1"},
	} {
		root, _ := rootOf(tc.uri)
		if got := trackPath(tc.portable, root); got != tc.want {
			t.Errorf("%s + %s = %q, want %q", tc.uri, tc.portable, got, tc.want)
		}
	}
}

func TestSerato4LockedByWriter(t *testing.T) {
	t.Parallel()
	// A database in rollback-journal mode, where a writer's exclusive lock
	// blocks readers: the worst case of Serato writing.
	path := filepath.Join(t.TempDir(), "master.sqlite")
	w, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(schema4); err != nil {
		t.Fatal(err)
	}
	m := &master{path: path, w: w}
	s1 := m.openSession(t, t0, -1)
	m.load(t, s1, load{deck: "1", artist: "A", title: "Behind A Lock", at: t0.Add(time.Minute), played: 1})

	ctx := context.Background()
	conn, err := w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := &db4{path: path}

	// Released while Pika! retries: the read succeeds.
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // a commit that takes a while
		_, err := conn.ExecContext(ctx, "COMMIT")
		released <- err
	}()
	decks, err := r.read(ctx)
	if err != nil || len(decks) != 1 || decks[0].Entry.Title != "Behind A Lock" {
		t.Fatalf("a lock released within the retries: %+v, %v", decks, err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}

	// Held throughout: a clear error for the DJ, and no crash.
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	_, err = r.read(ctx)
	var be *busyError
	if !errors.As(err, &be) || !detect.IsBusy(err) || !strings.Contains(err.Error(), "Serato's database is locked by Serato") {
		t.Fatalf("a lock held throughout: %v", err)
	}
}

func TestSerato4UnsupportedSchema(t *testing.T) {
	// A future Serato renamed played: the DJ is told which version and
	// what is missing, and the source keeps running.
	ddl := strings.Replace(schema4, "played INTEGER DEFAULT 0,", "was_played INTEGER DEFAULT 0,", 1)
	dir := t.TempDir()
	m := newMaster(t, dir, ddl)
	s1 := m.openSession(t, t0, -1)
	m.exec(t, "INSERT INTO history_entry (session_id, deck, artist, name, start_time, was_played, app_version) VALUES (?, '1', 'A', 'B', ?, 1, '4.9.0')", s1, t0.Unix())

	_, err := (&db4{path: m.path}).read(context.Background())
	var se *detect.SchemaError
	if !errors.As(err, &se) || !errors.Is(err, detect.ErrUnsupported) || !slices.Equal(se.Missing, []string{"played"}) || se.Version != "4.9.0" {
		t.Fatalf("err = %v, want a schema error naming played and version 4.9.0", err)
	}

	src, err := Product().Open(detect.Found{Product: ID4, Path: m.path}, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, src)
	testenv.Eventually(t, 10*time.Second, "the schema error in Status", func() bool {
		return strings.Contains(src.Status().Err, "unsupported Serato DJ 4 database (version 4.9.0): table history_entry lacks played")
	})
	if len(r.got()) != 0 {
		t.Fatal("played something from an unsupported database")
	}

	// A database without the history tables at all.
	m2 := newMaster(t, filepath.Join(dir, "other"), "CREATE TABLE something_else (id INTEGER)")
	_, err = (&db4{path: m2.path}).read(context.Background())
	if !errors.As(err, &se) || se.Table != "history_session" || se.Missing != nil {
		t.Fatalf("no history tables: %v", err)
	}
}

// running is a source running in the background, collecting what it emits.
type running struct {
	mu      sync.Mutex
	entries []detect.Entry
}

func (r *running) got() []detect.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.entries)
}

func (r *running) titles() []string { return titlesOf(r.got()) }

func run(t testing.TB, src detect.Source) *running {
	t.Helper()
	r := &running{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(_ context.Context, e detect.Entry) error {
			r.mu.Lock()
			r.entries = append(r.entries, e)
			r.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

// reads waits for n more reads without error.
func reads(t testing.TB, src detect.Source, n int) {
	t.Helper()
	seen := map[time.Time]bool{src.Status().LastReadAt: true}
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("%d reads without error; status %+v", n, src.Status()), func() bool {
		seen[src.Status().LastReadAt] = true
		return len(seen) > n
	})
}

func TestSerato4Source(t *testing.T) {
	home := t.TempDir()
	lib := filepath.Join(home, "Library", "Application Support", "Serato")
	dbPath := filepath.Join(lib, "Library", "master.sqlite")
	src, err := Product().Open(detect.Found{Product: ID4, Path: dbPath}, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "serato" {
		t.Fatalf("name %q", src.Name())
	}
	r := run(t, src)
	// Started before Serato ever ran: the DJ is told to open it.
	testenv.Eventually(t, 10*time.Second, "a missing-database status", func() bool {
		return strings.Contains(src.Status().Err, "open Serato DJ 4")
	})

	m := newMaster(t, lib, schema4)
	s1 := m.openSession(t, time.Now(), -1)
	reads(t, src, 2)
	if st := src.Status(); st.Err != "" || st.Path != dbPath {
		t.Fatalf("status %+v", st)
	}
	a := m.load(t, s1, load{deck: "1", artist: "A", title: "Live One", at: time.Now()})
	reads(t, src, 3)
	if got := r.titles(); len(got) != 0 {
		t.Fatalf("a loaded track was announced: %q", got)
	}
	m.setPlayed(t, a)
	testenv.Eventually(t, 10*time.Second, "Live One announced", func() bool { return slices.Equal(r.titles(), []string{"Live One"}) })
	reads(t, src, 3)
	if got := r.titles(); !slices.Equal(got, []string{"Live One"}) {
		t.Fatalf("announced %q, want it once", got)
	}
	if st := src.Status(); st.LastEntry == nil || st.LastEntry.Title != "Live One" {
		t.Fatalf("status %+v", st)
	}
}

func TestSerato4ReadsAfterSeratoQuits(t *testing.T) {
	m := newMaster(t, t.TempDir(), schema4)
	s1 := m.openSession(t, t0, -1)
	m.load(t, s1, load{deck: "1", artist: "A", title: "Still Open", at: t0.Add(time.Minute), played: 1})
	// Serato closes its database: the WAL is checkpointed and removed.
	if err := m.w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.path + "-wal"); !os.IsNotExist(err) {
		t.Fatalf("the -wal file should be gone: %v", err)
	}
	newStepper(m.path).step(t, "Still Open")
	if _, err := os.Stat(m.path + "-wal"); err == nil {
		// A reader may create an empty one; it must not hold rows.
		if info, _ := os.Stat(m.path + "-wal"); info.Size() != 0 {
			t.Fatalf("reading wrote %d bytes to the WAL", info.Size())
		}
	}
}
