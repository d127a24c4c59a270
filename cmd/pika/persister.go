package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/pika-dj/pika/migrations"
	"github.com/pika-dj/pika/persister"
	"github.com/pika-dj/pika/persister/pgstore"
)

// persister runs `pika persister`: the DJs' streams into PostgreSQL until
// Ctrl-C or SIGTERM, which stops fetching, finishes the batch in hand and
// exits 0. Whatever was not acknowledged is redelivered to the next run.
func (a *app) persister(ctx context.Context, args []string) error {
	cfg, err := parsePersister(args, a.getenv, a.stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))

	// NATS may start after us (compose, a rolling restart): connect in the
	// background and let the persister's retries wait for it.
	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name("pika-persister"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("lost the NATS connection; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("connected to NATS", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	if nc.IsConnected() {
		log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted())
	} else {
		log.Warn("NATS does not answer yet; retrying", "url", cfg.NATSURL)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open JetStream: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g, gctx := errgroup.WithContext(ctx)
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: listen on %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
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
	g.Go(func() error { return persist(gctx, js, cfg.DatabaseURL, cfg.Streams, reg, log) })
	return g.Wait()
}

// persist waits for PostgreSQL, applies the migrations, and runs the
// persister on js until ctx ends (then it returns nil). Shared by `pika
// persister` and `pika lan` with DATABASE_URL.
func persist(ctx context.Context, js jetstream.JetStream, databaseURL string, streams []string, reg prometheus.Registerer, log *slog.Logger) error {
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
	p, err := persister.New(persister.Config{JS: js, Store: store, Streams: streams, Metrics: reg, Logger: log.With("part", "persister")})
	if err != nil {
		return err
	}
	if len(streams) == 0 {
		log.Info("persisting every DJ_ and ACT_ stream")
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
