package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry is a registry with the Go runtime's and the process's
// collectors (memory, goroutines, CPU, open files) already in it; each
// part registers its own series on it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// MetricsHandler serves reg's series at /metrics and the process's health
// at /healthz: 200 "ok" when ready (nil: always ready) returns nil, else
// 503 with the reason. ready is given the request's context, bounded to
// 3 s.
func MetricsHandler(reg *prometheus.Registry, ready func(context.Context) error, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slogPrinter{log}}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
			defer cancel()
			if err := ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintln(w, Scrub(err.Error()))
				return
			}
		}
		_, _ = fmt.Fprintln(w, "ok")
	})
	return mux
}

// ServeMetrics serves MetricsHandler on addr (PIKA_METRICS_LISTEN, e.g.
// ":9090"), a listener of its own and never the dancers' port, until ctx
// ends. It returns nil after ctx ends, or the error that stopped it (the
// address is taken, ...). `pika health http://127.0.0.1:9090/healthz` is
// the container's health check against it.
func ServeMetrics(ctx context.Context, addr string, reg *prometheus.Registry, ready func(context.Context) error, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("obs: listen for metrics on %s: %w", addr, err)
	}
	return ServeMetricsOn(ctx, ln, reg, ready, log)
}

// ServeMetricsOn is ServeMetrics on a listener the caller opened (tests
// use 127.0.0.1:0). It closes ln.
func ServeMetricsOn(ctx context.Context, ln net.Listener, reg *prometheus.Registry, ready func(context.Context) error, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           MetricsHandler(reg, ready, log),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	stopped, served := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-served:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics and health", "addr", ln.Addr().String())
	err := srv.Serve(ln)
	close(served)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("obs: serve metrics: %w", err)
}

// slogPrinter adapts slog to promhttp's ErrorLog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics", "err", fmt.Sprint(v...)) }
