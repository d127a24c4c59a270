package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// CloudDomain is the cloud cluster's JetStream domain by default: DJs'
// leaf servers reach its API as $JS.cloud.API.
const CloudDomain = "cloud"

// NodeConfig says how to run one node of the cloud's JetStream cluster.
// The zero value of each optional field is its documented default.
type NodeConfig struct {
	// Name is the server name, unique in the cluster (and stable across
	// restarts: JetStream's peer id is derived from it). Required.
	Name string
	// ClusterName names the cluster; every node must use the same. Default "pika".
	ClusterName string
	// Domain is the JetStream domain; default CloudDomain.
	Domain string
	// StoreDir holds JetStream's files; it must exist. Required.
	StoreDir string
	// Listen is the client address (host:port; port 0 = any). Required.
	Listen string
	// ClusterListen is the address the other nodes' routes reach. Required.
	ClusterListen string
	// Routes are the other nodes' cluster URLs (nats://host:port). A node
	// may list itself; an unreachable route is retried, never fatal.
	Routes []string
	// WebsocketListen, if set, serves WebSocket on host:port without TLS
	// (the tunnel in front terminates TLS): clients on "/" and the DJs'
	// leaf servers on "/leafnode".
	WebsocketListen string
	// LeafListen is the plain TCP leaf listener. nats-server accepts leaf
	// connections on the WebSocket port only when a leaf listener is
	// configured (server/websocket.go: hasLeaf := LeafNode.Port != 0), so
	// with WebsocketListen it defaults to 127.0.0.1:0, reachable from this
	// host only.
	LeafListen string
	// MonitorListen, if set, serves nats-server's monitoring over HTTP:
	// /healthz (200 when this node serves JetStream and is current with
	// the cluster), /varz, /jsz, /routez, /leafz.
	MonitorListen string
	// NoSyncAlways acknowledges a write once a majority of replicas hold it
	// in memory, syncing every two minutes (JetStream's default). By
	// default a cloud node syncs each write before acknowledging it: see
	// docs/cloud.md for the cost.
	NoSyncAlways bool
	// Auth, if set, decides every client and leaf connection and its
	// permissions (bus/natsauth); nil: anyone who reaches the node may do
	// anything. A natsauth.Authenticator must also be served (its Run, with
	// this node) to make DJs' cloud streams and re-check their tokens.
	Auth server.Authentication
	// Logger receives the server's own log lines; nil discards them.
	Logger *slog.Logger
}

