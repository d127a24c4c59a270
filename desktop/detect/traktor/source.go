package traktor

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop/detect"
)

// DefaultListen is where Pika! waits for Traktor's broadcast when the DJ
// names no address: Icecast's usual port, on this computer only.
const DefaultListen = "127.0.0.1:8000"

// Bounds that keep a stranger on the port from hurting us.
const (
	maxHeaderBytes = 16 << 10 // the source request's header lines, all together
	// maxConns is how many connections may be open at once: Traktor's, and
	// a few still sending their request (they are refused or time out).
	maxConns = 8
	// defaultHeaderTimeout is how long a connection has to send its
	// request; defaultIdleTimeout how long the broadcast may stay silent
	// (Traktor sends audio pages several times a second).
	defaultHeaderTimeout = 10 * time.Second
	defaultIdleTimeout   = 30 * time.Second
	// defaultCollectionEvery is how often collection.nml's time is looked
	// at; defaultRetryEmit how soon a play emit refused is offered again.
	defaultCollectionEvery = 5 * time.Second
	defaultRetryEmit       = time.Second
	// defaultRelisten is how soon a port in use is tried again.
	defaultRelisten = 2 * time.Second
)

// Config configures a Source.
type Config struct {
	Listen     string // host:port to listen on; "" = DefaultListen
	Collection string // Traktor's collection.nml, for BPM, key, length and file; "" = none
	Policy     detect.Policy
	Logger     *slog.Logger     // nil = discard
	Now        func() time.Time // nil = time.Now
}

// Source is Traktor's broadcast received by Pika! acting as the Icecast
// server Traktor sends to. Each track Traktor announces in the stream (a
// new Ogg logical stream with a Vorbis comment) is a play.
type Source struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	running sync.Mutex

	// Timeouts and intervals, the default… constants; fields so tests can
	// shorten them.
	headerTimeout, idleTimeout, collectionEvery, retryEmit, relisten time.Duration

	mu     sync.Mutex
	status detect.Status
	addr   string      // the address listened on, "" while not listening
	coll   *collection // nil until collection.nml is read
}

// New returns the source; nothing listens until Run.
func New(cfg Config) *Source {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	s := &Source{cfg: cfg, log: cfg.Logger, now: cfg.Now,
		headerTimeout: defaultHeaderTimeout, idleTimeout: defaultIdleTimeout,
		collectionEvery: defaultCollectionEvery, retryEmit: defaultRetryEmit, relisten: defaultRelisten}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.status = detect.Status{Source: ProductID, Path: cfg.Listen, File: cfg.Collection, Err: s.waiting()}
	return s
}

// waiting is the status while Traktor is not connected.
func (s *Source) waiting() string {
	host, port, err := net.SplitHostPort(s.cfg.Listen)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("Traktor is not broadcasting to Pika!: in Traktor, Preferences → Broadcasting, set address %s, port %s, format Ogg Vorbis, then switch broadcasting on", host, port)
}

// Name is the product's ID.
func (s *Source) Name() string { return ProductID }

// Status reports what the source is doing.
func (s *Source) Status() detect.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status.Copy()
	return st
}

func (s *Source) setStatus(f func(*detect.Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.status)
}

// Addr is the address the source listens on, "" while it does not.
func (s *Source) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// heard is a track Traktor announced on a connection.
type heard struct {
	info      trackInfo
	serial    uint32
	at        time.Time // when its comment arrived
	connStart time.Time
	first     bool // the first track of its connection: Traktor re-sends the current one on connect
}

// Run listens until ctx ends, handing each track Traktor announces to emit
// in order. A play emit refuses is offered again, before any later one. It
// returns nil when ctx ends; a port in use is retried, not returned.
func (s *Source) Run(ctx context.Context, emit func(context.Context, detect.Entry) error) error {
	if !s.running.TryLock() {
		return errors.New("traktor: the broadcast listener is already running")
	}
	defer s.running.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	tracks := make(chan heard, 16)
	collReady := make(chan struct{})
	wg.Go(func() { s.listen(ctx, tracks) })
	wg.Go(func() { s.keepCollection(ctx, collReady) })

	dec := detect.NewDecider(s.cfg.Policy)
	var pending []detect.Entry // announced, not yet accepted by emit
	var last string            // the last track announced, normalized artist+title
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-retry.C:
		case h := <-tracks:
			key := bus.Normalize(h.info.Artist) + "\x00" + bus.Normalize(h.info.Title)
			if h.first && key == last {
				// Traktor re-sends the playing track when it (re)connects;
				// it was announced already.
				s.log.Info("Traktor re-sent the track already announced", "artist", h.info.Artist, "title", h.info.Title)
				continue
			}
			// The first tracks wait for the collection's first read, so
			// they too get BPM and key.
			select {
			case <-collReady:
			case <-ctx.Done():
				return nil
			}
			e := s.entry(h)
			for _, a := range dec.Observe(h.at, []detect.Deck{{Entry: e, Level: detect.Unknown, Played: true}}) {
				pending = append(pending, a)
				last = key
			}
		}
		for len(pending) > 0 {
			e := pending[0]
			if err := emit(ctx, e); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.setStatus(func(st *detect.Status) { st.Err = fmt.Sprintf("hand over %q: %v", e.Title, err) })
				retry.Reset(s.retryEmit)
				break
			}
			pending = pending[1:]
			s.setStatus(func(st *detect.Status) {
				st.LastEntry = &e
				if strings.HasPrefix(st.Err, "hand over ") {
					st.Err = ""
				}
			})
		}
	}
}

