package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/getsentry/sentry-go"
	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
)

// Config configures a Gateway. The zero value of each optional field is
// the default written beside it.
type Config struct {
	JS     jetstream.JetStream // required
	Conn   *nats.Conn          // core NATS: tallies, presence, DJ commands; required
	KV     jetstream.KeyValue  // the sessions bucket; required on the LAN
	Stream string              // the stream holding session events; required on the LAN
	// ActionsStream holds dancers' actions (bus.ActionsStreamName of the
	// DJ); required on the LAN, since only the caller knows the DJ id.
	ActionsStream string
	// Cloud serves every DJ's sessions from the cloud cluster (JS and
	// Conn are the cluster's; KV, Stream and ActionsStream are unused):
	// see cloud.go. DJ consoles and commands are refused there, since only
	// the DJ's laptop checks the DJ secret.
	Cloud  bool
	Assets fs.FS // the web pages (web.Assets()); nil serves none
	// History reads what PostgreSQL keeps (persister/pgstore); nil: no
	// database, recaps come from the streams and the other history
	// endpoints answer 503 no_database.
	History History

	Accounts Accounts // DJ accounts and API tokens (*accounts.Store); nil: no database, those endpoints answer 503
	// ID names this gateway in presence reports; empty: a random one.
	// Two gateways must not share it (the owner keeps one report per id).
	ID string

	// PublicURL is the base of dancer links in QR codes, e.g.
	// "http://192.168.1.20:3000". Empty: taken from each request's Host.
	PublicURL string
	// DancerURL, if set, is asked for that base at each request and wins
	// when it answers non-empty: in LAN + cloud mode the DJ side points
	// dancers at the cloud while its link is up, at the LAN otherwise.
	DancerURL func() string
	// CORSOrigin is sent as Access-Control-Allow-Origin on /api; empty
	// sends none (same-origin pages need none).
	CORSOrigin string

	MaxFrame      int           // largest client frame in bytes: 12288 (a likes frame of 100 items)
	QueueLen      int           // frames queued per socket before it is dropped as too slow: 64
	Writers       int           // writer goroutines shared by all sockets: 2 × GOMAXPROCS
	WriteTimeout  time.Duration // one frame's write: 500 ms (see setDefaults)
	ReadTimeout   time.Duration // silence before a socket is closed: 75 s
	PingInterval  time.Duration // WebSocket pings: 30 s
	RatePerSec    float64       // client frames per second per socket: 20
	RateBurst     float64       // burst: 40
	FloodClose    int           // refused frames in a row before closing 1008: 100
	ListenerGrace time.Duration // a phone stays counted after its socket closes: bus.ListenerGrace
	PresenceEvery time.Duration // presence reports: bus.PresenceEvery
	MaxSockets    int           // sockets held at once: 30000
	// PublishTimeout bounds storing one dancer action (retried with the
	// same id until then); past it the dancer is told to retry. 5 s.
	PublishTimeout time.Duration
	// APIPerIPPerMinute caps REST requests from one address. It is only a
	// high ceiling against floods: a venue can put 2,000 phones behind one
	// address, each polling the lobby every 15 s. Default 12000.
	APIPerIPPerMinute int
	// ActionsPerIPPerMinute caps dancer actions from one address, above
	// the per-dancer limits; as high, for the same reason. Default 60000.
	ActionsPerIPPerMinute int

	// Metrics receives the gateway's Prometheus series (metrics.go,
	// docs/operations.md): obs.NewRegistry() in the commands. nil: none.
	// A registry takes one gateway.
	Metrics prometheus.Registerer
	// Sentry receives reports of panics in handlers (sentry.go). nil:
	// sentry.CurrentHub(), which reports nothing until obs.Sentry ran.
	Sentry *sentry.Hub
	// PublicSentryDSN turns on POST /api/errors, through which the pages
	// report their errors (scrubbed, then forwarded to this DSN), and the
	// <meta name="pika-errors"> that tells the pages to. Empty: the pages
	// report nothing and /api/errors answers 404.
	PublicSentryDSN string
	// Release and Environment stamp the pages' reports (the build version
	// and PIKA_ENVIRONMENT), whatever a page claims.
	Release, Environment string

	Logger *slog.Logger     // nil discards
	Now    func() time.Time // nil is time.Now
}

