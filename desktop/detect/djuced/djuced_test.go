package djuced

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// tracksTable is the part of DJUCED.db's tracks table Pika! reads, with a
// few of the columns around it.
const tracksTable = `CREATE TABLE tracks (id INTEGER PRIMARY KEY, type INTEGER, artist TEXT, title TEXT,
	album TEXT, genre TEXT, bpm REAL, key TEXT, length REAL, absolutepath TEXT, coverimage TEXT,
	playcount INTEGER DEFAULT 0, last_played TEXT)`

// newLibrary makes DJUCED.db in dir as DJUCED holds it: WAL, a writer open,
// no automatic checkpoints, so the rows live in the -wal file.
func newLibrary(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db := detecttest.OpenSQLiteWriter(t, filepath.Join(dir, dbName), true)
	detecttest.MustExec(t, db, tracksTable)
	detecttest.MustExec(t, db, `INSERT INTO tracks (type, artist, title, album, genre, bpm, key, length, absolutepath) VALUES
		(0, 'The Invented Trio', 'Slow Burn Shuffle', 'Late Night Sessions', 'Blues', 96.0, 'Cm', 214.5, '/Users/dj/Music/WCS/Slow Burn Shuffle.mp3'),
		(0, 'Zoë & The Swingouts', 'Café Groove', 'Sunday Social', 'Soul', 102.5, '8A', 187.25, 'D:\Music\WCS\Cafe Groove.flac'),
		(0, 'Night Owl Collective', 'Borrowed Sunday', '', 'Pop', 88.0, '7', 240000, '/Users/dj/Music/WCS/Borrowed Sunday.m4a')`)
	return db
}

func writePlaying(t testing.TB, dir, content string) {
	t.Helper()
	// Not atomic, like DJUCED (unverified): a reader may see it half-written.
	detecttest.MkFile(t, filepath.Join(dir, playingName), content, time.Time{})
}

var t0 = time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)

func TestReadAnnouncesAChangedDeckOnceStable(t *testing.T) {
	dir := t.TempDir()
	newLibrary(t, dir)
	writePlaying(t, dir, twoDecks)
	clock := detecttest.NewClock(t0)
	r := newReader(config{Dir: dir, Now: clock.Now})
	ctx := context.Background()
	read := func(step string) []detect.Deck {
		t.Helper()
		d, err := r.read(ctx)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return d
	}
	if d := read("start"); d != nil {
		t.Fatalf("decks on screen before Pika! started were announced: %v", detecttest.DeckTitles(d))
	}

	// DJUCED loads a track on deck 2; the file is caught half-written first.
	next := "Slow Burn Shuffle | 1 | The Invented Trio | Late Night Sessions\r\nBorrowed Sunday | 2 | Night Owl Collective | \r\n"
	clock.Advance(time.Minute)
	writePlaying(t, dir, next[:len(next)-20])
	if d := read("half-written"); d != nil {
		t.Fatalf("half-written: %v", detecttest.DeckTitles(d))
	}
	clock.Advance(100 * time.Millisecond)
	writePlaying(t, dir, next)
	if d := read("written"); d != nil {
		t.Fatalf("at once: %v", detecttest.DeckTitles(d))
	}
	clock.Advance(Stable - time.Millisecond)
	if d := read("just before stable"); d != nil {
		t.Fatalf("before Stable: %v", detecttest.DeckTitles(d))
	}
	clock.Advance(time.Millisecond)
	d := read("stable")
	if len(d) != 1 || d[0].Deck != "2" || !d[0].Played || d[0].Level != detect.Unknown {
		t.Fatalf("got %+v, want deck 2 played", d)
	}
	e := d[0].Entry
	st, _ := os.Stat(filepath.Join(dir, playingName))
	want := detect.Entry{Title: "Borrowed Sunday", Artist: "Night Owl Collective", Deck: "2", Source: ID,
		BPM: 88, Duration: 240, Path: "/Users/dj/Music/WCS/Borrowed Sunday.m4a", PlayedAt: st.ModTime(), ID: e.ID}
	if e != want {
		t.Errorf("\n got %+v\nwant %+v", e, want)
	}
	if !strings.HasPrefix(e.ID, "djuced-") || len(e.ID) != len("djuced-")+20 {
		t.Errorf("ID %q", e.ID)
	}
	// Reported again on every read (the Decider announces it once), with
	// the same identity.
	clock.Advance(time.Second)
	if d := read("again"); len(d) != 1 || d[0].Entry.ID != e.ID {
		t.Errorf("again: %+v", d)
	}

	// A flicker (deck 1 rewritten and back within Stable) is not a play.
	writePlaying(t, dir, strings.Replace(next, "Slow Burn Shuffle", "Something Else", 1))
	read("flicker")
	clock.Advance(200 * time.Millisecond)
	writePlaying(t, dir, next)
	read("back")
	clock.Advance(2 * Stable)
	if d := read("after flicker"); len(d) != 1 || d[0].Deck != "2" {
		t.Errorf("after a flicker: %v", detecttest.DeckTitles(d))
	}

	// Deck 1 gets a track (UTF-16 this time, letter case differing from the
	// library: SQLite folds ASCII letters only).
	last := "Café GROOVE | 1 | Zoë & the swingouts | Sunday Social\r\nBorrowed Sunday | 2 | Night Owl Collective | \r\n"
	if err := os.WriteFile(filepath.Join(dir, playingName), utf16Bytes(last, false, true), 0o644); err != nil {
		t.Fatal(err)
	}
	read("deck 1 changed")
	clock.Advance(Stable)
	d = read("deck 1 stable")
	if len(d) != 2 || d[0].Deck != "1" || d[0].Entry.BPM != 102.5 || d[0].Entry.Key != "8A" || d[0].Entry.Path != `D:\Music\WCS\Cafe Groove.flac` {
		t.Errorf("got %+v", d)
	}
}

