package rekordbox

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/internal/testenv"
)

func query(t *testing.T, path string) []row {
	t.Helper()
	var rows []row
	err := plainDB{path}.Read(context.Background(), func(ctx context.Context, db *sql.DB) error {
		var err error
		rows, err = queryHistory(ctx, db, recent)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestQueryHistoryReadsNewestFirstAcrossListsWithTrackDetails(t *testing.T) {
	t.Parallel()
	path, w := plainFixture(t)
	// Tonight's list: rows 60 s apart, only in the -wal.
	addPlay(t, w, "h2-1", "h2", "103", setStart)
	addPlay(t, w, "h2-2", "h2", "102", setStart.Add(time.Minute))

	rows := query(t, path)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.id)
	}
	if strings.Join(ids, " ") != "h2-2 h2-1 h1-2 h1-1" {
		t.Fatalf("rows %q, want tonight's two then yesterday's two, newest first", ids)
	}
	e := rows[0].entry
	want := detect.Entry{Artist: "Mara Okonkwo", Title: "Lean Into It", Album: "Late Social", Remix: "Radio Edit",
		BPM: 128, Key: "Eb", Duration: 198, Path: "/Users/dj/Music/WCS/Lean Into It.flac",
		PlayedAt: setStart.Add(time.Minute), Source: "rekordbox"}
	want.ID = e.ID
	if e != want {
		t.Fatalf("got  %+v\nwant %+v", e, want)
	}
	if !strings.HasPrefix(e.ID, "rekordbox-") || len(e.ID) != len("rekordbox-")+20 {
		t.Fatalf("ID %q, want rekordbox- and 20 hex digits", e.ID)
	}
	// A track with no album, no key, a fractional BPM and a Windows path.
	if e := rows[1].entry; e.BPM != 88.5 || e.Album != "" || e.Key != "" || e.Path != `C:\Users\dj\Music\Anchor Step Blues.m4a` {
		t.Fatalf("sparse track: %s", describe(e))
	}
	if e := rows[3].entry; e.ISRC != "ZZX0A2600001" || e.BPM != 96 {
		t.Fatalf("oldest: %s isrc %q", describe(e), e.ISRC)
	}

	// The same play read again has the same ID and time; another play of the
	// same track does not share them.
	again := query(t, path)
	if again[0].entry.ID != e.ID || !again[0].entry.PlayedAt.Equal(e.PlayedAt) {
		t.Fatalf("second read: %q %v, first %q %v", again[0].entry.ID, again[0].entry.PlayedAt, e.ID, e.PlayedAt)
	}
	if rows[0].entry.ID == rows[2].entry.ID {
		t.Fatal("two plays of Lean Into It share an ID")
	}
}

func TestQueryHistorySkipsDeletedRows(t *testing.T) {
	t.Parallel()
	path, w := plainFixture(t)
	addPlay(t, w, "h2-1", "h2", "103", setStart)
	if _, err := w.Exec("UPDATE djmdSongHistory SET rb_local_deleted = 1 WHERE ID = 'h2-1'"); err != nil {
		t.Fatal(err)
	}
	if rows := query(t, path); len(rows) != 2 || rows[0].id != "h1-2" {
		t.Fatalf("rows %+v, want the deleted row left out", rows)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2025, 4, 12, 19, 11, 29, 274e6, time.UTC)
	for in, w := range map[string]time.Time{
		"2025-04-12 19:11:29.274 +00:00": want,
		"2025-04-12 21:11:29.274 +02:00": want,
		"2025-04-12T19:11:29.274Z":       want,
		"2025-04-12 19:11:29":            want.Truncate(time.Second),
		"":                               {},
		"yesterday":                      {},
	} {
		if got := parseTime(in); !got.Equal(w) {
			t.Errorf("parseTime(%q) = %v, want %v", in, got, w)
		}
	}
}

// plainSource follows the plain master.db at path with an injected clock.
func plainSource(t *testing.T, path string, c *detecttest.Clock) *Source {
	t.Helper()
	src, err := newSource(path, plainDB{path}, detect.Options{}, detect.PolledConfig{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestSourceAnnouncesEachNewHistoryRowOnceAndNeverTheOldOnes(t *testing.T) {
	t.Parallel()
	path, w := plainFixture(t)
	c := detecttest.NewClock(setStart)
	src := plainSource(t, path, c)
	got := detecttest.RunSource(t, src)
	got.WaitRead(t)

	// rekordbox logs a play about a minute into it; one a minute.
	for i, content := range []string{"101", "103", "102"} {
		at := setStart.Add(time.Duration(i) * time.Minute)
		c.Advance(time.Minute)
		addPlay(t, w, "h2-"+string(rune('1'+i)), "h2", content, at)
		e := got.Next(t)
		if !e.PlayedAt.Equal(at) || e.Source != "rekordbox" || e.Deck != "" {
			t.Fatalf("play %d: %s at %v deck %q", i+1, describe(e), e.PlayedAt, e.Deck)
		}
		if i == 2 && (e.Title != "Lean Into It" || e.BPM != 128) {
			t.Fatalf("third play: %s", describe(e))
		}
	}
	// The source records the play just after handing it over.
	testenv.Eventually(t, 10*time.Second, "the status shows the last play", func() bool {
		st := src.Status()
		return st.LastEntry != nil && st.LastEntry.Title == "Lean Into It"
	})
	if st := src.Status(); st.Err != "" {
		t.Fatalf("status %+v", st)
	}

	// A restart announces nothing already in the history: the next play
	// announced is the next new row.
	src2 := plainSource(t, path, c)
	got2 := detecttest.RunSource(t, src2)
	got2.WaitRead(t)
	addPlay(t, w, "h2-4", "h2", "101", setStart.Add(3*time.Minute))
	if e := got2.Next(t); e.Title != "Slow Burn Shuffle" || !e.PlayedAt.Equal(setStart.Add(3*time.Minute)) {
		t.Fatalf("after a restart: %s at %v, want only the new row", describe(e), e.PlayedAt)
	}
	// The first source sees it too, once.
	if e := got.Next(t); e.Title != "Slow Burn Shuffle" {
		t.Fatalf("first source: %s", describe(e))
	}
	got.Quiet(t)
}

func TestUnsupportedSchemaIsSaidPlainlyAndReadingGoesOn(t *testing.T) {
	t.Parallel()
	path, w := plainFixture(t)
	if _, err := w.Exec("ALTER TABLE djmdSongHistory RENAME COLUMN created_at TO logged_at"); err != nil {
		t.Fatal(err)
	}
	err := plainDB{path}.Read(context.Background(), func(ctx context.Context, db *sql.DB) error {
		_, err := queryHistory(ctx, db, recent)
		return err
	})
	var se *detect.SchemaError
	if !errors.As(err, &se) || se.Program != "rekordbox" || se.Table != "djmdSongHistory" || len(se.Missing) != 1 || se.Missing[0] != "created_at" {
		t.Fatalf("err = %v, want a rekordbox schema error naming created_at", err)
	}

	// The source shows it as its status and recovers when the table does.
	c := detecttest.NewClock(setStart)
	src := plainSource(t, path, c)
	got := detecttest.RunSource(t, src)
	testenv.Eventually(t, 10*time.Second, "the schema error on the status line", func() bool {
		return strings.Contains(src.Status().Err, "unsupported rekordbox database")
	})
	if _, err := w.Exec("ALTER TABLE djmdSongHistory RENAME COLUMN logged_at TO created_at"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "a good read", func() bool { return src.Status().Err == "" && !src.Status().LastReadAt.IsZero() })
	addPlay(t, w, "h2-1", "h2", "102", setStart)
	if e := got.Next(t); e.Title != "Lean Into It" {
		t.Fatalf("after recovery: %s", describe(e))
	}
}

func TestMissingTableIsASchemaError(t *testing.T) {
	t.Parallel()
	path, w := plainFixture(t)
	if _, err := w.Exec("DROP TABLE djmdKey"); err != nil {
		t.Fatal(err)
	}
	err := plainDB{path}.Read(context.Background(), func(ctx context.Context, db *sql.DB) error {
		_, err := queryHistory(ctx, db, recent)
		return err
	})
	if !errors.Is(err, detect.ErrUnsupported) || !strings.Contains(err.Error(), "no djmdKey table") {
		t.Fatalf("err = %v", err)
	}
}

func TestLockedDatabaseIsRetriedThenReported(t *testing.T) {
	t.Parallel()
	// A plain master.db in rollback-journal mode: a writer's exclusive lock
	// blocks readers (in WAL mode it would not).
	path, w := plainFixture(t)
	if _, err := w.Exec("PRAGMA journal_mode=DELETE"); err != nil {
		t.Fatal(err)
	}
	c := detecttest.NewClock(setStart)
	src := plainSource(t, path, c)
	got := detecttest.RunSource(t, src)
	got.WaitRead(t)

	ctx := context.Background()
	conn, err := w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the lock on the status line", func() bool {
		return strings.Contains(src.Status().Err, "rekordbox's database is locked by rekordbox")
	})
	if _, err := conn.ExecContext(ctx, `INSERT INTO djmdSongHistory (ID, HistoryID, ContentID, created_at, updated_at)
 VALUES ('h2-1', 'h2', '101', '2026-08-15 21:00:00.000 +00:00', '2026-08-15 21:00:00.000 +00:00')`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if e := got.Next(t); e.Title != "Slow Burn Shuffle" {
		t.Fatalf("after the lock: %s", describe(e))
	}
	testenv.Eventually(t, 10*time.Second, "the error to clear", func() bool { return src.Status().Err == "" })
}