func (c *Config) setDefaults() error {
	if c.JS == nil || c.Conn == nil {
		return errors.New("gateway: JetStream and the NATS connection are required")
	}
	if !c.Cloud && (c.KV == nil || c.Stream == "" || c.ActionsStream == "") {
		return errors.New("gateway: the sessions bucket and both stream names are required on the LAN")
	}
	if c.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.ID = "gw-" + hex.EncodeToString(b[:])
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxFrame, 12<<10)
	def(&c.QueueLen, 64)
	def(&c.Writers, 2*runtime.GOMAXPROCS(0))
	def(&c.FloodClose, 100)
	def(&c.MaxSockets, 30000)
	def(&c.APIPerIPPerMinute, 12000)
	def(&c.ActionsPerIPPerMinute, 60000)
	// A write blocks only when the phone's kernel buffer is full, i.e. it
	// is far behind; the shared writer it holds serves everyone else, so
	// such a phone is dropped (it resumes from lastSeq) after 500 ms.
	defDur(&c.WriteTimeout, 500*time.Millisecond)
	defDur(&c.ReadTimeout, 75*time.Second)
	defDur(&c.PingInterval, 30*time.Second)
	defDur(&c.ListenerGrace, bus.ListenerGrace)
	defDur(&c.PresenceEvery, bus.PresenceEvery)
	defDur(&c.PublishTimeout, 5*time.Second)
	if c.RatePerSec <= 0 {
		c.RatePerSec = 20
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 40
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Gateway serves pages, REST and dancer sockets.
type Gateway struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	app       *fiber.App
	upgrader  *websocket.FastHTTPUpgrader
	hub       *hub
	writers   *writers
	dancers   *dancers
	metrics   *metrics   // nil: no Config.Metrics
	errors    *errTunnel // nil: no Config.PublicSentryDSN
	tallySub  *nats.Subscription
	sourceSub *nats.Subscription
	ctx       context.Context
	cancel    context.CancelFunc
	bg        sync.WaitGroup // writers and the ticker
	closing   atomic.Bool
	draining  atomic.Bool // Drain: health says 503 while sockets still run

	mu    sync.Mutex // guards conns
	conns map[*conn]struct{}
	live  sync.WaitGroup // one per socket goroutine
}

// New builds a gateway. Its background work runs until Shutdown.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		cfg: cfg, log: cfg.Logger, now: cfg.Now, upgrader: newUpgrader(),
		writers: newWriters(cfg.MaxSockets+1024, cfg.WriteTimeout),
		ctx:     ctx, cancel: cancel, conns: map[*conn]struct{}{},
	}
	g.hub = &hub{js: cfg.JS, stream: cfg.Stream, actionsStream: cfg.ActionsStream, log: cfg.Logger, now: cfg.Now, publishTimeout: cfg.PublishTimeout,
		ringLen: 256, grace: cfg.ListenerGrace, writers: g.writers, ctx: ctx, feeds: map[string]*feed{}}
	g.dancers = newDancers(cfg.ActionsPerIPPerMinute)
	var err error
	if g.metrics, err = newMetrics(cfg.Metrics, g); err != nil {
		cancel()
		return nil, err
	}
	g.hub.metrics = g.metrics
	if g.errors, err = newErrTunnel(cfg, g.log); err != nil {
		cancel()
		return nil, err
	}
	if err := g.listen(); err != nil {
		cancel()
		return nil, err
	}
	g.app = fiber.New(fiber.Config{
		// With ReduceMemoryUsage fasthttp drops its 4 KB request reader
		// before a socket is hijacked; ReadBufferSize stays 4096 because it
		// is also the largest request header accepted (cookies ride on the
		// WebSocket upgrade).
		ReduceMemoryUsage:     true,
		ReadBufferSize:        4096,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		ErrorHandler:          g.errorHandler,
	})
	g.routes()
	for range cfg.Writers {
		g.bg.Add(1)
		go func() { defer g.bg.Done(); g.writers.run(ctx) }()
	}
	g.bg.Add(1)
	go func() { defer g.bg.Done(); g.background(ctx) }()
	return g, nil
}

