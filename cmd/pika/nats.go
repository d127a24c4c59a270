package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/bus/natsauth"
	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/internal/obs"
	"github.com/pika-dj/pika/persister/pgstore"
)

// minPasswordLen: service passwords are machine-made secrets, never typed
// by a person, so a short one is a mistake.
const minPasswordLen = 16

// natsConfig is `pika nats`'s effective configuration.
type natsConfig struct {
	Node     natsserver.NodeConfig
	LogLevel string
	// Authorization (docs/cloud.md): with none of these set the node lets
	// anyone who reaches it do anything, and says so at start.
	DatabaseURL                                       string
	GatewayPassword, PersisterPassword, AdminPassword string
	Obs                                               obsConfig
}

// authOn reports whether the node checks who connects.
func (c natsConfig) authOn() bool {
	return c.DatabaseURL != "" || c.GatewayPassword != "" || c.PersisterPassword != "" || c.AdminPassword != ""
}

// parseNATS builds and validates `pika nats`'s configuration: every
// mistake is one line, and the node's own checks run here too, so a bad
// route is reported before anything listens.
func parseNATS(args []string, getenv func(string) string, help io.Writer) (natsConfig, error) {
	v, err := parseSettings("nats", natsSettings(), args, getenv, help)
	if err != nil {
		return natsConfig{}, err
	}
	var bad []string
	badf := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	off := func(s string) string {
		if s = strings.TrimSpace(s); strings.EqualFold(s, "off") {
			return ""
		}
		return s
	}
	n := natsserver.NodeConfig{Name: strings.TrimSpace(v["name"]), ClusterName: strings.TrimSpace(v["cluster-name"]),
		Domain: strings.TrimSpace(v["domain"]), StoreDir: strings.TrimSpace(v["data"]),
		Listen: strings.TrimSpace(v["listen"]), ClusterListen: strings.TrimSpace(v["cluster-listen"]),
		WebsocketListen: off(v["ws-listen"]), LeafListen: off(v["leaf-listen"]), MonitorListen: off(v["monitor-listen"])}
	cfg := natsConfig{Node: n, LogLevel: strings.ToLower(v["log-level"]), DatabaseURL: strings.TrimSpace(v["database-url"]),
		GatewayPassword: v["gateway-password"], PersisterPassword: v["persister-password"], AdminPassword: v["admin-password"]}
	for _, p := range []struct{ name, env, pw string }{
		{"gateway-password", "PIKA_NATS_GATEWAY_PASSWORD", cfg.GatewayPassword},
		{"persister-password", "PIKA_NATS_PERSISTER_PASSWORD", cfg.PersisterPassword},
		{"admin-password", "PIKA_NATS_ADMIN_PASSWORD", cfg.AdminPassword},
	} {
		if p.pw != "" && len(p.pw) < minPasswordLen {
			badf("--%s/%s: at least %d characters (e.g. openssl rand -base64 24)", p.name, p.env, minPasswordLen)
		}
	}
	if cfg.DatabaseURL != "" {
		if u, err := url.Parse(cfg.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			badf("--database-url/PIKA_NATS_DATABASE_URL: must be a URL like postgres://user@host/pika")
		}
	}

	if n.Name == "" || strings.ContainsAny(n.Name, " \t.*>") {
		badf("--name/PIKA_NATS_NAME %q: a name without spaces, dots, * or > is required", n.Name)
	}
	if n.Domain == "" || strings.ContainsAny(n.Domain, " \t.*>") {
		badf("--domain/PIKA_NATS_DOMAIN %q: a name without spaces, dots, * or >", n.Domain)
	}
	if n.ClusterName == "" || strings.ContainsAny(n.ClusterName, " \t") {
		badf("--cluster-name/PIKA_NATS_CLUSTER %q: a name without spaces", n.ClusterName)
	}
	// A missing folder is refused, not made: a mistyped volume path would
	// otherwise keep the cluster's data on a disk that is thrown away.
	if n.StoreDir == "" {
		badf("--data/PIKA_NATS_DATA: required, the folder for this node's JetStream files")
	} else if st, err := os.Stat(n.StoreDir); err != nil || !st.IsDir() {
		badf("--data/PIKA_NATS_DATA %q: no such folder (create it, or mount the volume)", n.StoreDir)
	}
	for _, a := range []struct{ name, env, addr string }{
		{"listen", "PIKA_NATS_LISTEN", n.Listen}, {"cluster-listen", "PIKA_NATS_CLUSTER_LISTEN", n.ClusterListen},
		{"ws-listen", "PIKA_NATS_WS_LISTEN", n.WebsocketListen}, {"leaf-listen", "PIKA_NATS_LEAF_LISTEN", n.LeafListen},
		{"monitor-listen", "PIKA_NATS_MONITOR_LISTEN", n.MonitorListen},
	} {
		if a.addr == "" && (a.name == "listen" || a.name == "cluster-listen") {
			badf("--%s/%s: required, host:port", a.name, a.env)
			continue
		}
		if a.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.addr); err != nil {
			badf("--%s/%s %q: must be host:port, e.g. :4222", a.name, a.env, a.addr)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			badf("--%s/%s %q: bad port", a.name, a.env, a.addr)
		}
	}
	for _, r := range strings.Split(v["routes"], ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.Node.Routes = append(cfg.Node.Routes, r)
		}
	}
	if len(cfg.Node.Routes) == 0 {
		badf("--routes/PIKA_NATS_ROUTES: required, the nodes' cluster URLs, e.g. nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222")
	} else if err := checkRoutes(cfg.Node.Routes); err != nil {
		badf("--routes/PIKA_NATS_ROUTES: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	switch strings.ToLower(strings.TrimSpace(v["sync"])) {
	case "always":
	case "interval":
		cfg.Node.NoSyncAlways = true
	default:
		badf("--sync/PIKA_NATS_SYNC %q: must be always or interval", v["sync"])
	}
	checkLogLevel(cfg.LogLevel, badf)
	cfg.Obs = parseObs(v, badf)
	if len(bad) > 0 {
		return cfg, usageError{"pika nats: bad configuration:\n  " + strings.Join(bad, "\n  ")}
	}
	return cfg, nil
}

