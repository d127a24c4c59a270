package djay

import (
	"context"
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

func TestLocate(t *testing.T) {
	t.Run("macOS", func(t *testing.T) {
		home := t.TempDir()
		env := detect.Env{Home: home, GOOS: "darwin"}
		db := filepath.Join(home, "Music", "djay", "djay Media Library.djayMediaLibrary", "MediaLibrary.db")
		detecttest.MkFile(t, db, "x", time.Time{})
		detecttest.MkFile(t, db+"-wal", "x", time.Time{})
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
		env := detecttest.Env("/nowhere", "windows", map[string]string{"USERPROFILE": profile})
		db := env.Join(profile, "Music", "djay", "djay Media Library", "MediaLibrary.db")
		// A Windows layout built on another OS is one long name with
		// backslashes in it; os.Stat finds it all the same.
		detecttest.MkFile(t, db, "x", time.Time{})
		got := Locate(env)
		if len(got) != 1 || got[0].Path != db || !got[0].Ready {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("folder without a database", func(t *testing.T) {
		home := t.TempDir()
		detecttest.MkDir(t, filepath.Join(home, "Music", "djay", "djay Media Library.djayMediaLibrary"))
		got := Locate(detect.Env{Home: home, GOOS: "darwin"})
		if len(got) != 1 || got[0].Ready || !strings.Contains(got[0].Why, "open djay Pro") {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("not installed, and Linux", func(t *testing.T) {
		home := t.TempDir()
		detecttest.MkFile(t, filepath.Join(home, "Music", "djay", "djay Media Library.djayMediaLibrary", "MediaLibrary.db"), "x", time.Time{})
		for _, env := range []detect.Env{{Home: t.TempDir(), GOOS: "darwin"}, {Home: t.TempDir(), GOOS: "windows"}, {Home: home, GOOS: "linux"}} {
			if got := Locate(env); got != nil {
				t.Errorf("%s: got %+v", env.GOOS, got)
			}
		}
	})
}

func TestReadWaitsForTheAnalysisWrite(t *testing.T) {
	for _, mac := range []bool{false, true} {
		lib := newLibrary(t, t.TempDir())
		clock := detecttest.NewClock(start.Add(-time.Minute))
		r := newReader(config{Path: lib.path, Now: clock.Now})
		ctx := context.Background()
		if d, err := r.read(ctx); err != nil || d != nil {
			t.Fatalf("first read of an empty history: %v %v", d, err)
		}

		clock.Set(start)
		lib.addPlay(play{uuid: "item-1", deck: 1, start: start, origin: "explorer", track: tLocal}, mac)
		if d, err := r.read(ctx); err != nil || d != nil {
			t.Fatalf("at the row: %v %v, want nothing yet", detecttest.DeckTitles(d), err)
		}
		clock.Advance(300 * time.Millisecond)
		lib.analyse(tLocal, mac) // djay's second write
		clock.Advance(10 * time.Millisecond)
		d, err := r.read(ctx)
		if err != nil || len(d) != 1 {
			t.Fatalf("after the analysis: %v %v, want the play (analysis and location both there)", detecttest.DeckTitles(d), err)
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
			t.Errorf("announced again: %v", detecttest.DeckTitles(d))
		}

		// A track djay never analyses goes out after AnalysisDelay without BPM.
		clock.Advance(time.Minute)
		lib.addPlay(play{uuid: "item-2", deck: 2, start: clock.Now(), origin: "spotify", isrc: "USINV2600042", track: tStream}, mac)
		if d, _ := r.read(ctx); d != nil {
			t.Fatalf("at once: %v", detecttest.DeckTitles(d))
		}
		clock.Advance(AnalysisDelay - time.Millisecond)
		if d, _ := r.read(ctx); d != nil {
			t.Fatalf("before the delay: %v", detecttest.DeckTitles(d))
		}
		clock.Advance(time.Millisecond)
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
			t.Fatalf("got %v %v, want only the track started 3 s ago", detecttest.DeckTitles(d), err)
		}
		return d[0].Entry.ID
	}
	if a, b := id(), id(); a != b {
		t.Errorf("a restart changed the play's ID: %s, %s", a, b)
	}
}

func TestSourceFollowsDecksOneAndTwo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "djay Media Library.djayMediaLibrary")
	detecttest.MkDir(t, dir)
	lib := newLibrary(t, dir)
	lib.addPlay(play{uuid: "old", deck: 1, start: time.Now().Add(-time.Hour), origin: "explorer", track: tWindows}, true)
	// A long AnalysisDelay: a busy test machine must not let it run out
	// before the second write; a play whose analysis is there goes at once.
	src, err := newSource(config{Path: lib.path, AnalysisDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c := detecttest.RunSource(t, src)
	c.WaitRead(t)

	now := time.Now()
	lib.addPlay(play{uuid: "p1", deck: 1, start: now, origin: "explorer", track: tLocal}, true)
	time.Sleep(300 * time.Millisecond) // djay's second write comes about 0.3 s later
	lib.analyse(tLocal, true)
	lib.addPlay(play{uuid: "p2", deck: 2, start: now.Add(time.Second), origin: "explorer", track: tWindows}, false)
	lib.analyse(tWindows, false)

	es := c.Wait(t, 2)
	if len(es) != 2 || es[0].Deck != "1" || es[1].Deck != "2" {
		t.Fatalf("got %+v", es)
	}
	if es[0].BPM != 96 || es[0].Path == "" || es[1].BPM != 102.5 || es[1].Path != `D:\Music\WCS\Cafe Groove.flac` {
		t.Errorf("analysis missing: %+v", es)
	}
	// The source records its last play just after emit returns: one more
	// read and it has.
	c.Reads(t, 1)
	if st := src.Status(); st.Err != "" || st.LastEntry == nil || st.LastEntry.Title != tWindows.title {
		t.Errorf("status %+v", st)
	}
}

func TestLockedLibrary(t *testing.T) {
	// djay's library in rollback-journal mode with a writer inside BEGIN
	// EXCLUSIVE: no reader gets in until it commits.
	lock := func(t *testing.T) (path string, release func()) {
		dir := t.TempDir()
		path = filepath.Join(dir, dbName)
		db := detecttest.OpenSQLiteWriter(t, path, false)
		detecttest.MustExec(t, db, `CREATE TABLE database2 (rowid INTEGER PRIMARY KEY, collection CHAR NOT NULL, key CHAR NOT NULL, data BLOB, metadata BLOB)`)
		release = detecttest.HoldWriteLock(t, db, "INSERT INTO database2 (collection, key, data) VALUES ('historySessionItems', 'k', ?)",
			encodeItem(play{uuid: "k", deck: 1, start: start, track: tLocal}, false))
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
	db := detecttest.OpenSQLiteWriter(t, filepath.Join(dir, dbName), true)
	detecttest.MustExec(t, db, `CREATE TABLE database3 (rowid INTEGER PRIMARY KEY, collection CHAR, key CHAR, data BLOB)`)
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
	detecttest.RunSource(t, src)
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
	c := detecttest.RunSource(b, src)
	c.WaitRead(b)
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		lib.addPlay(play{uuid: fmt.Sprintf("bench-%d", i), deck: 1 + i%2, start: t0, origin: "explorer", track: tLocal}, false)
		c.Wait(b, i+1)
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/detect")
}