// listen subscribes to tallies (one subscription for every session's: a
// tally for a session nobody follows here costs a map lookup) and, on the
// LAN, to the DJ side's detector status, which goes to consoles only.
func (g *Gateway) listen() error {
	var err error
	if g.cfg.Cloud {
		g.hub.dir = newDirectory(g.cfg.JS, g.log, g.now)
		g.tallySub, err = g.cfg.Conn.Subscribe(cloud.AllTallies, func(m *nats.Msg) {
			if dj, sid, ok := cloud.ParseTallySubject(m.Subject); ok {
				g.hub.onTally(dj, sid, m.Data)
			}
		})
		if err != nil {
			return fmt.Errorf("gateway: subscribe to tallies: %w", err)
		}
		return nil
	}
	g.tallySub, err = g.cfg.Conn.Subscribe(bus.AllTallies, func(m *nats.Msg) { g.hub.onTally("", bus.LastToken(m.Subject), m.Data) })
	if err != nil {
		return fmt.Errorf("gateway: subscribe to tallies: %w", err)
	}
	if g.sourceSub, err = g.cfg.Conn.Subscribe(bus.AllSourceStatus, func(m *nats.Msg) { g.hub.onSourceStatus(bus.LastToken(m.Subject), m.Data) }); err != nil {
		_ = g.tallySub.Unsubscribe()
		return fmt.Errorf("gateway: subscribe to source status: %w", err)
	}
	return nil
}

func (g *Gateway) unsubscribe() {
	for _, sub := range []*nats.Subscription{g.tallySub, g.sourceSub} {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	}
}

// App is the Fiber app, for tests that call it without a listener.
func (g *Gateway) App() *fiber.App { return g.app }

// Serve accepts connections on ln until Shutdown. When the process runs out
// of file descriptors it waits for some to close (backoffListener) rather
// than spinning or exiting.
func (g *Gateway) Serve(ln net.Listener) error {
	if err := g.app.Listener(&backoffListener{Listener: ln, log: g.log}); err != nil && !g.closing.Load() {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	return nil
}

// Drain is Shutdown for a rolling deploy: /healthz answers 503 "draining"
// at once, so the load balancer in front sends this gateway no new dancers;
// after notice (long enough for its health checks to see it) every socket
// is closed with 1001 and the phones reconnect through the balancer to
// another gateway, resuming from their lastSeq. ctx bounds the whole drain.
func (g *Gateway) Drain(ctx context.Context, notice time.Duration) error {
	g.draining.Store(true)
	t := time.NewTimer(notice)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return g.Shutdown(ctx)
}

// Shutdown stops accepting, closes every socket with 1001 (phones reconnect
// with backoff and resume from their lastSeq), waits for them up to ctx's
// deadline, and stops the background work.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.closing.Store(true)
	g.mu.Lock()
	for c := range g.conns {
		c.requestClose(closeGoingAway)
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.live.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("gateway: sockets still open at shutdown: %w", ctx.Err())
	}
	if e := g.app.ShutdownWithContext(ctx); e != nil && err == nil {
		err = fmt.Errorf("gateway: stop http: %w", e)
	}
	g.unsubscribe()
	g.hub.stopAll()
	g.cancel()
	g.bg.Wait()
	return err
}

// register adds a socket. It refuses it while shutting down (1001) or when
// MaxSockets are open (1013, try again later): the writer pool's work
// channel is sized for MaxSockets, so past it a broadcast could block.
func (g *Gateway) register(c *conn) (ok bool, code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing.Load() {
		return false, closeGoingAway
	}
	if len(g.conns) >= g.cfg.MaxSockets {
		return false, closeTryLater
	}
	g.conns[c] = struct{}{}
	g.live.Add(1)
	return true, 0
}

func (g *Gateway) unregister(c *conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	g.live.Done()
}

// Sockets is the number of open dancer sockets.
func (g *Gateway) Sockets() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// background reports presence each PresenceEvery, evicts idle feeds and
// dancers each second and pings every socket each PingInterval, until ctx
// ends.
func (g *Gateway) background(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	presence := time.NewTicker(g.cfg.PresenceEvery)
	defer presence.Stop()
	lastPing := g.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-presence.C:
			g.publishPresence()
			continue
		case <-tick.C:
		}
		g.hub.tick(10 * time.Minute)
		g.dancers.forget(g.now())
		if now := g.now(); now.Sub(lastPing) >= g.cfg.PingInterval {
			lastPing = now
			g.mu.Lock()
			conns := make([]*conn, 0, len(g.conns))
			for c := range g.conns {
				conns = append(conns, c)
			}
			g.mu.Unlock()
			for _, c := range conns {
				if c.enqueue(outItem{ping: true}) {
					g.writers.schedule(ctx, c)
				}
			}
		}
	}
}
