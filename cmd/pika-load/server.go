package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/desktop"
	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/gateway"
	"github.com/pika-dj/pika/persister"
)

// server is what `pika lan` runs (embedded JetStream, session engine, crowd
// owner, gateway, history watcher), built the same way as cmd/pika/lan.go,
// so the generator can play the DJ through Engine.Play (the bus and the
// fan-out alone, no file polling) and see the server's side of a fan-out.
type server struct {
	Addr    string // the dancers' host:port
	History string // the watched history file (drive mode "file")
	eng     *desktop.Engine
	gw      *gateway.Gateway
	probe   *probe
	cancel  context.CancelFunc
	done    chan error
}

type serverOpts struct {
	Data  string // data folder; a temporary one when empty
	Addr  string // listen address; 127.0.0.1:0 when empty
	Probe bool   // count track frames as the server writes them (a small wrapper per socket)
	// DatabaseURL, when set, runs the persister as `pika lan --database-url`
	// does: every event and crowd action also goes to PostgreSQL.
	DatabaseURL string
	Logger      *slog.Logger
}

// startServer starts a server that runs until ctx ends or Close.
func startServer(ctx context.Context, o serverOpts) (s *server, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tmp := ""
	if o.Data == "" {
		if tmp, err = os.MkdirTemp("", "pika-load-"); err != nil {
			return nil, fmt.Errorf("make data folder: %w", err)
		}
		o.Data = tmp
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	if tmp != "" {
		cleanup = append(cleanup, func() { os.RemoveAll(tmp) })
	}
	id, err := bus.LoadIdentity(o.Data)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	ns, err := natsserver.Start(ctx, natsserver.Config{StoreDir: filepath.Join(o.Data, "jetstream"), Domain: id.DJ, Logger: log.With("part", "nats")})
	if err != nil {
		return nil, fmt.Errorf("start the event store: %w", err)
	}
	cleanup = append(cleanup, ns.Shutdown)
	nc, err := ns.Connect("pika-load")
	if err != nil {
		return nil, fmt.Errorf("connect to the event store: %w", err)
	}
	cleanup = append(cleanup, nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	_, kv, err := bus.EnsureDJ(ctx, js, id.DJ)
	if err != nil {
		return nil, fmt.Errorf("create streams: %w", err)
	}
	eng, err := desktop.New(desktop.Config{DJ: id.DJ, DJName: "DJ Load", JS: js, KV: kv, Logger: log.With("part", "sessions")})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := eng.Start(ctx); err != nil {
		return nil, fmt.Errorf("recover sessions: %w", err)
	}
	owner, err := desktop.NewOwner(ctx, eng, desktop.OwnerConfig{Conn: nc, JS: js, Logger: log.With("part", "crowd")})
	if err != nil {
		return nil, fmt.Errorf("crowd owner: %w", err)
	}
	hist := filepath.Join(o.Data, "history.m3u")
	if err := os.WriteFile(hist, []byte("\ufeff"), 0o644); err != nil {
		return nil, fmt.Errorf("history file: %w", err)
	}
	w, err := detect.NewWatcher(detect.WatchConfig{Path: hist, Logger: log.With("part", "watch")})
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	if err := w.Prime(); err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	gw, err := gateway.New(gateway.Config{
		JS: js, Conn: nc, KV: kv, Stream: bus.StreamName(id.DJ), ActionsStream: bus.ActionsStreamName(id.DJ),
		Logger: log.With("part", "gateway"),
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	var ln net.Listener
	if ln, err = net.Listen("tcp", o.Addr); err != nil {
		_ = gw.Shutdown(context.Background())
		return nil, fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	s = &server{Addr: ln.Addr().String(), History: hist, eng: eng, gw: gw, done: make(chan error, 1)}
	serveLn := ln
	if o.Probe {
		s.probe = &probe{}
		serveLn = &probeListener{Listener: ln, p: s.probe}
	}
	rctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	g, gctx := errgroup.WithContext(rctx)
	g.Go(func() error { return gw.Serve(serveLn) })
	g.Go(func() error {
		<-gctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		return gw.Shutdown(sctx)
	})
	g.Go(func() error { return eng.Run(gctx) })
	g.Go(func() error { return owner.Run(gctx) })
	if o.DatabaseURL != "" {
		streams := []string{bus.StreamName(id.DJ), bus.ActionsStreamName(id.DJ)}
		g.Go(func() error { return persister.RunPostgres(gctx, js, o.DatabaseURL, streams, nil, log) })
	}
	g.Go(func() error {
		return w.Run(gctx, func(ctx context.Context, e detect.Entry) error {
			_, _, err := eng.Play(ctx, desktop.Detected{Track: e.Track(), At: e.PlayedAt, Key: e.ID, Source: e.Source})
			if errors.Is(err, bus.ErrInvalid) {
				return nil
			}
			return err
		})
	})
	go func() {
		err := g.Wait()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		s.done <- err
	}()
	cleanup = nil // the goroutine above owns them now
	return s, nil
}

// Play records a play through the engine: the DJ side without a file.
func (s *server) Play(ctx context.Context, title string) (string, error) {
	t := bus.NewTrack(loadArtist, title)
	t.BPM = 96
	ev, _, err := s.eng.Play(ctx, desktop.Detected{Track: t, Source: "manual"})
	if err != nil {
		return "", fmt.Errorf("play %q: %w", title, err)
	}
	return ev.Session, nil
}

// End ends the current session (the next play starts another).
func (s *server) End(ctx context.Context) error {
	if err := s.eng.End(ctx, bus.EndByDJ); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// Sockets is the gateway's open socket count.
func (s *server) Sockets() int { return s.gw.Sockets() }

// Close stops the server and waits for it.
func (s *server) Close() error {
	s.cancel()
	select {
	case err := <-s.done:
		return err
	case <-time.After(20 * time.Second):
		return errors.New("server did not stop within 20 s")
	}
}

// probe sees every byte the gateway writes to a socket: it counts the
// track frames of the generator (titled "pika-load #k") and when the last
// one left the server, which is the server's own fan-out completion,
// apart from what the phones see.
type probe struct {
	mu     sync.Mutex
	tracks map[int]*fanout
	closes atomic.Int64
}

type fanout struct {
	Writes int   `json:"writes"`
	First  int64 `json:"first"` // unix ns the first frame's write returned
	Last   int64 `json:"last"`  // unix ns the last frame's write returned
}

func (p *probe) saw(k int, now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tracks == nil {
		p.tracks = map[int]*fanout{}
	}
	f := p.tracks[k]
	if f == nil {
		f = &fanout{First: now}
		p.tracks[k] = f
	}
	f.Writes++
	f.Last = now
}

func (p *probe) get(k int) fanout {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.tracks[k]; f != nil {
		return *f
	}
	return fanout{}
}

type probeListener struct {
	net.Listener
	p *probe
}

func (l *probeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &probeConn{Conn: c, p: l.p}, nil
}

type probeConn struct {
	net.Conn
	p *probe
}

// SetWriteBuffer passes the gateway's send-buffer cap on to the socket, so
// the probe does not change what is measured.
func (c *probeConn) SetWriteBuffer(n int) error {
	if wb, ok := c.Conn.(interface{ SetWriteBuffer(int) error }); ok {
		return wb.SetWriteBuffer(n)
	}
	return nil
}

// SyscallConn passes the socket on, so the gateway can ask the kernel how
// full its send buffer is (its slow lane) through the probe.
func (c *probeConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("not a system socket")
}

func (c *probeConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err == nil {
		// A track frame is small and written whole (a prepared message is
		// one write), so one scan finds its marker.
		if string(frameType(b)) == typeTrackPlayed {
			if k, ok := trackMarker(b); ok {
				c.p.saw(k, time.Now().UnixNano())
			}
		}
	}
	return n, err
}

func (c *probeConn) Close() error {
	c.p.closes.Add(1)
	return c.Conn.Close()
}

const (
	loadArtist  = "Pika Load"
	titlePrefix = "pika-load #"
)

// trackMarker finds "pika-load #<k>" in b. Snapshots also carry titles,
// so callers check the frame type first where it matters; a raw write of
// a track.played frame holds exactly one marker.
func trackMarker(b []byte) (int, bool) {
	i := indexOf(b, titlePrefix)
	if i < 0 {
		return 0, false
	}
	j := i + len(titlePrefix)
	k := j
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	n, err := strconv.Atoi(string(b[j:k]))
	if err != nil {
		return 0, false
	}
	return n, true
}
