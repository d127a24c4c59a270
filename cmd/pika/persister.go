package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/pika-dj/pika/persister"
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
	nc, err := connectCluster(cfg.NATSURL, cfg.NATS, "pika-persister", log)
	if err != nil {
		return err
	}
	defer nc.Close()
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
	g.Go(func() error { return persister.RunPostgres(gctx, js, cfg.DatabaseURL, cfg.Streams, reg, log) })
	return g.Wait()
}
