package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/pika-dj/pika/internal/obs"
)

// obsConfig is how a process is observed: error reports and metrics. Every
// command has it; the rows it reads are in settingsTable.
type obsConfig struct {
	// MetricsListen serves /metrics and /healthz; "" is off.
	MetricsListen string
	// metricsFrom names the setting MetricsListen came from, for the
	// deprecation warning of PIKA_METRICS_ADDR.
	metricsFrom      string
	Environment      string
	SentryDSN        string
	PublicSentryDSN  string
	TracesSampleRate float64 // obs.SentryOptions' convention: negative is off
}

// parseObs reads the observation rows a command has (v holds only its own
// rows) and reports each bad value with badf. The messages never repeat a
// DSN: its key is a credential.
func parseObs(v map[string]string, badf func(format string, a ...any)) obsConfig {
	cfg := obsConfig{Environment: strings.ToLower(strings.TrimSpace(v["environment"])),
		SentryDSN: strings.TrimSpace(v["sentry-dsn"]), PublicSentryDSN: strings.TrimSpace(v["sentry-public-dsn"])}
	if _, ok := v["metrics-listen"]; ok {
		cfg.MetricsListen, cfg.metricsFrom = strings.TrimSpace(v["metrics-listen"]), "--metrics-listen/PIKA_METRICS_LISTEN"
		if old := strings.TrimSpace(v["metrics-addr"]); cfg.MetricsListen == "" && old != "" {
			cfg.MetricsListen, cfg.metricsFrom = old, "--metrics-addr/PIKA_METRICS_ADDR"
		}
		if cfg.MetricsListen != "" {
			if _, port, err := net.SplitHostPort(cfg.MetricsListen); err != nil {
				badf("%s %q: must be host:port, e.g. :9090", cfg.metricsFrom, cfg.MetricsListen)
			} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				badf("%s %q: bad port", cfg.metricsFrom, cfg.MetricsListen)
			}
		}
	}
	switch cfg.Environment {
	case "production", "staging", "development":
	default:
		badf("--environment/PIKA_ENVIRONMENT %q: must be production, staging or development", cfg.Environment)
	}
	for _, d := range []struct{ name, dsn string }{{"--sentry-dsn/SENTRY_DSN", cfg.SentryDSN}, {"--sentry-public-dsn/SENTRY_PUBLIC_DSN", cfg.PublicSentryDSN}} {
		if d.dsn != "" && !sentryDSN(d.dsn) {
			badf("%s: not a Sentry DSN like https://<key>@<host>/<project>", d.name)
		}
	}
	if r := strings.TrimSpace(v["sentry-traces-sample-rate"]); r != "" {
		f, err := strconv.ParseFloat(r, 64)
		switch {
		case err != nil || f < 0 || f > 1:
			badf("--sentry-traces-sample-rate/SENTRY_TRACES_SAMPLE_RATE %q: must be a number from 0 to 1, e.g. 0.05", r)
		case f == 0:
			cfg.TracesSampleRate = -1 // obs reads 0 as its default
		default:
			cfg.TracesSampleRate = f
		}
	}
	return cfg
}

// sentryDSN reports whether s is shaped like https://<key>@<host>/<project>.
func sentryDSN(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User != nil && strings.Trim(u.Path, "/") != ""
}

// startObs turns on this process's error reports and makes its metrics
// registry. Call finish with the command's result before exiting: it
// reports an error that ends the process and sends what is still queued.
// startCommand makes a command's logger at level and starts its error
// reports and metrics registry (startObs); call finish with the command's
// final error.
func (a *app) startCommand(level string, cfg obsConfig) (log *slog.Logger, reg *prometheus.Registry, finish func(error), err error) {
	log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: logLevel(level)}))
	finish, reg, err = startObs(cfg, log)
	return log, reg, finish, err
}

func startObs(cfg obsConfig, log *slog.Logger) (finish func(error), reg *prometheus.Registry, err error) {
	if cfg.metricsFrom == "--metrics-addr/PIKA_METRICS_ADDR" {
		log.Warn("PIKA_METRICS_ADDR/--metrics-addr is deprecated: use PIKA_METRICS_LISTEN/--metrics-listen")
	}
	flush, err := obs.Sentry(obs.SentryOptions{DSN: cfg.SentryDSN, Release: version, Environment: cfg.Environment,
		TracesSampleRate: cfg.TracesSampleRate, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	finish = func(err error) {
		var ue usageError
		if err != nil && !errors.Is(err, context.Canceled) && !errors.As(err, &ue) {
			sentry.CaptureException(err) // scrubbed by obs's BeforeSend
		}
		flush(2 * time.Second)
	}
	return finish, obs.NewRegistry(), nil
}

// serveMetrics serves reg and ready on cfg.MetricsListen, if set, in g
// until ctx ends. It listens at once, so a port that is taken is an error
// at start, not a process that runs without its health check.
func serveMetrics(ctx context.Context, g *errgroup.Group, cfg obsConfig, reg *prometheus.Registry, ready func(context.Context) error, log *slog.Logger) error {
	if cfg.MetricsListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("metrics (%s): listen on %s: %w", cfg.metricsFrom, cfg.MetricsListen, err)
	}
	g.Go(func() error { return obs.ServeMetricsOn(ctx, ln, reg, ready, log.With("part", "metrics")) })
	return nil
}

// reportPanics runs fn and turns a panic in it into an error, reported to
// Sentry first: the process then exits as for any error (its supervisor
// restarts it) and the report says why.
func reportPanics(log *slog.Logger, what string, fn func() error) func() error {
	return func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				obs.ReportPanic(nil, log, what, r)
				err = fmt.Errorf("%s: panic: %s", what, obs.Scrub(fmt.Sprint(r)))
			}
		}()
		return fn()
	}
}

// checkLogLevel reports a bad log level with badf.
func checkLogLevel(level string, badf func(format string, a ...any)) {
	switch level {
	case "debug", "info", "warn", "error":
	default:
		badf("--log-level/PIKA_LOG_LEVEL %q: must be debug, info, warn or error", level)
	}
}
