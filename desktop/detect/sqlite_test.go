package detect_test

// These tests use the package from outside, as a DJ program's source does,
// so they can open their writer with detecttest, which imports detect.

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// openWriter opens path as a DJ program would (read-write, WAL, automatic
// checkpoints off, so committed rows stay in the -wal file) and makes the
// plays table.
func openWriter(t *testing.T, path string) *sql.DB {
	t.Helper()
	db := detecttest.OpenSQLiteWriter(t, path, true)
	detecttest.MustExec(t, db, "CREATE TABLE plays (id INTEGER PRIMARY KEY, title TEXT)")
	return db
}

func countPlays(ctx context.Context, path string) (n int, err error) {
	err = detect.ReadSQLite(ctx, path, func(ctx context.Context, db *sql.DB) error {
		return db.QueryRowContext(ctx, "SELECT count(*) FROM plays").Scan(&n)
	})
	return n, err
}

func TestReadSQLiteSeesRowsOnlyInTheWAL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dir with spaces #1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "master.sqlite")
	w := openWriter(t, path)
	if _, err := w.Exec("INSERT INTO plays(title) VALUES ('a'), ('b')"); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path + "-wal"); err != nil || info.Size() == 0 {
		t.Fatalf("the rows should be in the WAL: %v", err)
	}
	n, err := countPlays(context.Background(), path)
	if err != nil || n != 2 {
		t.Fatalf("read %d rows, %v; want 2 from the WAL", n, err)
	}
	// Reading never writes: the writer still checkpoints and carries on.
	if _, err := w.Exec("INSERT INTO plays(title) VALUES ('c')"); err != nil {
		t.Fatal(err)
	}
	if n, _ := countPlays(context.Background(), path); n != 3 {
		t.Fatalf("read %d rows after a third insert, want 3", n)
	}
}

func TestReadSQLiteRetriesALockThenSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lib.db")
	w := detecttest.OpenSQLiteWriter(t, path, false) // rollback journal: a writer blocks readers
	detecttest.MustExec(t, w, "CREATE TABLE plays (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO plays(title) VALUES ('a')")
	ctx := context.Background()
	conn, err := w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(400 * time.Millisecond)
		conn.ExecContext(ctx, "COMMIT")
		close(released)
	}()
	n, err := countPlays(ctx, path)
	if err != nil || n != 1 {
		t.Fatalf("a lock released within the retries: got %d, %v; want 1 row", n, err)
	}
	<-released

	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	_, err = countPlays(ctx, path)
	if err == nil || !detect.IsBusy(err) || !strings.Contains(err.Error(), "locked by its program") {
		t.Fatalf("a lock held throughout: err = %v, want one that says the database stayed locked", err)
	}
}

func TestRequireColumnsNamesWhatIsMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	openWriter(t, path)
	err := detect.ReadSQLite(context.Background(), path, func(ctx context.Context, db *sql.DB) error {
		return detect.RequireColumns(ctx, db, "Example DJ", "plays", "id", "title", "deck")
	})
	var se *detect.SchemaError
	if !errors.As(err, &se) || !errors.Is(err, detect.ErrUnsupported) || len(se.Missing) != 1 || se.Missing[0] != "deck" {
		t.Fatalf("err = %v, want a schema error missing deck", err)
	}
	if !strings.Contains(err.Error(), "Example DJ") {
		t.Fatalf("%q should name the program", err)
	}
	err = detect.ReadSQLite(context.Background(), path, func(ctx context.Context, db *sql.DB) error {
		return detect.RequireColumns(ctx, db, "Example DJ", "history", "id")
	})
	if !errors.As(err, &se) || se.Missing != nil || !strings.Contains(err.Error(), "no history table") {
		t.Fatalf("err = %v, want a missing-table schema error", err)
	}
}

// TestPolledKeepsReadingUnderAStreamOfEvents: a file written every few ms
// beside the database (Mixxx's log) must not put reads off for ever.
func TestPolledKeepsReadingUnderAStreamOfEvents(t *testing.T) {
	dir := t.TempDir()
	var reads atomic.Int64
	p, err := detect.NewPolled(detect.PolledConfig{Name: "test", Hints: []string{dir}, Read: func(context.Context) ([]detect.Deck, error) {
		reads.Add(1)
		return nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, func(context.Context, detect.Entry) error { return nil }) }()
	deadline := time.Now().Add(10 * time.Second)
	for reads.Load() < 10 && time.Now().Before(deadline) {
		if err := os.WriteFile(filepath.Join(dir, "program.log"), []byte(time.Now().String()), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := reads.Load(); n < 10 {
		t.Fatalf("%d reads in 10 s of file events, want reads to go on", n)
	}
}