func TestReadErrorsForTheDJ(t *testing.T) {
	dir := t.TempDir()
	r := newReader(config{Dir: dir})
	if _, err := r.read(context.Background()); err == nil || !strings.Contains(err.Error(), "Settings → Record → Text File Output") {
		t.Errorf("no playing.txt: %v", err)
	}
	writePlaying(t, dir, "The Invented Trio - Slow Burn Shuffle\n")
	if _, err := r.read(context.Background()); err != nil {
		t.Errorf("first read of a foreign format (may be mid-write): %v", err)
	}
	if _, err := r.read(context.Background()); err == nil || !strings.Contains(err.Error(), Format) {
		t.Errorf("second read of a foreign format: %v", err)
	}
}

// announce runs a reader to the announcement of deck 1's new line.
func announce(t *testing.T, dir string) detect.Entry {
	t.Helper()
	clock := detecttest.NewClock(t0)
	r := newReader(config{Dir: dir, Now: clock.Now})
	writePlaying(t, dir, "")
	if _, err := r.read(context.Background()); err != nil {
		t.Fatal(err)
	}
	writePlaying(t, dir, twoDecks)
	r.read(context.Background())
	clock.Advance(Stable)
	d, err := r.read(context.Background())
	if err != nil || len(d) != 2 {
		t.Fatalf("got %v %v, want both decks", detecttest.DeckTitles(d), err)
	}
	return d[0].Entry
}

