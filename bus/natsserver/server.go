// Package natsserver runs the NATS server with JetStream embedded in a Pika!
// process: on the DJ's laptop it is where every event is stored first, and
// in tests it is the real thing a test talks to.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus/cloud"
)

// Config says how to run the embedded server. The zero value of each field
// is its documented default.
type Config struct {
	// StoreDir holds JetStream's files. Required.
	StoreDir string
	// Domain is the JetStream domain: the DJ id on a DJ's laptop, so the same
	// subjects can later cross a leaf link to the cloud's own domain.
	Domain string
	// Name is the server name; default "pika-" + Domain.
	Name string
	// Listen, if set (host:port, port 0 = any), opens a client port for
	// other processes. Empty means in-process connections only.
	Listen string
	// NoSync turns off fsync before acknowledging. Only benchmarks set it:
	// a DJ's laptop syncs every write, because a battery that dies mid-set
	// must not lose an acknowledged play (JetStream's default syncs every
	// two minutes).
	NoSync bool
	// Leaf, if set, links this server to the cloud as a leaf node
	// (ws://, wss://, nats-leaf:// or tls://; the DJ's credentials as the
	// URL's user and password). The link is made and remade in the
	// background: an unreachable cloud never stops the server, and local
	// clients keep working while it is down.
	Leaf *url.URL
	// Logger receives the server's own log lines; nil discards them.
	Logger *slog.Logger
}

// Server is a running embedded server.
type Server struct {
	ns *server.Server
	// websocket: a WebSocket listener was configured (cloud nodes).
	websocket bool
}

// Start runs the server and waits until it serves JetStream.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsserver: no store folder")
	}
	name := cfg.Name
	if name == "" {
		name = "pika-" + cfg.Domain
	}
	opts := &server.Options{
		ServerName:         name,
		JetStream:          true,
		JetStreamDomain:    cfg.Domain,
		StoreDir:           cfg.StoreDir,
		SyncAlways:         !cfg.NoSync,
		DontListen:         cfg.Listen == "",
		NoSigs:             true,
		MaxPayload:         1 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	} else {
		opts.Port = server.RANDOM_PORT // unused: DontListen
	}
	if cfg.Leaf != nil {
		remote, err := cloud.LeafRemote(cfg.Leaf, "")
		if err != nil {
			return nil, fmt.Errorf("natsserver: %w", err)
		}
		cloud.ConfigureLeaf(opts, remote)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: configure: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(slogAdapter{cfg.Logger}, false, false, false)
	}
	go ns.Start()
	deadline := 15 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !ns.ReadyForConnections(deadline) {
		ns.Shutdown()
		return nil, fmt.Errorf("natsserver: not ready after %s (store %s)", deadline, cfg.StoreDir)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, errors.New("natsserver: JetStream did not start; see the server log")
	}
	return &Server{ns: ns}, nil
}

// Connect opens a client connection. In-process connections skip the
// network entirely; name labels the connection in the server's monitoring.
func (s *Server) Connect(name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{
		nats.Name(name),
		nats.InProcessServer(s.ns),
		nats.MaxReconnects(-1),
	}, extra...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("natsserver: connect %s: %w", name, err)
	}
	return nc, nil
}

// LeafLinked reports whether a leaf link is up right now: on a DJ's
// server, whether it reaches the cloud.
func (s *Server) LeafLinked() bool { return s.ns.NumLeafNodes() > 0 }

// ClientURL is the URL other processes use, or "" without Listen.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// Shutdown stops the server and waits for it to finish writing.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("natsserver: listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("natsserver: listen address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// slogAdapter sends the server's printf-style log to slog.
type slogAdapter struct{ l *slog.Logger }

// Notices (the startup banner, "server is ready") are debug detail to a DJ.
func (a slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...), "src", "nats") }
func (a slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...), "src", "nats") }
func (a slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...), "src", "nats") }
func (a slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...), "src", "nats") }
func (a slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...), "src", "nats") }
func (a slogAdapter) Tracef(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...), "src", "nats") }

// SyncAlways reports whether JetStream syncs every write before it
// acknowledges it.
func (s *Server) SyncAlways() bool {
	c := s.ns.JetStreamConfig()
	return c != nil && c.SyncAlways
}