// entry is the play of h, with what the collection knows of it.
func (s *Source) entry(h heard) detect.Entry {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s\x00%s\x00%d", h.serial, h.info.Artist, h.info.Title, h.connStart.UnixNano()))
	e := detect.Entry{
		Artist:   h.info.Artist,
		Title:    h.info.Title,
		Album:    h.info.Album,
		PlayedAt: h.at,
		Source:   ProductID,
		ID:       ProductID + "-" + hex.EncodeToString(sum[:])[:20],
	}
	s.mu.Lock()
	coll := s.coll
	s.mu.Unlock()
	if t, ok := coll.lookup(e.Artist, e.Title); ok {
		e.BPM, e.Key, e.Duration = t.BPM, t.Key, t.Duration
		e.Path = t.filePath(exists)
		if e.Album == "" {
			e.Album = t.Album
		}
	}
	return e
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// keepCollection reads collection.nml, then again whenever its time or size
// changes, until ctx ends. ready is closed after the first attempt. A read
// that fails (Traktor writing the file right then) keeps the index read
// before and is tried again at the next look.
func (s *Source) keepCollection(ctx context.Context, ready chan<- struct{}) {
	path := s.cfg.Collection
	if path == "" {
		close(ready)
		return
	}
	var readMod time.Time
	var readSize int64 = -1
	var lastErr string
	look := func() {
		info, err := os.Stat(path)
		if err == nil && info.ModTime().Equal(readMod) && info.Size() == readSize {
			return
		}
		var c *collection
		if err == nil {
			c, err = readCollectionFile(path)
		}
		if err != nil {
			if err.Error() != lastErr {
				s.log.Warn("cannot read Traktor's collection; plays come without BPM and key", "path", path, "err", err)
				lastErr = err.Error()
			}
			return
		}
		lastErr = ""
		readMod, readSize = info.ModTime(), info.Size()
		s.mu.Lock()
		s.coll = c
		s.mu.Unlock()
		s.log.Info("read Traktor's collection", "path", path, "tracks", len(c.tracks))
	}
	look()
	close(ready)
	t := time.NewTicker(s.collectionEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			look()
		}
	}
}

// listen accepts Traktor's connections until ctx ends. When the address
// cannot be listened on (another program has the port), it says so in the
// status and tries again.
func (s *Source) listen(ctx context.Context, tracks chan<- heard) {
	var lc net.ListenConfig
	for {
		ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			msg := fmt.Sprintf("Pika! cannot listen on %s for Traktor's broadcast (%v): another program may use this port; give Pika! another one (--source-listen) and the same in Traktor → Preferences → Broadcasting", s.cfg.Listen, err)
			if s.Status().Err != msg {
				s.log.Warn("cannot listen for Traktor's broadcast", "addr", s.cfg.Listen, "err", err)
			}
			s.setStatus(func(st *detect.Status) { st.Err = msg })
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.relisten):
			}
			continue
		}
		s.serve(ctx, ln, tracks)
		if ctx.Err() != nil {
			return
		}
	}
}

// serve accepts connections on ln until ctx ends or ln fails.
func (s *Source) serve(ctx context.Context, ln net.Listener, tracks chan<- heard) {
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.status.Path = s.addr
	s.status.Err = s.waiting()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.addr = ""
		s.mu.Unlock()
	}()
	s.log.Info("waiting for Traktor's broadcast", "addr", ln.Addr().String())
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()

	var conns sync.WaitGroup
	defer conns.Wait()
	slots := make(chan struct{}, maxConns)
	var active atomic.Bool // a source is streaming
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little.
			s.log.Warn("cannot accept a connection", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			s.log.Warn("too many connections on the broadcast port; closing one", "from", c.RemoteAddr().String())
			c.Close()
			continue
		}
		conns.Go(func() {
			defer func() { <-slots }()
			s.handle(ctx, c, &active, tracks)
		})
	}
}