// checkRoutes checks each route is nats://host:port; that a node does not
// answer is not a configuration error (nodes start in any order).
func checkRoutes(routes []string) error {
	var bad []error
	for _, r := range routes {
		if _, err := natsserver.ParseRoute(r); err != nil {
			bad = append(bad, err)
		}
	}
	return errors.Join(bad...)
}

// nats runs `pika nats`: one cloud node until Ctrl-C or SIGTERM, which
// shuts it down cleanly (its replicas' leaders move to the other nodes).
// Routes that do not answer yet are retried and logged, never fatal: the
// nodes of a cluster start in any order.
func (a *app) nats(ctx context.Context, args []string) (err error) {
	cfg, err := parseNATS(args, a.getenv, a.stdout)
	if err != nil {
		return err // errHelp included: run treats it as done
	}
	log, reg, finish, err := a.startCommand(cfg.LogLevel, cfg.Obs)
	if err != nil {
		return err
	}
	defer func() { finish(err) }()
	cfg.Node.Logger = log
	var auth *natsauth.Authenticator
	if cfg.authOn() {
		acfg := natsauth.Config{GatewayPassword: cfg.GatewayPassword, PersisterPassword: cfg.PersisterPassword,
			AdminPassword: cfg.AdminPassword, CloudDomain: cfg.Node.Domain, Logger: log.With("part", "auth")}
		if cfg.DatabaseURL != "" {
			// Open does not connect: a database still starting only
			// refuses DJs until it answers (each check says why).
			store, err := pgstore.Open(ctx, cfg.DatabaseURL)
			if err != nil {
				return fmt.Errorf("pika nats: DJ accounts database: %w", err)
			}
			defer store.Close()
			acc, err := accounts.New(store.Pool(), accounts.Options{Logger: log.With("part", "accounts")})
			if err != nil {
				return fmt.Errorf("pika nats: DJ accounts: %w", err)
			}
			acfg.Tokens = acc
		} else {
			log.Warn("no --database-url/PIKA_NATS_DATABASE_URL: no DJ can connect to this node (their API tokens cannot be checked)")
		}
		auth = natsauth.New(acfg)
		cfg.Node.Auth = auth
	} else {
		log.Warn("no authorization: anyone who reaches this node may do anything; set PIKA_NATS_DATABASE_URL and the PIKA_NATS_*_PASSWORD variables (docs/cloud.md)")
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	s, err := natsserver.StartNode(sctx, cfg.Node)
	cancel()
	if err != nil {
		return err
	}
	log.Info("nats node ready", "name", s.Name(), "domain", cfg.Node.Domain, "client", s.ClientURL(), "cluster", s.ClusterURL(),
		"websocket", s.WebsocketURL(), "monitor", s.MonitorURL(), "sync_always", !cfg.Node.NoSyncAlways, "auth", cfg.authOn())
	reg.MustRegister(natsserver.NewCollector(s))
	g, gctx := errgroup.WithContext(ctx)
	if err := serveMetrics(gctx, g, cfg.Obs, reg, nodeReady(s.MonitorURL()), log); err != nil {
		s.Shutdown()
		return err
	}
	g.Go(func() error {
		defer obs.Recover(nil, log, "nats: DJ links")
		if auth != nil && auth.AcceptsDJs() {
			// Creates each DJ's cloud streams when the DJ first connects,
			// and closes the links of tokens revoked after they connected.
			// An error is logged by Run; the node serves on without it.
			_ = auth.Run(gctx, s)
		}
		return nil
	})
	g.Go(func() error { <-gctx.Done(); return nil })
	err = g.Wait()
	log.Info("stopping the nats node")
	if a.stopSignals != nil {
		a.stopSignals() // a second Ctrl-C ends the process at once
	}
	s.Shutdown()
	return err
}

// nodeReady is a node's health for /healthz on PIKA_METRICS_LISTEN: its
// own monitor's /healthz (JetStream serving with the cluster), or, with
// the monitor off, that it runs.
func nodeReady(monitorURL string) func(context.Context) error {
	if monitorURL == "" {
		return nil
	}
	return func(ctx context.Context) error {
		return checkHealth(ctx, monitorURL+"/healthz")
	}
}
