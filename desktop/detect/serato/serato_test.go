package serato

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/desktop/detect/serato/seratotest"
	"github.com/pika-dj/pika/internal/testenv"
)

// t0 is when the invented sets start: a Thursday night social.
var t0 = time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)

// stepper reads a fixture the way the polled source does, through the
// one Decider, with a clock that moves a second per read.
type stepper struct {
	read func(context.Context) ([]detect.Deck, error)
	dec  *detect.Decider
	now  time.Time
}

// newStepper steps through Serato DJ 4's master.sqlite at path.
func newStepper(path string) *stepper {
	return &stepper{read: (&db4{path: path}).read, dec: detect.NewDecider(detect.Policy{}), now: t0}
}

func (s *stepper) step(t *testing.T, want ...string) []detect.Entry {
	t.Helper()
	decks, err := s.read(context.Background())
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
			m := seratotest.New(t, t.TempDir(), seratotest.Schema4)
			s := newStepper(m.Path)
			s.step(t) // no session yet

			s1 := m.OpenSession(t0, open)
			a := m.Load(s1, seratotest.Load{Deck: "1", Artist: "Invented Band", Title: "Slow Burn", At: t0.Add(time.Minute)})
			if info, err := os.Stat(m.Path + "-wal"); err != nil || info.Size() == 0 {
				t.Fatalf("the rows should live in the -wal file only: %v", err)
			}
			s.step(t) // loaded, not played: nothing
			s.step(t)
			m.SetPlayed(a)
			got := s.step(t, "Slow Burn")
			e := got[0]
			if e.Artist != "Invented Band" || e.Album != "Invented Album" || e.BPM != 96.5 || e.Key != "8A" || e.Duration != 215 ||
				e.Path != "/Users/dj/Music/WCS/Invented Band - Slow Burn.mp3" || e.Deck != "1" || e.Source != "serato" ||
				!e.PlayedAt.Equal(t0.Add(time.Minute)) || !strings.HasPrefix(e.ID, "serato:") || len(e.ID) != len("serato:")+20 {
				t.Fatalf("entry %+v", e)
			}
			s.step(t) // announced once

			b := m.Load(s1, seratotest.Load{Deck: "2", Artist: "Other Band", Title: "Push Break", At: t0.Add(4 * time.Minute)})
			s.step(t)
			m.SetPlayed(b)
			s.step(t, "Push Break")
			m.Eject(a, t0.Add(5*time.Minute))
			s.step(t)

			// A new load on deck 1 replaces the ejected one.
			c := m.Load(s1, seratotest.Load{Deck: "1", Artist: "Invented Band", Title: "Anchor Step", At: t0.Add(7 * time.Minute)})
			s.step(t)
			m.SetPlayed(c)
			s.step(t, "Anchor Step")

			// Serato quits: the session closes. Next time it opens a new one.
			m.CloseSession(s1, t0.Add(time.Hour))
			if decks, err := s.read(context.Background()); err != nil || len(decks) != 0 {
				t.Fatalf("closed session: decks %+v, %v", decks, err)
			}
			s.step(t)
			s2 := m.OpenSession(t0.Add(2*time.Hour), open)
			s.step(t)
			d := m.Load(s2, seratotest.Load{Deck: "1", Artist: "Invented Band", Title: "Slow Burn", At: t0.Add(2*time.Hour + time.Minute), Played: true})
			got = s.step(t, "Slow Burn") // the same song again is a new play
			if got[0].ID == e.ID {
				t.Fatalf("a second play of the same song kept the first play's id %s", e.ID)
			}
			_ = d
		})
	}
}

func TestSerato4IDsStableAcrossRestarts(t *testing.T) {
	m := seratotest.New(t, t.TempDir(), seratotest.Schema4)
	s1 := m.OpenSession(t0, -1)
	m.Load(s1, seratotest.Load{Deck: "1", Artist: "A", Title: "One", At: t0.Add(time.Minute), Played: true})
	m.Load(s1, seratotest.Load{Deck: "2", Artist: "B", Title: "Two", At: t0.Add(2 * time.Minute), Played: true})
	first := newStepper(m.Path).step(t, "One", "Two")
	// Pika! restarts: a new reader and a new Decider announce the same
	// plays with the same ids and times, so the app drops the repeat.
	again := newStepper(m.Path).step(t, "One", "Two")
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
	m := seratotest.New(t, t.TempDir(), seratotest.Schema4)
	s := newStepper(m.Path)
	s1 := m.OpenSession(t0, 0)
	a := m.Load(s1, seratotest.Load{Deck: "1", Artist: "A", Title: "Loaded Only", At: t0.Add(time.Minute)})
	s.step(t)
	m.Eject(a, t0.Add(2*time.Minute)) // taken off the deck unplayed
	s.step(t)
	m.Load(s1, seratotest.Load{Deck: "1", Artist: "A", Title: "Played Instead", At: t0.Add(3 * time.Minute), Played: true})
	s.step(t, "Played Instead")
}

