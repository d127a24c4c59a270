package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pika-dj/pika/migrations"
)

// migrate runs `pika migrate up|down|status`: apply every pending migration,
// roll back the latest one, or print which are applied.
func (a *app) migrate(ctx context.Context, args []string) (err error) {
	const actions = "up, down or status"
	action := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	cfg, err := parseMigrate(args, a.getenv, a.stdout)
	if errors.Is(err, errHelp) {
		fmt.Fprintf(a.stdout, "\nActions: up (apply every pending migration), down (roll back the latest one), status (list them).\n")
		return nil
	}
	if err != nil {
		return err
	}
	switch action {
	case "up", "down", "status":
	case "":
		return usageError{"pika migrate: say " + actions + ", e.g. pika migrate up"}
	default:
		return usageError{fmt.Sprintf("pika migrate: unknown action %q: say %s", action, actions)}
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))
	finish, _, err := startObs(cfg.Obs, log)
	if err != nil {
		return err
	}
	defer func() { finish(err) }()
	dbURL := cfg.DatabaseURL

	db, err := migrations.Open(dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = db.PingContext(pingCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("migrate: connect to PostgreSQL: %w", err)
	}

	switch action {
	case "up":
		applied, err := migrations.UpReport(ctx, db)
		for _, name := range applied {
			fmt.Fprintln(a.stdout, "applied", name)
		}
		if err != nil {
			return err
		}
	case "down":
		name, err := migrations.DownReport(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, "rolled back", name)
	case "status":
		return migrations.Status(ctx, db, a.stdout)
	}
	version, err := migrations.Version(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "database at version", version)
	return nil
}

// migrateConfig is `pika migrate`'s effective configuration.
type migrateConfig struct {
	DatabaseURL string
	LogLevel    string
	Obs         obsConfig
}

// parseMigrate builds and validates `pika migrate`'s configuration (the
// action is read before: it is not a flag).
func parseMigrate(args []string, getenv func(string) string, help io.Writer) (migrateConfig, error) {
	v, err := parseSettings("migrate", migrateSettings(), args, getenv, help)
	if err != nil {
		return migrateConfig{}, err
	}
	var bad []string
	badf := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	cfg := migrateConfig{LogLevel: strings.ToLower(v["log-level"])}
	if cfg.DatabaseURL, err = checkDatabaseURL(v["database-url"]); err != nil {
		badf("%v", err)
	}
	checkLogLevel(cfg.LogLevel, badf)
	cfg.Obs = parseObs(v, badf)
	switch len(bad) {
	case 0:
		return cfg, nil
	case 1: // one line, as migrate's callers (scripts, CI) expect
		return cfg, usageError{"pika migrate: " + bad[0]}
	}
	return cfg, usageError{"pika migrate: bad configuration:\n  " + strings.Join(bad, "\n  ")}
}

// checkDatabaseURL says in one line what is wrong with a DATABASE_URL, if
// anything. pgx's message never repeats the password.
func checkDatabaseURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("--database-url/DATABASE_URL is not set: give the PostgreSQL URL, e.g. postgres://pika:secret@localhost:5432/pika")
	}
	if _, err := pgx.ParseConfig(s); err != nil {
		return "", fmt.Errorf("--database-url/DATABASE_URL is not a PostgreSQL URL like postgres://user:password@host:5432/db (%v)", oneLine(err.Error()))
	}
	return s, nil
}

// oneLine keeps an error to one line of the terminal.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