// request is what a source's request says.
type request struct {
	method, mount string
	user          string // from Authorization; the password is not kept
	contentType   string
}

// readRequest reads the request line and header lines up to the blank line:
// "SOURCE /mount HTTP/1.0" (or ICE/1.0) or "PUT /mount HTTP/1.1", then
// "Name: value" lines. It reads at most maxHeaderBytes.
func readRequest(br *bufio.Reader) (request, error) {
	var req request
	total := 0
	for n := 0; ; n++ {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if total > maxHeaderBytes || errors.Is(err, bufio.ErrBufferFull) {
			return req, errors.New("request headers too long")
		}
		if err != nil {
			return req, fmt.Errorf("read request: %w", err)
		}
		l := strings.TrimRight(string(line), "\r\n")
		if n == 0 {
			f := strings.Fields(l)
			if len(f) != 3 {
				return req, fmt.Errorf("not a source request: %.60q", l)
			}
			req.method, req.mount = strings.ToUpper(f[0]), f[1]
			continue
		}
		if l == "" {
			return req, nil
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "authorization":
			if scheme, cred, ok := strings.Cut(value, " "); ok && strings.EqualFold(scheme, "basic") {
				if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
					req.user, _, _ = strings.Cut(string(b), ":")
				}
			}
		case "content-type":
			req.contentType = strings.ToLower(value)
		}
	}
}

// handle serves one connection: its request, then its Ogg stream.
func (s *Source) handle(ctx context.Context, c net.Conn, active *atomic.Bool, tracks chan<- heard) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	from := c.RemoteAddr().String()
	reply := func(status string) bool {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Write([]byte("HTTP/1.0 " + status + "\r\n\r\n"))
		return err == nil
	}

	_ = c.SetReadDeadline(time.Now().Add(s.headerTimeout))
	br := bufio.NewReaderSize(c, maxHeaderBytes)
	req, err := readRequest(br)
	if err != nil {
		s.log.Warn("refused a connection on the broadcast port", "from", from, "err", err)
		reply("400 Bad Request")
		return
	}
	if req.method != "SOURCE" && req.method != "PUT" {
		s.log.Warn("refused a request on the broadcast port that is not a source", "from", from, "method", req.method)
		reply("405 Method Not Allowed")
		return
	}
	// Only formats known not to be Ogg are refused: a Content-Type Pika!
	// has not seen is given the benefit of the doubt (the bytes decide).
	if strings.Contains(req.contentType, "mpeg") || strings.Contains(req.contentType, "aac") {
		s.log.Warn("refused a broadcast that is not Ogg", "from", from, "content_type", req.contentType)
		s.setStatus(func(st *detect.Status) {
			st.Err = fmt.Sprintf("Traktor broadcasts %s, which Pika! cannot read: choose Ogg Vorbis in Traktor → Preferences → Broadcasting", req.contentType)
		})
		reply("415 Unsupported Media Type")
		return
	}
	if !active.CompareAndSwap(false, true) {
		s.log.Warn("refused a second broadcast source while one is connected", "from", from, "mount", req.mount)
		reply("403 Forbidden")
		return
	}
	defer active.Store(false)
	if !reply("200 OK") {
		return
	}
	connStart := s.now()
	s.log.Info("Traktor's broadcast connected", "from", from, "mount", req.mount, "user", req.user)
	s.setStatus(func(st *detect.Status) { st.Err, st.LastReadAt = "", connStart })

	var r oggReader
	first := true
	buf := make([]byte, 16<<10)
	var why error
	for why == nil {
		_ = c.SetReadDeadline(time.Now().Add(s.idleTimeout))
		n, err := br.Read(buf)
		if n > 0 {
			s.setStatus(func(st *detect.Status) { st.LastReadAt = s.now() })
			why = r.feed(buf[:n], func(serial uint32, cm comment) {
				h := heard{info: cm.info(), serial: serial, at: s.now(), connStart: connStart, first: first}
				first = false
				if h.info.Title == "" {
					s.log.Warn("Traktor announced a track without a title", "vendor", cm.Vendor)
					return
				}
				select {
				case tracks <- h:
				case <-ctx.Done():
				}
			})
		}
		if why == nil {
			why = err
		}
	}
	if ctx.Err() != nil {
		return
	}
	s.log.Info("Traktor's broadcast disconnected", "from", from, "why", why, "bad_pages", r.badPages)
	msg := s.waiting()
	if errors.Is(why, errNotOgg) {
		msg = "Traktor's broadcast is not Ogg Vorbis: choose Ogg Vorbis in Traktor → Preferences → Broadcasting"
	}
	s.setStatus(func(st *detect.Status) { st.Err = msg })
}