func TestSerato4HeadphonePreviewIsNotAPlay(t *testing.T) {
	m := seratotest.New(t, t.TempDir(), seratotest.Schema4)
	s := newStepper(m.Path)
	s1 := m.OpenSession(t0, -1)
	m.Load(s1, seratotest.Load{Deck: "1", Artist: "A", Title: "On Air", At: t0.Add(time.Minute), Played: true})
	s.step(t, "On Air")
	// Deck 2 plays in the DJ's headphones for minutes: Serato leaves its
	// played flag at 0.
	m.Load(s1, seratotest.Load{Deck: "2", Artist: "B", Title: "Cueing", At: t0.Add(2 * time.Minute)})
	for range 10 {
		s.now = s.now.Add(time.Minute)
		s.step(t)
	}
}

func TestSerato4TwoDecksPlayedAtOnce(t *testing.T) {
	m := seratotest.New(t, t.TempDir(), seratotest.Schema4)
	s := newStepper(m.Path)
	s1 := m.OpenSession(t0, -1)
	// Both marked played between two reads: announced in load order,
	// whichever deck number.
	m.Load(s1, seratotest.Load{Deck: "2", Artist: "A", Title: "First", At: t0.Add(time.Minute), Played: true})
	m.Load(s1, seratotest.Load{Deck: "1", Artist: "B", Title: "Second", At: t0.Add(2 * time.Minute), Played: true})
	got := s.step(t, "First", "Second")
	if got[0].Deck != "2" || got[1].Deck != "1" {
		t.Fatalf("decks %q %q", got[0].Deck, got[1].Deck)
	}
}

func TestSerato4IgnoredDeck(t *testing.T) {
	m := seratotest.New(t, t.TempDir(), seratotest.Schema4)
	s := newStepper(m.Path)
	s.dec = detect.NewDecider(detect.Policy{IgnoreDecks: []string{"3"}})
	s1 := m.OpenSession(t0, -1)
	m.Load(s1, seratotest.Load{Deck: "3", Artist: "Sampler", Title: "Air Horn", At: t0.Add(time.Minute), Played: true})
	m.Load(s1, seratotest.Load{Deck: "1", Artist: "A", Title: "Real Track", At: t0.Add(2 * time.Minute), Played: true})
	s.step(t, "Real Track")
}

func TestSerato4StreamingAndExternalDrive(t *testing.T) {
	m := seratotest.New(t, t.TempDir(), seratotest.Schema4)
	s := newStepper(m.Path)
	s1 := m.OpenSession(t0, -1)
	m.Load(s1, seratotest.Load{Deck: "1", Artist: "Streamed Artist", Title: "Cloud Song", At: t0.Add(time.Minute), Played: true,
		Portable: "streaming://tidal/track/123456789", Location: 0})
	m.Load(s1, seratotest.Load{Deck: "2", Artist: "USB Artist", Title: "Stick Song", At: t0.Add(2 * time.Minute), Played: true,
		Portable: "Music/WCS/Stick Song.flac", Location: 2})
	got := s.step(t, "Cloud Song", "Stick Song")
	if got[0].Artist != "Streamed Artist" || got[0].Path != "streaming://tidal/track/123456789" {
		t.Fatalf("streaming entry %+v", got[0])
	}
	if got[1].Path != "/Volumes/DJ USB/Music/WCS/Stick Song.flac" {
		t.Fatalf("external drive path %q", got[1].Path)
	}
}

