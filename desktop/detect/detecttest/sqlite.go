package detecttest

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver, as the app reads with
)

// OpenSQLiteWriter opens the database at path as a DJ program holds it: one
// read-write connection, open until the test ends. wal puts it in WAL mode
// with automatic checkpoints off, so every change lives only in the -wal
// file while the writer is open; without it the database keeps a rollback
// journal, where a writer's lock blocks readers. The path goes into a file:
// URI escaped, so spaces and # in it are safe.
func OpenSQLiteWriter(tb testing.TB, path string, wal bool) *sql.DB {
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
	return db
}

// MustExec runs q on db, failing the test on error.
func MustExec(tb testing.TB, db *sql.DB, q string, args ...any) sql.Result {
	tb.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return res
}

// HoldWriteLock begins an exclusive transaction on one of db's
// connections, as a DJ program does mid-write, and runs q in it. Where db
// keeps a rollback journal no reader gets in until release commits it;
// release may be called from any goroutine, and is called when the test
// ends at the latest.
func HoldWriteLock(tb testing.TB, db *sql.DB, q string, args ...any) (release func()) {
	tb.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, q, args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	release = sync.OnceFunc(func() {
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			tb.Error(err)
		}
		conn.Close()
	})
	tb.Cleanup(release)
	return release
}
