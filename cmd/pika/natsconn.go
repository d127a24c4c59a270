package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// unreachableGrace is how long a cloud service tolerates the cluster not
// answering before its retry lines become errors: a rolling deploy may
// start gateways and the persister before the nodes.
const unreachableGrace = 30 * time.Second

// unreachableEvery spaces the lines saying the cluster is still unreachable.
const unreachableEvery = 5 * time.Second

// connectCluster connects a cloud service (`pika gateway`, `pika persister`)
// to the NATS cluster as creds. It never waits for the cluster: an
// unreachable cluster is retried in the background forever, each failed
// attempt logged (a warning for the first unreachableGrace, an error after),
// and the caller's readiness follows the connection. What is sent meanwhile
// is buffered or fails with its own timeout.
func connectCluster(urls string, creds natsCreds, name string, log *slog.Logger) (*nats.Conn, error) {
	var mu sync.Mutex
	down := time.Now() // when the cluster stopped answering
	var said time.Time // when a failed attempt was last logged
	failed := 0        // attempts since then
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			mu.Lock()
			down, said, failed = time.Now(), time.Time{}, 0
			mu.Unlock()
			log.Warn("lost the NATS connection; reconnecting", "err", err)
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			// Each node is tried in turn every second: one line every
			// unreachableEvery says the same without flooding the log.
			mu.Lock()
			failed++
			since, attempts, quiet := time.Since(down), failed, time.Since(said) < unreachableEvery
			if !quiet {
				said, failed = time.Now(), 0
			}
			mu.Unlock()
			if quiet {
				return
			}
			level := slog.LevelWarn
			if since >= unreachableGrace {
				level = slog.LevelError
			}
			log.Log(context.Background(), level, "NATS cluster unreachable; retrying", "url", urls, "for", since.Round(time.Second), "attempts", attempts, "err", err)
		}),
		nats.ConnectHandler(func(c *nats.Conn) { log.Info("connected to NATS", "url", c.ConnectedUrlRedacted()) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("connected to NATS", "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("NATS", "err", err) }),
	}
	if creds.User != "" {
		opts = append(opts, nats.UserInfo(creds.User, creds.Password))
	}
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	if !nc.IsConnected() { // connected: ConnectHandler says so
		log.Warn("NATS cluster does not answer yet; retrying in the background", "url", urls)
	}
	return nc, nil
}
