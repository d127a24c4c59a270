package migrations_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/migrations"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// tables lists the public tables other than goose's own.
func tables(t *testing.T, ctx context.Context, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT tablename FROM pg_tables
		WHERE schemaname = 'public' AND tablename <> 'goose_db_version' ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func status(t *testing.T, ctx context.Context, db *sql.DB) string {
	t.Helper()
	var b bytes.Buffer
	if err := migrations.Status(ctx, db, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestUpDownUp applies every migration, rolls them all back one step at a
// time, and applies them again, checking the database is clean each time.
func TestUpDownUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := migrations.Open(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	files, err := migrations.FS.ReadDir(".")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v, %d files", err, len(files))
	}
	want := []string{"announcements", "deleted_clients", "dj_tokens", "djs", "likes", "pause_marks", "play_edits", "plays",
		"poll_votes", "polls", "reactions", "sessions", "tempo_votes"}

	for round := 1; round <= 2; round++ {
		if got := tables(t, ctx, db); len(got) != 0 {
			t.Fatalf("round %d: before up, tables %v, want none", round, got)
		}
		if !strings.Contains(status(t, ctx, db), "Pending") {
			t.Fatalf("round %d: status before up shows nothing pending:\n%s", round, status(t, ctx, db))
		}
		applied, err := migrations.UpReport(ctx, db)
		if err != nil {
			t.Fatalf("round %d: up: %v", round, err)
		}
		if len(applied) != len(files) {
			t.Fatalf("round %d: applied %v, want all %d files", round, applied, len(files))
		}
		if got := tables(t, ctx, db); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("round %d: tables %v, want %v", round, got, want)
		}
		st := status(t, ctx, db)
		if strings.Contains(st, "Pending") || !strings.Contains(st, "0001_init.sql") {
			t.Fatalf("round %d: status after up:\n%s", round, st)
		}
		// Up again is a no-op.
		if again, err := migrations.UpReport(ctx, db); err != nil || len(again) != 0 {
			t.Fatalf("round %d: second up applied %v, %v", round, again, err)
		}
		if v, err := migrations.Version(ctx, db); err != nil || v != int64(len(files)) {
			t.Fatalf("round %d: version %d, %v; want %d", round, v, err, len(files))
		}

		for i := len(files); i > 0; i-- {
			if err := migrations.Down(ctx, db); err != nil {
				t.Fatalf("round %d: down: %v", round, err)
			}
		}
		if err := migrations.Down(ctx, db); err != migrations.ErrNoneApplied {
			t.Fatalf("round %d: down with nothing applied: %v, want ErrNoneApplied", round, err)
		}
		if got := tables(t, ctx, db); len(got) != 0 {
			t.Fatalf("round %d: after down, tables %v, want none", round, got)
		}
		// No sequence, type or index of ours is left either.
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
			WHERE s.nspname = 'public' AND c.relname NOT LIKE 'goose_db_version%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("round %d: after down, %d relations left in public", round, n)
		}
	}
}
