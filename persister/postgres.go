package persister

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pika-dj/pika/migrations"
	"github.com/pika-dj/pika/persister/pgstore"
)

// RunPostgres waits for PostgreSQL, applies the migrations, and runs the
// persister on js until ctx ends (then it returns nil): what `pika
// persister`, `pika lan` with DATABASE_URL and the load generator run.
func RunPostgres(ctx context.Context, js jetstream.JetStream, databaseURL string, streams []string, reg prometheus.Registerer, log *slog.Logger) error {
	if err := migrateWhenUp(ctx, databaseURL, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	store, err := pgstore.Open(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := New(Config{JS: js, Store: store, Streams: streams, Metrics: reg, Logger: log.With("part", "persister")})
	if err != nil {
		return err
	}
	if len(streams) == 0 {
		log.Info("persisting every stream of sessions and actions, the cloud's copies too (DJ_, ACT_, CLOUD_DJ_, CLOUD_ACT_, CLOUD_CROWD_)")
	} else {
		log.Info("persisting", "streams", streams)
	}
	return p.Run(ctx)
}

// migrateWhenUp applies pending migrations, first waiting (with backoff,
// one log line per change) for PostgreSQL to answer: a database that is
// still starting is not a reason to exit. A failing migration is.
func migrateWhenUp(ctx context.Context, databaseURL string, log *slog.Logger) error {
	db, err := migrations.Open(databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	wait, waiting := 100*time.Millisecond, false
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := db.PingContext(pctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !waiting {
			log.Warn("PostgreSQL does not answer yet; retrying", "err", err)
			waiting = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait/2 + rand.N(wait/2+1)):
		}
		wait = min(2*wait, 5*time.Second)
	}
	applied, err := migrations.UpReport(ctx, db)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "applied", applied)
	} else {
		log.Info("database schema is up to date")
	}
	return nil
}
