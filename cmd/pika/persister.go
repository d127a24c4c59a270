package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/pika-dj/pika/persister"
)

// persister runs `pika persister`: the DJs' streams into PostgreSQL until
// Ctrl-C or SIGTERM, which stops fetching, finishes the batch in hand and
// exits 0. Whatever was not acknowledged is redelivered to the next run.
func (a *app) persister(ctx context.Context, args []string) (err error) {
	cfg, err := parsePersister(args, a.getenv, a.stdout)
	if err != nil {
		return err // errHelp included: run treats it as done
	}
	log, reg, finish, err := a.startCommand(cfg.LogLevel, cfg.Obs)
	if err != nil {
		return err
	}
	defer func() { finish(err) }()

	// NATS may start after us (compose, a rolling restart): connect in the
	// background and let the persister's retries wait for it.
	nc, err := connectCluster(cfg.NATSURL, cfg.NATS, "pika-persister", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open JetStream: %w", err)
	}
	// A pool of one connection of our own, only for the health check: the
	// persister's writers have theirs.
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL for the health check: %w", err)
	}
	pcfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, pcfg) // does not connect yet
	if err != nil {
		return fmt.Errorf("PostgreSQL for the health check: %w", err)
	}
	defer pool.Close()

	g, gctx := errgroup.WithContext(ctx)
	// Ready when NATS is connected and PostgreSQL answers: compose's
	// health check reads /healthz on PIKA_METRICS_LISTEN.
	ready := func(ctx context.Context) error {
		if !nc.IsConnected() {
			return errors.New("NATS is not connected")
		}
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("PostgreSQL does not answer: %w", err)
		}
		return nil
	}
	if err := serveMetrics(gctx, g, cfg.Obs, reg, ready, log); err != nil {
		return err
	}
	g.Go(func() error {
		<-gctx.Done()
		if ctx.Err() != nil {
			log.Info("stopping: finishing the batch in hand (Ctrl-C again to quit at once; nothing unacknowledged is lost)")
		}
		if a.stopSignals != nil {
			a.stopSignals() // a second Ctrl-C ends the process at once
		}
		return nil
	})
	g.Go(reportPanics(log, "persister", func() error { return persister.RunPostgres(gctx, js, cfg.DatabaseURL, cfg.Streams, reg, log) }))
	return g.Wait()
}
