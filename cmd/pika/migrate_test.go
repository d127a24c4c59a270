package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/internal/testenv"
)

// TestMain stops the throwaway PostgreSQL of this test binary (the one
// TestMain of package main: tests of other commands share it).
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// runMigrate runs `pika migrate args…` in-process with env as the
// environment, returning its output.
func runMigrate(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	a := &app{getenv: func(k string) string { return env[k] }, stdout: &out, stderr: &errOut}
	err := a.run(ctx, append([]string{"migrate"}, args...))
	return out.String() + errOut.String(), err
}

func TestMigrateCommand(t *testing.T) {
	dsn := testenv.Postgres(t)
	env := map[string]string{"DATABASE_URL": dsn}

	out, err := runMigrate(t, env, "status")
	if err != nil || !strings.Contains(out, "Pending") || !strings.Contains(out, "0001_init.sql") {
		t.Fatalf("status on an empty database: %v\n%s", err, out)
	}
	out, err = runMigrate(t, env, "up")
	if err != nil || !strings.Contains(out, "applied 0001_init.sql") {
		t.Fatalf("up: %v\n%s", err, out)
	}
	out, err = runMigrate(t, env, "up")
	if err != nil || strings.Contains(out, "applied ") {
		t.Fatalf("second up applied something: %v\n%s", err, out)
	}
	out, err = runMigrate(t, env, "status")
	if err != nil || strings.Contains(out, "Pending") {
		t.Fatalf("status after up: %v\n%s", err, out)
	}
	// The flag wins over the environment; down rolls back one migration.
	out, err = runMigrate(t, map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing"}, "down", "--database-url", dsn)
	if err != nil || !strings.Contains(out, "rolled back 0004_accounts.sql") || !strings.Contains(out, "version 3") {
		t.Fatalf("down: %v\n%s", err, out)
	}
	out, err = runMigrate(t, env, "down")
	if err != nil || !strings.Contains(out, "rolled back 0003_deleted_clients.sql") || !strings.Contains(out, "version 2") {
		t.Fatalf("down: %v\n%s", err, out)
	}
	out, err = runMigrate(t, env, "down")
	if err != nil || !strings.Contains(out, "rolled back 0002_pause_marks.sql") || !strings.Contains(out, "version 1") {
		t.Fatalf("down: %v\n%s", err, out)
	}
	out, err = runMigrate(t, env, "down")
	if err != nil || !strings.Contains(out, "rolled back 0001_init.sql") || !strings.Contains(out, "version 0") {
		t.Fatalf("second down: %v\n%s", err, out)
	}
	if out, err = runMigrate(t, env, "down"); err == nil || !strings.Contains(err.Error(), "nothing to roll back") {
		t.Fatalf("down with nothing applied: %v\n%s", err, out)
	}
}

func TestMigrateBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{nil, "postgres://x@localhost/db", "say up, down or status"},
		{[]string{"sideways"}, "postgres://x@localhost/db", `unknown action "sideways"`},
		{[]string{"up"}, "", "DATABASE_URL is not set"},
		{[]string{"up"}, "postgres://user:hunter2@host:notaport/db", "is not a PostgreSQL URL"},
		{[]string{"up", "--nope"}, "", "flag provided but not defined"},
	} {
		out, err := runMigrate(t, map[string]string{"DATABASE_URL": c.env}, c.args...)
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &ue) {
			t.Errorf("pika migrate %v (DATABASE_URL=%q): %v, want a usage error with %q\n%s", c.args, c.env, err, c.want, out)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("pika migrate %v: the error shows the password or spans lines: %q", c.args, err)
		}
	}
	out, err := runMigrate(t, nil, "--help")
	if err != nil || !strings.Contains(out, "DATABASE_URL") {
		t.Errorf("--help: %v\n%s", err, out)
	}
}