// NodeOptions builds the nats-server options for cfg, checking every field
// the way a person would want to be told: one error naming each mistake.
func NodeOptions(cfg NodeConfig) (*server.Options, error) {
	var bad []string
	badf := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	if cfg.Name == "" {
		badf("no server name")
	} else if strings.ContainsAny(cfg.Name, " \t\r\n.*>") {
		badf("server name %q: no spaces, dots, * or >", cfg.Name)
	}
	domain := cfg.Domain
	if domain == "" {
		domain = CloudDomain
	}
	if strings.ContainsAny(domain, " \t\r\n.*>") {
		badf("JetStream domain %q: no spaces, dots, * or >", domain)
	}
	clusterName := cfg.ClusterName
	if clusterName == "" {
		clusterName = "pika"
	}
	if cfg.StoreDir == "" {
		badf("no store folder")
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		JetStream:          true,
		JetStreamDomain:    domain,
		StoreDir:           cfg.StoreDir,
		SyncAlways:         !cfg.NoSyncAlways,
		NoSigs:             true,
		MaxPayload:         1 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	opts.CustomClientAuthentication = cfg.Auth
	hostPort := func(what, addr string, dstHost *string, dstPort *int) {
		if addr == "" {
			badf("no %s address", what)
			return
		}
		h, p, err := splitHostPort(addr)
		if err != nil {
			badf("%s address %q: must be host:port", what, addr)
			return
		}
		*dstHost, *dstPort = h, p
	}
	hostPort("client", cfg.Listen, &opts.Host, &opts.Port)
	opts.Cluster = server.ClusterOpts{Name: clusterName,
		// Never tell clients or leaves the nodes' internal addresses: the
		// DJs reach the cloud only through the tunnel's public name.
		NoAdvertise: true}
	hostPort("cluster", cfg.ClusterListen, &opts.Cluster.Host, &opts.Cluster.Port)
	for _, r := range cfg.Routes {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		u, err := ParseRoute(r)
		if err != nil {
			badf("%v", err)
			continue
		}
		opts.Routes = append(opts.Routes, u)
	}
	if len(opts.Routes) == 0 && len(bad) == 0 {
		// nats-server refuses a JetStream cluster without routes; say it
		// here, in our words, rather than after the listeners opened.
		badf("no routes: list the other nodes' cluster URLs, e.g. nats://10.0.0.2:6222,nats://10.0.0.3:6222")
	}
	if cfg.WebsocketListen != "" {
		hostPort("websocket", cfg.WebsocketListen, &opts.Websocket.Host, &opts.Websocket.Port)
		// TLS ends at the tunnel (Cloudflare), which speaks plain HTTP to us.
		opts.Websocket.NoTLS = true
		opts.Websocket.HandshakeTimeout = 10 * time.Second
	}
	leaf := cfg.LeafListen
	if leaf == "" && cfg.WebsocketListen != "" {
		leaf = "127.0.0.1:0"
	}
	if leaf != "" {
		hostPort("leaf", leaf, &opts.LeafNode.Host, &opts.LeafNode.Port)
		// Without this, a leaf is told every node's leaf URL and reconnects
		// to them directly, bypassing the tunnel (reference/nats-leaf.md §1).
		opts.LeafNode.NoAdvertise = true
	}
	if cfg.MonitorListen != "" {
		hostPort("monitor", cfg.MonitorListen, &opts.HTTPHost, &opts.HTTPPort)
	}
	if len(bad) > 0 {
		return nil, errors.New("natsserver: " + strings.Join(bad, "; "))
	}
	return opts, nil
}

// ParseRoute reads one route: nats://host:port, the only form a cluster
// route takes (user:password@ is allowed, for clusters with route auth).
func ParseRoute(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme != "nats" || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("route %q: must be a URL like nats://10.0.0.2:6222", s)
	}
	return u, nil
}

// StartNode runs one cloud node and waits until it accepts connections. It
// does not wait for the other nodes: they may start later, and the routes
// are retried until they answer.
func StartNode(ctx context.Context, cfg NodeConfig) (*Server, error) {
	opts, err := NodeOptions(cfg)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: configure node %s: %w", cfg.Name, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The server reports what stops it from starting (a port in use, a store
	// it cannot open) through Fatalf and then only never becomes ready: keep
	// that message to return it.
	fatal := make(chan string, 1)
	ns.SetLoggerV2(nodeLogger{slogAdapter{log}, fatal}, false, false, false)
	go ns.Start()
	deadline := time.Now().Add(15 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	for !ns.ReadyForConnections(100 * time.Millisecond) {
		select {
		case msg := <-fatal:
			ns.Shutdown()
			return nil, fmt.Errorf("natsserver: start node %s: %s", cfg.Name, msg)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			ns.Shutdown()
			return nil, fmt.Errorf("natsserver: node %s not ready in time (see its log)", cfg.Name)
		}
	}
	return &Server{ns: ns, websocket: opts.Websocket.Port != 0}, nil
}

// nodeLogger keeps a cloud node's notices (routes up, leader elected,
// leaves attached) at info: an operator wants them, a DJ does not.
// Its Fatalf messages also go to fatal, the first one only.
type nodeLogger struct {
	slogAdapter
	fatal chan<- string
}

func (a nodeLogger) Noticef(f string, v ...any) { a.l.Info(fmt.Sprintf(f, v...), "src", "nats") }

func (a nodeLogger) Fatalf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	a.l.Error(msg, "src", "nats")
	select {
	case a.fatal <- msg:
	default:
	}
}

// ClusterURL is the URL other nodes' routes use to reach this one.
func (s *Server) ClusterURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats://" + a.String()
}

// MonitorURL is the base of the monitoring endpoints, or "" without them.
func (s *Server) MonitorURL() string {
	a := s.ns.MonitorAddr()
	if a == nil {
		return ""
	}
	return "http://" + a.String()
}

// WebsocketURL is the ws:// URL of the WebSocket listener (leaves append
// /leafnode themselves), or "" without one.
func (s *Server) WebsocketURL() string {
	if !s.websocket {
		return ""
	}
	return s.ns.WebsocketURL()
}

// Name is the server's name.
func (s *Server) Name() string { return s.ns.Name() }
