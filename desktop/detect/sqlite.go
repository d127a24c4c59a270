package detect

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver: pure Go, so the binary stays static
)

// SQLite reading rules for a DJ program's live database, learned the hard
// way by every now-playing tool:
//
//   - read-only (mode=ro), never immutable=1: immutable ignores the -wal
//     file, where a program in WAL mode keeps its newest rows until a
//     checkpoint, sometimes for the whole set;
//   - one short read, then close: a lingering read transaction pins the WAL
//     and stops the program's checkpoints, and a program may replace its
//     database file while we run;
//   - a program writing holds a lock now and then: wait (busy_timeout), then
//     retry with backoff, and only then report it;
//   - never write.

// SQLiteURI is the read-only URI of the database at path.
func SQLiteURI(path string) string {
	p := filepath.ToSlash(path)
	if runtime.GOOS == "windows" && !strings.HasPrefix(p, "/") {
		p = "/" + p // file:/C:/… is how SQLite spells a drive path
	}
	u := url.URL{Scheme: "file", Path: p, OmitHost: true}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(250)")
	q.Add("_pragma", "query_only(1)")
	u.RawQuery = q.Encode()
	return u.String()
}

// ReadSQLite opens the database at path read-only, runs read, and closes
// it. A lock held by the program is retried with backoff for up to about
// three seconds in all (less if ctx ends sooner); the error after that says
// the database was busy. read must not keep rows open past its return.
func ReadSQLite(ctx context.Context, path string, read func(ctx context.Context, db *sql.DB) error) error {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := readSQLiteOnce(ctx, path, read)
		if err == nil || !IsBusy(err) || attempt >= 5 {
			if IsBusy(err) {
				return fmt.Errorf("the database %s stayed locked by its program: %w", filepath.Base(path), err)
			}
			return err
		}
		wait := backoff + rand.N(backoff/2)
		backoff *= 2
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func readSQLiteOnce(ctx context.Context, path string, read func(ctx context.Context, db *sql.DB) error) error {
	db, err := sql.Open("sqlite", SQLiteURI(path))
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return read(ctx, db)
}

// IsBusy reports whether err is SQLite saying another connection holds a
// lock (SQLITE_BUSY, SQLITE_LOCKED, or the Windows sharing violation).
func IsBusy(err error) bool {
	if err == nil {
		return false
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED, and their extended codes
			return true
		}
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"database is locked", "database table is locked", "sharing violation"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// SchemaError says a program's database is not laid out as Pika! expects:
// usually a new version of the program. It names the program and what is
// missing, so the DJ can tell us.
type SchemaError struct {
	Program string   // "Serato DJ 4"
	Table   string   // the table looked at
	Missing []string // its columns that are not there; nil when the table is missing
	Version string   // the program's version when the database records it
}

func (e *SchemaError) Error() string {
	v := ""
	if e.Version != "" {
		v = " (version " + e.Version + ")"
	}
	if e.Missing == nil {
		return fmt.Sprintf("unsupported %s database%s: it has no %s table; Pika! cannot read this version yet", e.Program, v, e.Table)
	}
	return fmt.Sprintf("unsupported %s database%s: table %s lacks %s; Pika! cannot read this version yet",
		e.Program, v, e.Table, strings.Join(e.Missing, ", "))
}

// ErrUnsupported is wrapped by every SchemaError, for errors.Is.
var ErrUnsupported = errors.New("unsupported DJ program version")

func (e *SchemaError) Unwrap() error { return ErrUnsupported }

// RequireColumns checks that table exists in db with at least cols, and
// returns a *SchemaError naming program when not.
func RequireColumns(ctx context.Context, db *sql.DB, program, table string, cols ...string) error {
	rows, err := db.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return fmt.Errorf("read the layout of %s: %w", table, err)
	}
	defer rows.Close()
	var have []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("read the layout of %s: %w", table, err)
		}
		have = append(have, strings.ToLower(name))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the layout of %s: %w", table, err)
	}
	if len(have) == 0 {
		return &SchemaError{Program: program, Table: table}
	}
	var missing []string
	for _, c := range cols {
		if !slices.Contains(have, strings.ToLower(c)) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return &SchemaError{Program: program, Table: table, Missing: missing}
	}
	return nil
}
