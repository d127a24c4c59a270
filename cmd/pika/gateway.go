package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/pika-dj/pika/gateway"
	"github.com/pika-dj/pika/web"
)

// gateway runs `pika gateway`: one of the cloud's gateways, serving every
// DJ's sessions from the cluster's CLOUD_* streams to dancers' phones, with
// the web pages and the REST API. It holds nothing another replica could
// not rebuild, so a load balancer may send a phone to any of them.
//
// It starts serving at once, whether or not the cluster answers (a rolling
// deploy may start gateways before the nodes): /healthz answers 503 until
// JetStream does, so the load balancer sends no dancers meanwhile.
// SIGTERM or Ctrl-C drains: /healthz says "draining" for the notice, so the
// load balancer sends no new dancers, then every socket is told to
// reconnect (to another gateway) before the process exits.
func (a *app) gateway(ctx context.Context, args []string) (err error) {
	cfg, err := parseGateway(args, a.getenv, a.stdout, defaultGatewayID)
	if err != nil {
		return err // errHelp included: run treats it as done
	}
	log, reg, finish, err := a.startCommand(cfg.LogLevel, cfg.Obs)
	if err != nil {
		return err
	}
	defer func() { finish(err) }()

	nc, err := connectCluster(cfg.NATSURL, cfg.NATS, "pika-gateway "+cfg.ID, log.With("part", "nats"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open JetStream: %w", err)
	}
	db, err := openDBParts(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer db.Close()

	gw, err := gateway.New(gateway.Config{
		Cloud: true, JS: js, Conn: nc, Assets: web.Assets(), ID: cfg.ID,
		PublicURL: cfg.PublicURL, CORSOrigin: cfg.CORSOrigin, History: db.History, Accounts: db.Accounts,
		Metrics: reg, PublicSentryDSN: cfg.Obs.PublicSentryDSN, Release: version, Environment: cfg.Obs.Environment,
		Logger: log.With("part", "gateway"),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = gw.Shutdown(context.Background())
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	log.Info("serving dancers", "addr", ln.Addr().String(), "id", cfg.ID, "history", cfg.DatabaseURL != "")

	g, gctx := errgroup.WithContext(ctx)
	if err := serveMetrics(gctx, g, cfg.Obs, reg, gw.Ready, log); err != nil {
		ln.Close()
		_ = gw.Shutdown(context.Background())
		return err
	}
	g.Go(func() error { return gw.Serve(ln) })
	g.Go(func() error {
		<-gctx.Done()
		if a.stopSignals != nil {
			a.stopSignals() // a second Ctrl-C ends the process at once
		}
		log.Info("stopping: draining, then telling phones to reconnect to another gateway", "notice", cfg.DrainNotice)
		// The sockets' closing gets 8 s after the notice: together within
		// what a container platform is told to wait after SIGTERM.
		sctx, cancel := context.WithTimeout(context.Background(), cfg.DrainNotice+8*time.Second)
		defer cancel()
		return gw.Drain(sctx, cfg.DrainNotice)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// defaultGatewayID is gw-<host name>-<8 random hex digits>: readable in
// presence reports, and unique even for two gateways on one host or a
// gateway restarted in the same container.
func defaultGatewayID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == '.' || r == ' ' || r == '*' || r == '>' {
			return '-'
		}
		return r
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	if host == "" {
		return "gw-" + hex.EncodeToString(b[:])
	}
	return "gw-" + host + "-" + hex.EncodeToString(b[:])
}