func TestSerato4UntaggedFileUsesItsName(t *testing.T) {
	m := seratotest.New(t, t.TempDir(), seratotest.Schema4)
	s1 := m.OpenSession(t0, -1)
	m.Exec(`INSERT INTO history_entry (session_id, file_name, portable_id, location_id, start_time, end_time, played, deck, length_ms)
		VALUES (?, 'untagged_mix_v2.wav', 'Users/dj/Music/untagged_mix_v2.wav', 1, ?, -1, 1, '1', 183500)`, s1, t0.Add(time.Minute).Unix())
	got := newStepper(m.Path).step(t, "untagged_mix_v2")
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
	m := seratotest.Create(t, path, seratotest.Schema4, false)
	s1 := m.OpenSession(t0, -1)
	m.Load(s1, seratotest.Load{Deck: "1", Artist: "A", Title: "Behind A Lock", At: t0.Add(time.Minute), Played: true})

	ctx := context.Background()
	conn, err := m.DB.Conn(ctx)
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
	ddl := strings.Replace(seratotest.Schema4, "played INTEGER DEFAULT 0,", "was_played INTEGER DEFAULT 0,", 1)
	dir := t.TempDir()
	m := seratotest.New(t, dir, ddl)
	s1 := m.OpenSession(t0, -1)
	m.Exec("INSERT INTO history_entry (session_id, deck, artist, name, start_time, was_played, app_version) VALUES (?, '1', 'A', 'B', ?, 1, '4.9.0')", s1, t0.Unix())

	_, err := (&db4{path: m.Path}).read(context.Background())
	var se *detect.SchemaError
	if !errors.As(err, &se) || !errors.Is(err, detect.ErrUnsupported) || !slices.Equal(se.Missing, []string{"played"}) || se.Version != "4.9.0" {
		t.Fatalf("err = %v, want a schema error naming played and version 4.9.0", err)
	}

	src, err := Product().Open(detect.Found{Product: ID4, Path: m.Path}, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := detecttest.RunSource(t, src)
	testenv.Eventually(t, 10*time.Second, "the schema error in Status", func() bool {
		return strings.Contains(src.Status().Err, "unsupported Serato DJ 4 database (version 4.9.0): table history_entry lacks played")
	})
	if len(r.Entries()) != 0 {
		t.Fatal("played something from an unsupported database")
	}

	// A database without the history tables at all.
	m2 := seratotest.New(t, filepath.Join(dir, "other"), "CREATE TABLE something_else (id INTEGER)")
	_, err = (&db4{path: m2.Path}).read(context.Background())
	if !errors.As(err, &se) || se.Table != "history_session" || se.Missing != nil {
		t.Fatalf("no history tables: %v", err)
	}
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
	r := detecttest.RunSource(t, src)
	// Started before Serato ever ran: the DJ is told to open it.
	testenv.Eventually(t, 10*time.Second, "a missing-database status", func() bool {
		return strings.Contains(src.Status().Err, "open Serato DJ 4")
	})

	m := seratotest.New(t, lib, seratotest.Schema4)
	s1 := m.OpenSession(time.Now(), -1)
	r.Reads(t, 2)
	if st := src.Status(); st.Err != "" || st.Path != dbPath {
		t.Fatalf("status %+v", st)
	}
	a := m.Load(s1, seratotest.Load{Deck: "1", Artist: "A", Title: "Live One", At: time.Now()})
	r.Reads(t, 3)
	if got := r.Titles(); len(got) != 0 {
		t.Fatalf("a loaded track was announced: %q", got)
	}
	m.SetPlayed(a)
	testenv.Eventually(t, 10*time.Second, "Live One announced", func() bool { return slices.Equal(r.Titles(), []string{"Live One"}) })
	r.Reads(t, 3)
	if got := r.Titles(); !slices.Equal(got, []string{"Live One"}) {
		t.Fatalf("announced %q, want it once", got)
	}
	if st := src.Status(); st.LastEntry == nil || st.LastEntry.Title != "Live One" {
		t.Fatalf("status %+v", st)
	}
}

func TestSerato4ReadsAfterSeratoQuits(t *testing.T) {
	m := seratotest.New(t, t.TempDir(), seratotest.Schema4)
	s1 := m.OpenSession(t0, -1)
	m.Load(s1, seratotest.Load{Deck: "1", Artist: "A", Title: "Still Open", At: t0.Add(time.Minute), Played: true})
	// Serato closes its database: the WAL is checkpointed and removed.
	if err := m.DB.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Path + "-wal"); !os.IsNotExist(err) {
		t.Fatalf("the -wal file should be gone: %v", err)
	}
	newStepper(m.Path).step(t, "Still Open")
	if _, err := os.Stat(m.Path + "-wal"); err == nil {
		// A reader may create an empty one; it must not hold rows.
		if info, _ := os.Stat(m.Path + "-wal"); info.Size() != 0 {
			t.Fatalf("reading wrote %d bytes to the WAL", info.Size())
		}
	}
}
