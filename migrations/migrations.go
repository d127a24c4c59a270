// Package migrations owns Pika!'s PostgreSQL schema: SQL files embedded in
// the binary and applied with goose, by `pika migrate` and at persister start.
//
// Migrations only grow: a shipped file is never edited, a change is a new
// file (0002_….sql) with its own Up and Down. Each file runs in one
// transaction, and a PostgreSQL advisory lock keeps two processes (two
// persisters starting together) from applying the same migration twice.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"text/tabwriter"
	"time"

	// The pgx database/sql driver ("pgx"), which goose drives.
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// FS holds the migration files, named NNNN_what.sql.
//
//go:embed *.sql
var FS embed.FS

// Open opens databaseURL with the pgx database/sql driver, for the functions
// below. The caller closes it.
func Open(databaseURL string) (*sql.DB, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("migrations: open database: %w", err)
	}
	return db, nil
}

// provider builds a goose provider over FS. Goose's own logging is off: the
// callers report what was applied.
func provider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: session locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Up applies every pending migration.
func Up(ctx context.Context, db *sql.DB) error {
	_, err := UpReport(ctx, db)
	return err
}

// UpReport applies every pending migration and returns the names of those it
// applied, oldest first (none when the database was up to date).
func UpReport(ctx context.Context, db *sql.DB) ([]string, error) {
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	var names []string
	for _, r := range results {
		if r.Error == nil {
			names = append(names, path.Base(r.Source.Path))
		}
	}
	if err != nil {
		return names, fmt.Errorf("migrations: up: %w", err)
	}
	return names, nil
}

// ErrNoneApplied is Down's answer when no migration is applied.
var ErrNoneApplied = errors.New("migrations: no migration is applied: nothing to roll back")

// Down rolls back the most recent applied migration, one step.
func Down(ctx context.Context, db *sql.DB) error {
	_, err := DownReport(ctx, db)
	return err
}

// DownReport is Down, returning the name of the migration rolled back.
func DownReport(ctx context.Context, db *sql.DB) (string, error) {
	p, err := provider(db)
	if err != nil {
		return "", err
	}
	r, err := p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return "", ErrNoneApplied
	}
	if err != nil {
		return "", fmt.Errorf("migrations: down: %w", err)
	}
	return path.Base(r.Source.Path), nil
}

// Version reports the database's current migration version (0: none).
func Version(ctx context.Context, db *sql.DB) (int64, error) {
	p, err := provider(db)
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: version: %w", err)
	}
	return v, nil
}

// Status writes goose's table of every migration and when it was applied
// ("Pending" for those that were not) to w.
func Status(ctx context.Context, db *sql.DB, w io.Writer) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	list, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrations: status: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 4, ' ', 0)
	fmt.Fprintln(tw, "    Applied At\tMigration")
	fmt.Fprintln(tw, "    ==========\t=========")
	for _, s := range list {
		at := "Pending"
		if s.State == goose.StateApplied {
			at = s.AppliedAt.UTC().Format(time.ANSIC)
		}
		fmt.Fprintf(tw, "    %s\t%s\n", at, path.Base(s.Source.Path))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("migrations: status: %w", err)
	}
	return nil
}