func TestLibraryProblemsDoNotStopPlays(t *testing.T) {
	t.Run("no library", func(t *testing.T) {
		t.Parallel()
		if e := announce(t, t.TempDir()); e.Title != "Slow Burn Shuffle" || e.BPM != 0 {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("unsupported library", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		db := detecttest.OpenSQLiteWriter(t, filepath.Join(dir, dbName), true)
		detecttest.MustExec(t, db, strings.Replace(tracksTable, "key TEXT", "musical_key TEXT", 1))
		_, err := lookup(context.Background(), filepath.Join(dir, dbName), "a", "b")
		var schema *detect.SchemaError
		if !errors.As(err, &schema) || !strings.Contains(err.Error(), "unsupported DJUCED database: table tracks lacks key") {
			t.Fatalf("lookup: %v, want a SchemaError", err)
		}
		if e := announce(t, dir); e.Title != "Slow Burn Shuffle" || e.BPM != 0 {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("locked library", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		release := lockLibrary(t, dir)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := lookup(ctx, filepath.Join(dir, dbName), "The Invented Trio", "Slow Burn Shuffle")
		if err == nil || !strings.Contains(err.Error(), "locked by DJUCED") {
			t.Fatalf("lookup: %v", err)
		}
		if e := announce(t, dir); e.BPM != 0 { // within enrichTimeout, without BPM
			t.Errorf("got %+v", e)
		}
		go func() {
			time.Sleep(200 * time.Millisecond) // DJUCED finishes its write
			release()
		}()
		tr, err := lookup(context.Background(), filepath.Join(dir, dbName), "The Invented Trio", "Slow Burn Shuffle")
		if err != nil || tr.bpm != 96 {
			t.Fatalf("after the lock: %+v %v", tr, err)
		}
	})
}

// lockLibrary makes DJUCED.db in rollback-journal mode with a writer
// inside BEGIN EXCLUSIVE, so no reader gets in until release.
func lockLibrary(t *testing.T, dir string) (release func()) {
	db := detecttest.OpenSQLiteWriter(t, filepath.Join(dir, dbName), false)
	detecttest.MustExec(t, db, tracksTable)
	detecttest.MustExec(t, db, `INSERT INTO tracks (artist, title, bpm) VALUES ('The Invented Trio', 'Slow Burn Shuffle', 96)`)
	return detecttest.HoldWriteLock(t, db, "UPDATE tracks SET playcount = playcount + 1")
}

func TestLocate(t *testing.T) {
	t.Run("macOS", func(t *testing.T) {
		home := t.TempDir()
		dir := filepath.Join(home, "Documents", "DJUCED")
		detecttest.MkFile(t, filepath.Join(dir, dbName), "x", time.Time{})
		detecttest.MkFile(t, filepath.Join(dir, dbName+"-wal"), "x", time.Time{})
		detecttest.MkFile(t, filepath.Join(dir, playingName), "x", time.Time{})
		later := time.Now().Add(time.Hour).Truncate(time.Second)
		if err := os.Chtimes(filepath.Join(dir, dbName+"-wal"), later, later); err != nil {
			t.Fatal(err)
		}
		got := Locate(detect.Env{Home: home, GOOS: "darwin"})
		if len(got) != 1 || got[0].Path != dir || !got[0].Ready || got[0].Product != ID || !got[0].Changed.Equal(later) {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("Windows, not set up", func(t *testing.T) {
		profile := t.TempDir()
		env := detecttest.Env("/nowhere", "windows", map[string]string{"USERPROFILE": profile})
		dir := env.Join(profile, "Documents", "DJUCED")
		// A Windows layout built on another OS: names with backslashes.
		detecttest.MkDir(t, dir)
		detecttest.MkFile(t, env.Join(dir, dbName), "x", time.Time{})
		got := Locate(env)
		if len(got) != 1 || got[0].Ready || got[0].Path != dir || !strings.Contains(got[0].Why, "turn on Settings → Record → Text File Output in DJUCED") {
			t.Fatalf("got %+v", got)
		}
		detecttest.MkFile(t, env.Join(dir, playingName), "x", time.Time{})
		if got := Locate(env); len(got) != 1 || !got[0].Ready {
			t.Fatalf("with playing.txt: %+v", got)
		}
	})
	t.Run("not installed, and Linux", func(t *testing.T) {
		home := t.TempDir()
		detecttest.MkFile(t, filepath.Join(home, "Documents", "DJUCED", playingName), "x", time.Time{})
		for _, env := range []detect.Env{{Home: t.TempDir(), GOOS: "darwin"}, {Home: t.TempDir(), GOOS: "windows"}, {Home: home, GOOS: "linux"}} {
			if got := Locate(env); got != nil {
				t.Errorf("%s: %+v", env.GOOS, got)
			}
		}
	})
}

func TestSourceFollowsPlayingTxt(t *testing.T) {
	dir := t.TempDir()
	newLibrary(t, dir)
	writePlaying(t, dir, twoDecks)
	src, err := Open(detect.Found{Product: ID, Path: filepath.Join(dir, playingName)}, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := detecttest.RunSource(t, src)
	c.WaitRead(t)
	writePlaying(t, dir, strings.Replace(twoDecks, "Café Groove | 2 | Zoë & The Swingouts | Sunday Social", "Borrowed Sunday | 2 | Night Owl Collective | ", 1))
	es := c.Wait(t, 1)
	if len(es) != 1 || es[0].Deck != "2" || es[0].Title != "Borrowed Sunday" || es[0].BPM != 88 {
		t.Fatalf("got %+v", es)
	}
	// The source records its last play just after emit returns: one more
	// read and it has.
	c.Reads(t, 1)
	if st := src.Status(); st.Err != "" || st.LastEntry == nil || st.Path != filepath.Join(dir, playingName) {
		t.Errorf("status %+v", st)
	}
}

// BenchmarkDetectionLatency: DJUCED rewrites playing.txt with a new track
// on one deck; how long until the source hands the play over, with the
// default read interval and Stable.
func BenchmarkDetectionLatency(b *testing.B) {
	dir := b.TempDir()
	newLibrary(b, dir)
	writePlaying(b, dir, twoDecks)
	src, err := newSource(config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	c := detecttest.RunSource(b, src)
	c.WaitRead(b)
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		writePlaying(b, dir, fmt.Sprintf("Track %d | 1 | The Invented Trio | \r\nCafé Groove | 2 | Zoë & The Swingouts | Sunday Social\r\n", i))
		c.Wait(b, i+1)
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/detect")
}
