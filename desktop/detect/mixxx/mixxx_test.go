package mixxx

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/desktop/detect/mixxx/mixxxtest"
	"github.com/pika-dj/pika/internal/testenv"
)

var evening = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

func TestFollowsOnlyTheHistoryPlaylist(t *testing.T) {
	t.Parallel()
	s := mixxxtest.NewSet(t, t.TempDir(), evening)
	clk := detecttest.NewClock(evening)
	src, r := run(t, s.Lib.Path, clk.Now)
	r.WaitRead(t)

	// A track goes out: Mixxx appends it to today's history, in the WAL only.
	id := s.Lib.Append(s.Today, s.Funk, evening.Add(10*time.Second))
	s.Lib.WALOnly()
	got := r.Next(t)
	want := detect.Entry{
		Artist: "Lila Moreau", Title: "Pocket Funk", BPM: 104.02, Key: "F#m", Duration: 245.9,
		Path: "/home/dj/Music/WCS/Lila Moreau/Pocket Funk.m4a", PlayedAt: evening.Add(10 * time.Second),
		Source: "mixxx", ID: entryID(id, "2026-11-25 21:00:10"),
	}
	if got != want {
		t.Fatalf("play\n got %+v\nwant %+v", got, want)
	}
	if !strings.HasPrefix(got.ID, "mixxx-") || len(got.ID) != len("mixxx-")+20 {
		t.Errorf("ID %q: want mixxx- and 20 hex digits", got.ID)
	}

	// The DJ edits a normal playlist and the Auto DJ queue with newer
	// times, then a track goes out: only that one is a play.
	s.Lib.Append(s.Normal, s.Blue, evening.Add(20*time.Second))
	s.Lib.Append(s.AutoDJ, s.Slow, evening.Add(21*time.Second))
	s.Lib.Append(s.Today, s.Smooth, evening.Add(4*time.Minute))
	if got := r.Next(t); got.Title != "Smooth Sailing (Club Edit)" || got.Album != "Harbour" || got.BPM != 101 || got.Key != "8A" {
		t.Fatalf("after playlist edits: got %+v, want Smooth Sailing", got)
	}

	// Two tracks recorded between two reads (one commit): both, in order.
	tx, err := s.Lib.DB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i, track := range []int64{s.Blue, s.Slow} {
		if _, err := tx.Exec(`INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added) VALUES (?, ?, ?, ?)`,
			s.Today, track, 10+i, mixxxtest.Time(evening.Add(time.Duration(8+i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	first, second := r.Next(t), r.Next(t)
	if first.Title != "untagged blues 07" || first.Artist != "" {
		t.Errorf("an untagged file is named by its file name, as Mixxx shows it: got %+v", first)
	}
	if second.Title != "Slow Dance" || !second.PlayedAt.Equal(evening.Add(9*time.Minute)) {
		t.Errorf("second play: got %+v", second)
	}
	testenv.Eventually(t, 10*time.Second, "the last play on the status line", func() bool {
		st := src.Status()
		return st.Err == "" && st.LastEntry != nil && st.LastEntry.Title == "Slow Dance"
	})
}

// newReader is the source's reader at path with clock clk.
func newReader(path string, clk *detecttest.Clock) *reader {
	return &reader{path: path, now: clk.Now, log: slog.New(slog.DiscardHandler)}
}

func titles(decks []detect.Deck) []string {
	var out []string
	for _, d := range decks {
		if d.Deck != "" || d.Level != detect.Unknown || !d.Played || d.Entry.Source != ID {
			out = append(out, "bad deck "+d.Entry.Title)
			continue
		}
		out = append(out, d.Entry.Title)
	}
	return out
}

func readTitles(t *testing.T, r *reader) []string {
	t.Helper()
	decks, err := r.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return titles(decks)
}

func TestStartImportsOnlyAPlayOfTheLastSeconds(t *testing.T) {
	t.Parallel()
	s := mixxxtest.NewSet(t, t.TempDir(), evening)
	clk := detecttest.NewClock(evening)

	// The history's newest row is 35 minutes old: nothing to announce.
	r := newReader(s.Lib.Path, clk)
	if got := readTitles(t, r); len(got) != 0 {
		t.Fatalf("first read announced old history: %q", got)
	}

	// Mixxx recorded a track 4 s before Pika! started (and one 15 s before).
	s.Lib.Append(s.Today, s.Funk, evening.Add(-15*time.Second))
	id := s.Lib.Append(s.Today, s.Blue, evening.Add(-4*time.Second))
	r = newReader(s.Lib.Path, clk)
	decks, err := r.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := titles(decks); len(got) != 1 || got[0] != "untagged blues 07" {
		t.Fatalf("first read: %q, want only the play of 4 s ago", got)
	}
	// A second start (Pika! restarted) hands it over again, identically:
	// the app drops the repeat by ID and PlayedAt.
	again, err := newReader(s.Lib.Path, clk).read(context.Background())
	if err != nil || len(again) != 1 || again[0].Entry != decks[0].Entry {
		t.Fatalf("second start: %+v, %v; want the same entry as %+v", again, err, decks[0].Entry)
	}
	if decks[0].Entry.ID != entryID(id, mixxxtest.Time(evening.Add(-4*time.Second))) {
		t.Errorf("ID %q is not derived from the row", decks[0].Entry.ID)
	}
	if got := readTitles(t, r); len(got) != 0 {
		t.Errorf("a read with nothing new announced %q", got)
	}
}

func TestNewHistoryPlaylistAfterMixxxRestarts(t *testing.T) {
	t.Parallel()
	s := mixxxtest.NewSet(t, t.TempDir(), evening)
	clk := detecttest.NewClock(evening)
	r := newReader(s.Lib.Path, clk)
	readTitles(t, r)
	s.Lib.Append(s.Today, s.Funk, evening.Add(time.Minute))
	if got := readTitles(t, r); len(got) != 1 || got[0] != "Pocket Funk" {
		t.Fatalf("got %q", got)
	}
	// Mixxx quits and starts again: a new history playlist for the same day.
	second := s.Lib.Playlist("2026-11-25 #2", mixxxtest.History, evening.Add(5*time.Minute))
	s.Lib.Append(second, s.Slow, evening.Add(6*time.Minute))
	s.Lib.Append(second, s.Funk, evening.Add(10*time.Minute)) // the same song again, later: a new play
	if got := readTitles(t, r); strings.Join(got, "|") != "Slow Dance|Pocket Funk" {
		t.Fatalf("after Mixxx restarted: %q", got)
	}
}

func TestJoinWithPreviousIsNotAPlay(t *testing.T) {
	t.Parallel()
	s := mixxxtest.NewSet(t, t.TempDir(), evening)
	clk := detecttest.NewClock(evening)
	r := newReader(s.Lib.Path, clk)
	readTitles(t, r)
	second := s.Lib.Playlist("2026-11-25 #2", mixxxtest.History, evening.Add(time.Minute))
	s.Lib.Append(second, s.Funk, evening.Add(2*time.Minute))
	s.Lib.Append(second, s.Blue, evening.Add(3*time.Minute))
	if got := readTitles(t, r); len(got) != 2 {
		t.Fatalf("got %q", got)
	}
	// "Join with previous" copies this session's rows, times kept, into
	// the previous session under new ids, and deletes this one; the same
	// for yesterday's session into the one before.
	s.Lib.Exec(`INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added)
		SELECT ?, track_id, position + 100, pl_datetime_added FROM PlaylistTracks WHERE playlist_id = ?`, s.Today, second)
	s.Lib.Exec(`DELETE FROM PlaylistTracks WHERE playlist_id = ?`, second)
	s.Lib.Exec(`DELETE FROM Playlists WHERE id = ?`, second)
	yesterday := s.Lib.Playlist("2026-11-23", mixxxtest.History, evening.Add(-48*time.Hour))
	s.Lib.Exec(`INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added)
		SELECT ?, track_id, position, pl_datetime_added FROM PlaylistTracks WHERE playlist_id = ?`, yesterday, s.Today)
	if got := readTitles(t, r); len(got) != 0 {
		t.Fatalf("copied history announced as plays: %q", got)
	}
	// Mixxx goes on appending to the joined session.
	s.Lib.Append(s.Today, s.Smooth, evening.Add(7*time.Minute))
	if got := readTitles(t, r); len(got) != 1 || got[0] != "Smooth Sailing (Club Edit)" {
		t.Fatalf("after the join: %q", got)
	}
}

func TestReusedRowIDIsANewPlay(t *testing.T) {
	t.Parallel()
	s := mixxxtest.NewSet(t, t.TempDir(), evening)
	clk := detecttest.NewClock(evening)
	r := newReader(s.Lib.Path, clk)
	readTitles(t, r)
	id := s.Lib.Append(s.Today, s.Funk, evening.Add(time.Minute))
	readTitles(t, r)
	// The DJ removes that row from the history; SQLite gives its id to the
	// next row.
	s.Lib.Exec("DELETE FROM PlaylistTracks WHERE id = ?", id)
	readTitles(t, r)
	again := s.Lib.Append(s.Today, s.Slow, evening.Add(3*time.Minute))
	if again != id {
		t.Fatalf("SQLite did not reuse id %d (gave %d); the test needs it", id, again)
	}
	decks, err := r.read(context.Background())
	if err != nil || len(decks) != 1 || decks[0].Entry.Title != "Slow Dance" {
		t.Fatalf("got %+v, %v", decks, err)
	}
	if decks[0].Entry.ID == entryID(id, mixxxtest.Time(evening.Add(time.Minute))) {
		t.Error("a reused row id must give a new entry ID")
	}
}

func TestLockedDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mixxxtest.NewSet(t, dir, evening)
	s.Lib.DB.Close()
	// Mixxx without WAL: a writer's exclusive lock blocks every reader.
	l := mixxxtest.Open(t, s.Lib.Path, false)
	clk := detecttest.NewClock(evening)
	r := newReader(l.Path, clk)
	readTitles(t, r)

	ctx := context.Background()
	conn, err := l.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lock := func(at time.Time) {
		if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added) VALUES (?, ?, 50, ?)`,
			s.Today, s.Funk, mixxxtest.Time(at)); err != nil {
			t.Fatal(err)
		}
	}
	lock(evening.Add(time.Minute))
	_, err = r.read(ctx)
	if err == nil || !strings.Contains(err.Error(), "locked by Mixxx") {
		t.Fatalf("read under a held lock: %v; want it to say Mixxx holds the database", err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if got := readTitles(t, r); len(got) != 1 || got[0] != "Pocket Funk" {
		t.Fatalf("after the lock: %q", got)
	}

	// A short lock is waited out.
	lock(evening.Add(5 * time.Minute))
	unlocked := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // Mixxx holding its lock a moment, not an assertion
		_, err := conn.ExecContext(ctx, "COMMIT")
		unlocked <- err
	}()
	got := readTitles(t, r)
	if err := <-unlocked; err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "Pocket Funk" {
		t.Fatalf("through a short lock: %q", got)
	}
}

func TestUnsupportedDatabase(t *testing.T) {
	t.Parallel()
	renamed := strings.Replace(mixxxtest.Schema, "position INTEGER, pl_datetime_added)", "position INTEGER, datetime_added)", 1)
	noLocations := strings.Replace(mixxxtest.Schema, "CREATE TABLE track_locations", "CREATE TABLE track_paths", 1)
	tests := []struct {
		name, ddl, want string
	}{
		{"column renamed", renamed, "unsupported Mixxx database (version 39): table PlaylistTracks lacks pl_datetime_added; Pika! cannot read this version yet"},
		{"table missing", noLocations, "unsupported Mixxx database (version 39): it has no track_locations table; Pika! cannot read this version yet"},
		{"not Mixxx at all", "CREATE TABLE notes (body TEXT)", "unsupported Mixxx database: it has no Playlists table; Pika! cannot read this version yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := mixxxtest.New(t, t.TempDir(), true, tt.ddl)
			_, err := newReader(l.Path, detecttest.NewClock(evening)).read(context.Background())
			var se *detect.SchemaError
			if !errors.As(err, &se) || !errors.Is(err, detect.ErrUnsupported) || se.Program != "Mixxx" {
				t.Fatalf("got %v, want a SchemaError for Mixxx", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err, tt.want)
			}
			// The running source shows it on the DJ's status line and carries on.
			src, _ := run(t, l.Path, detecttest.NewClock(evening).Now)
			testenv.Eventually(t, 10*time.Second, "the error on the status line", func() bool { return src.Status().Err == tt.want })
		})
	}
}

func TestNoDatabaseYet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := detecttest.NewClock(evening)
	src, r := run(t, dir, clk.Now) // the settings folder, before Mixxx's first start
	testenv.Eventually(t, 10*time.Second, "a status saying Mixxx has no library yet", func() bool {
		return strings.Contains(src.Status().Err, "start Mixxx")
	})
	// Mixxx starts, creates its library, and plays. (Made aside and moved
	// in, so the source never sees a half-made library.)
	s := mixxxtest.NewSet(t, t.TempDir(), evening)
	s.Lib.DB.Close()
	if err := os.Rename(s.Lib.Path, filepath.Join(dir, dbName)); err != nil {
		t.Fatal(err)
	}
	s.Lib = mixxxtest.Open(t, filepath.Join(dir, dbName), true)
	r.WaitRead(t)
	s.Lib.Append(s.Today, s.Blue, evening.Add(time.Minute))
	if got := r.Next(t); got.Title != "untagged blues 07" {
		t.Fatalf("got %+v", got)
	}
}

func TestDamagedValuesDoNotStopReading(t *testing.T) {
	t.Parallel()
	s := mixxxtest.NewSet(t, t.TempDir(), evening)
	r := newReader(s.Lib.Path, detecttest.NewClock(evening))
	readTitles(t, r)
	odd := s.Lib.Track(mixxxtest.Track{Artist: "Odd", Title: "Values", Location: "/home/dj/Music/odd.mp3"})
	s.Lib.Exec("UPDATE library SET bpm = 'fast', duration = x'00ff', title = x'56616c7565738e' WHERE id = ?", odd)
	s.Lib.Append(s.Today, odd, evening.Add(time.Minute))
	s.Lib.Exec(`INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added) VALUES (?, 9999, 99, 'yesterday-ish')`, s.Today)
	s.Lib.Append(s.Today, s.Slow, evening.Add(2*time.Minute))
	decks, err := r.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := titles(decks); strings.Join(got, "|") != "Values\uFFFD|Slow Dance" {
		t.Fatalf("got %q", got)
	}
	if e := decks[0].Entry; e.BPM != 0 || e.Duration != 0 {
		t.Errorf("damaged numbers should read as unknown: %+v", e)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-25 21:03:07", time.Date(2026, 11, 25, 21, 3, 7, 0, time.UTC)},
		{"2026-11-25T21:03:07", time.Date(2026, 11, 25, 21, 3, 7, 0, time.UTC)},
		{"2026-11-25 21:03:07.250", time.Date(2026, 11, 25, 21, 3, 7, 250e6, time.UTC)},
		{"2026-11-25T22:03:07+01:00", time.Date(2026, 11, 25, 21, 3, 7, 0, time.UTC)},
		{" 2026-11-25 21:03:07 ", time.Date(2026, 11, 25, 21, 3, 7, 0, time.UTC)},
		{"", time.Time{}},
		{"2026-11-25", time.Time{}},
		{"2026-13-45 99:99:99", time.Time{}},
	}
	for _, tt := range tests {
		if got := parseTime(tt.in); !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseTime: pl_datetime_added is whatever is in the database.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-25 21:03:07", "2026-11-25T21:03:07Z", "2026-11-25 21:0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := parseTime(s)
		if !got.IsZero() && got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, not UTC", s, got)
		}
	})
}

func TestLocate(t *testing.T) {
	t.Parallel()
	for _, goos := range []string{"darwin", "windows", "linux"} {
		t.Run(goos, func(t *testing.T) {
			home := t.TempDir()
			local := filepath.Join(home, "AppData", "Local")
			env := detecttest.Env(home, goos, map[string]string{"LOCALAPPDATA": local})
			if got := Locate(env); got != nil {
				t.Fatalf("nothing installed: %+v", got)
			}
			var dir string
			switch goos {
			case "darwin":
				dir = env.Join(home, "Library", "Containers", "org.mixxx.mixxx", "Data", "Library", "Application Support", "Mixxx")
			case "windows":
				dir = env.Join(local, "Mixxx")
			default:
				dir = env.Join(home, ".mixxx")
			}
			detecttest.MkDir(t, dir)
			got := Locate(env)
			if len(got) != 1 || got[0].Ready || got[0].Path != dir || !strings.Contains(got[0].Why, "start Mixxx once") {
				t.Fatalf("settings folder without a library: %+v", got)
			}
			db := env.Join(dir, "mixxxdb.sqlite")
			detecttest.MkFile(t, db, "x", evening.Add(-time.Hour))
			detecttest.MkFile(t, db+"-wal", "x", evening) // the newest rows live in the WAL
			got = Locate(env)
			if len(got) != 1 || !got[0].Ready || got[0].Path != db || got[0].Product != "mixxx" || !got[0].Changed.Equal(evening) || got[0].Why == "" {
				t.Fatalf("library found: %+v", got)
			}
		})
	}
	// Windows without LOCALAPPDATA falls back to the home folder's.
	home := t.TempDir()
	env := detect.Env{Home: home, GOOS: "windows"}
	db := env.Join(home, "AppData", "Local", "Mixxx", "mixxxdb.sqlite")
	detecttest.MkFile(t, db, "x", evening)
	detecttest.MkDir(t, env.Join(home, "AppData", "Local", "Mixxx"))
	if got := Locate(env); len(got) != 1 || got[0].Path != db {
		t.Fatalf("windows without LOCALAPPDATA: %+v", got)
	}
}

func TestProductOpensWhatLocateFound(t *testing.T) {
	t.Parallel()
	p := Product()
	if p.ID != "mixxx" || p.Name != "Mixxx" || p.Locate == nil || p.Open == nil {
		t.Fatalf("product %+v", p)
	}
	if _, err := p.Open(detect.Found{}, detect.Options{}); err == nil {
		t.Error("opening nothing should fail")
	}
	dir := t.TempDir()
	mixxxtest.NewSet(t, dir, evening)
	src, err := p.Open(detect.Found{Product: "mixxx", Path: filepath.Join(dir, dbName), Ready: true}, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "mixxx" || src.Status().Path != filepath.Join(dir, dbName) {
		t.Errorf("source %s, status %+v", src.Name(), src.Status())
	}
}
