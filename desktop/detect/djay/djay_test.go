package djay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

func TestLocate(t *testing.T) {
	mk := func(t *testing.T, path string) {
		t.Helper()
		// A Windows layout built on another OS is one long name with
		// backslashes in it; os.Stat finds it all the same.
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("macOS", func(t *testing.T) {
		home := t.TempDir()
		env := detect.Env{Home: home, GOOS: "darwin"}
		db := filepath.Join(home, "Music", "djay", "djay Media Library.djayMediaLibrary", "MediaLibrary.db")
		mk(t, db)
		mk(t, db+"-wal")
		later := time.Now().Add(time.Hour).Truncate(time.Second)
		if err := os.Chtimes(db+"-wal", later, later); err != nil {
			t.Fatal(err)
		}
		got := Locate(env)
		if len(got) != 1 || got[0].Path != db || !got[0].Ready || got[0].Product != ID {
			t.Fatalf("got %+v", got)
		}
		if !got[0].Changed.Equal(later) {
			t.Errorf("Changed = %v, want the -wal file's %v", got[0].Changed, later)
		}
		if !strings.Contains(got[0].Why, "MediaLibrary.db") {
			t.Errorf("Why = %q", got[0].Why)
		}
	})
	t.Run("Windows", func(t *testing.T) {
		profile := t.TempDir()
		env := detect.Env{Home: "/nowhere", GOOS: "windows", Getenv: func(k string) string {
			if k == "USERPROFILE" {
				return profile
			}
			return ""
		}}
		db := env.Join(profile, "Music", "djay", "djay Media Library", "MediaLibrary.db")
		mk(t, db)
		got := Locate(env)
		if len(got) != 1 || got[0].Path != db || !got[0].Ready {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("folder without a database", func(t *testing.T) {
		home := t.TempDir()
		if err := os.MkdirAll(filepath.Join(home, "Music", "djay", "djay Media Library.djayMediaLibrary"), 0o755); err != nil {
			t.Fatal(err)
		}
		got := Locate(detect.Env{Home: home, GOOS: "darwin"})
		if len(got) != 1 || got[0].Ready || !strings.Contains(got[0].Why, "open djay Pro") {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("not installed, and Linux", func(t *testing.T) {
		home := t.TempDir()
		mk(t, filepath.Join(home, "Music", "djay", "djay Media Library.djayMediaLibrary", "MediaLibrary.db"))
		for _, env := range []detect.Env{{Home: t.TempDir(), GOOS: "darwin"}, {Home: t.TempDir(), GOOS: "windows"}, {Home: home, GOOS: "linux"}} {
			if got := Locate(env); got != nil {
				t.Errorf("%s: got %+v", env.GOOS, got)
			}
		}
	})
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func titles(decks []detect.Deck) []string {
	var out []string
	for _, d := range decks {
		out = append(out, d.Deck+":"+d.Entry.Title)
	}
	return out
}

func TestReadWaitsForTheAnalysisWrite(t *testing.T) {
	for _, mac := range []bool{false, true} {
		lib := newLibrary(t, t.TempDir())
		clock := &fakeClock{t: start.Add(-time.Minute)}
		r := newReader(config{Path: lib.path, Now: clock.Now})
		ctx := context.Background()
		if d, err := r.read(ctx); err != nil || d != nil {
			t.Fatalf("first read of an empty history: %v %v", d, err)
		}

		clock.t = start
		lib.addPlay(play{uuid: "item-1", deck: 1, start: start, origin: "explorer", track: tLocal}, mac)
		if d, err := r.read(ctx); err != nil || d != nil {
			t.Fatalf("at the row: %v %v, want nothing yet", titles(d), err)
		}
		clock.Add(300 * time.Millisecond)
		lib.analyse(tLocal, mac) // djay's second write
		clock.Add(10 * time.Millisecond)
		d, err := r.read(ctx)
		if err != nil || len(d) != 1 {
			t.Fatalf("after the analysis: %v %v, want the play (analysis and location both there)", titles(d), err)
		}
		e := d[0].Entry
		if d[0].Deck != "1" || !d[0].Played || d[0].Level != detect.Unknown {
			t.Errorf("deck %+v", d[0])
		}
		want := detect.Entry{Title: tLocal.title, Artist: tLocal.artist, Duration: tLocal.duration, BPM: 96, Key: "Cm",
			Path: "/Users/dj/Music/WCS/Slow Burn Shuffle.mp3", PlayedAt: start, Source: "djay", Deck: "1", ID: e.ID}
		if e != want {
			t.Errorf("mac=%v:\n got %+v\nwant %+v", mac, e, want)
		}
		if !strings.HasPrefix(e.ID, "djay-") || len(e.ID) != len("djay-")+20 {
			t.Errorf("ID %q", e.ID)
		}
		if d, _ := r.read(ctx); d != nil {
			t.Errorf("announced again: %v", titles(d))
		}

		// A track djay never analyses goes out after AnalysisDelay without BPM.
		clock.Add(time.Minute)
		lib.addPlay(play{uuid: "item-2", deck: 2, start: clock.Now(), origin: "spotify", isrc: "USINV2600042", track: tStream}, mac)
		if d, _ := r.read(ctx); d != nil {
			t.Fatalf("at once: %v", titles(d))
		}
		clock.Add(AnalysisDelay - time.Millisecond)
		if d, _ := r.read(ctx); d != nil {
			t.Fatalf("before the delay: %v", titles(d))
		}
		clock.Add(time.Millisecond)
		d, err = r.read(ctx)
		if err != nil || len(d) != 1 || d[0].Deck != "2" || d[0].Entry.BPM != 0 || d[0].Entry.ISRC != "USINV2600042" {
			t.Fatalf("after the delay: %+v %v", d, err)
		}
	}
}

func TestReadSkipsEarlierSetsButNotATrackJustStarted(t *testing.T) {
	lib := newLibrary(t, t.TempDir())
	lib.addPlay(play{uuid: "last-week", deck: 1, start: start.Add(-7 * 24 * time.Hour), origin: "explorer", track: tLocal}, false)
	lib.analyse(tLocal, false)
	lib.addPlay(play{uuid: "just-now", deck: 2, start: start.Add(-3 * time.Second), origin: "explorer", track: tWindows}, false)
	lib.analyse(tWindows, false)

	id := func() string {
		d, err := newReader(config{Path: lib.path, Now: func() time.Time { return start }}).read(context.Background())
		if err != nil || len(d) != 1 || d[0].Entry.Title != tWindows.title {
			t.Fatalf("got %v %v, want only the track started 3 s ago", titles(d), err)
		}
		return d[0].Entry.ID
	}
	if a, b := id(), id(); a != b {
		t.Errorf("a restart changed the play's ID: %s, %s", a, b)
	}
}

// collect runs src and gathers what it emits.
type collected struct {
	mu sync.Mutex
	es []detect.Entry
}

func (c *collected) emit(_ context.Context, e detect.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.es = append(c.es, e)
	return nil
}

func (c *collected) wait(t testing.TB, n int) []detect.Entry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		if len(c.es) >= n {
			out := append([]detect.Entry(nil), c.es...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("only %d of %d plays arrived in 10 s", len(c.es), n)
	return nil
}

func run(t testing.TB, src detect.Source) *collected {
	c := &collected{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, c.emit) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestSourceFollowsDecksOneAndTwo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "djay Media Library.djayMediaLibrary")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lib := newLibrary(t, dir)
	lib.addPlay(play{uuid: "old", deck: 1, start: time.Now().Add(-time.Hour), origin: "explorer", track: tWindows}, true)
	// A long AnalysisDelay: a busy test machine must not let it run out
	// before the second write; a play whose analysis is there goes at once.
	src, err := newSource(config{Path: lib.path, AnalysisDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c := run(t, src)
	waitRead(t, src)

	now := time.Now()
	lib.addPlay(play{uuid: "p1", deck: 1, start: now, origin: "explorer", track: tLocal}, true)
	time.Sleep(300 * time.Millisecond) // djay's second write comes about 0.3 s later
	lib.analyse(tLocal, true)
	lib.addPlay(play{uuid: "p2", deck: 2, start: now.Add(time.Second), origin: "explorer", track: tWindows}, false)
	lib.analyse(tWindows, false)

	es := c.wait(t, 2)
	if len(es) != 2 || es[0].Deck != "1" || es[1].Deck != "2" {
		t.Fatalf("got %+v", es)
	}
	if es[0].BPM != 96 || es[0].Path == "" || es[1].BPM != 102.5 || es[1].Path != `D:\Music\WCS\Cafe Groove.flac` {
		t.Errorf("analysis missing: %+v", es)
	}
	if st := src.Status(); st.Err != "" || st.LastEntry == nil || st.LastEntry.Title != tWindows.title {
		t.Errorf("status %+v", st)
	}
}

// waitRead waits for src's first good read, so rows written after it are new.
func waitRead(t testing.TB, src detect.Source) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for src.Status().LastReadAt.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("no read in 10 s: %+v", src.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLockedLibrary(t *testing.T) {
	// djay's library in rollback-journal mode with a writer inside BEGIN
	// EXCLUSIVE: no reader gets in until it commits.
	lock := func(t *testing.T) (path string, release func()) {
		dir := t.TempDir()
		path = filepath.Join(dir, dbName)
		db := openDB(t, path, "journal_mode(DELETE)")
		mustExec(t, db, `CREATE TABLE database2 (rowid INTEGER PRIMARY KEY, collection CHAR NOT NULL, key CHAR NOT NULL, data BLOB, metadata BLOB)`)
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(context.Background(), "INSERT INTO database2 (collection, key, data) VALUES ('historySessionItems', 'k', ?)",
			encodeItem(play{uuid: "k", deck: 1, start: start, track: tLocal}, false)); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		release = func() {
			once.Do(func() {
				if _, err := conn.ExecContext(context.Background(), "COMMIT"); err != nil {
					t.Error(err)
				}
				conn.Close()
			})
		}
		t.Cleanup(release)
		return path, release
	}
	t.Run("stays locked", func(t *testing.T) {
		t.Parallel()
		path, _ := lock(t)
		_, err := newReader(config{Path: path}).read(context.Background())
		if err == nil || !detect.IsBusy(err) || !strings.Contains(err.Error(), "locked by djay Pro") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("released while Pika! retries", func(t *testing.T) {
		t.Parallel()
		path, release := lock(t)
		go func() {
			time.Sleep(200 * time.Millisecond) // djay finishes its write
			release()
		}()
		if _, err := newReader(config{Path: path}).read(context.Background()); err != nil {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUnsupportedLibrary(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, dbName), "journal_mode(WAL)")
	mustExec(t, db, `CREATE TABLE database3 (rowid INTEGER PRIMARY KEY, collection CHAR, key CHAR, data BLOB)`)
	_, err := newReader(config{Path: filepath.Join(dir, dbName)}).read(context.Background())
	var schema *detect.SchemaError
	if !errors.As(err, &schema) || !errors.Is(err, detect.ErrUnsupported) {
		t.Fatalf("err = %v, want a SchemaError", err)
	}
	if !strings.Contains(err.Error(), "unsupported djay Pro database") || !strings.Contains(err.Error(), "database2") {
		t.Errorf("message %q", err)
	}

	// The running source shows it on the DJ's status line and keeps going.
	src, err := Open(detect.Found{Path: dir}, detect.Options{}) // the folder: Open finds MediaLibrary.db in it
	if err != nil {
		t.Fatal(err)
	}
	run(t, src)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(src.Status().Err, "unsupported djay Pro database") {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v", src.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMissingLibrary(t *testing.T) {
	_, err := newReader(config{Path: filepath.Join(t.TempDir(), dbName)}).read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "open djay Pro") {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkDetectionLatency: djay commits a history row for a track it
// analysed before (the usual case in a prepared set); how long until the
// source hands the play over, with the default read interval.
func BenchmarkDetectionLatency(b *testing.B) {
	lib := newLibrary(b, b.TempDir())
	lib.analyse(tLocal, false)
	src, err := newSource(config{Path: lib.path})
	if err != nil {
		b.Fatal(err)
	}
	c := run(b, src)
	waitRead(b, src)
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		lib.addPlay(play{uuid: fmt.Sprintf("bench-%d", i), deck: 1 + i%2, start: t0, origin: "explorer", track: tLocal}, false)
		c.wait(b, i+1)
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/detect")
}
