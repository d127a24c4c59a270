package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
)

// errUnknownSession means no event of the session was ever stored.
var errUnknownSession = errors.New("unknown session")

// hub maps session ids to feeds.
type hub struct {
	js      jetstream.JetStream
	stream  string
	log     *slog.Logger
	now     func() time.Time
	ringLen int
	grace   time.Duration // how long a listener stays counted after its last socket closes
	writers *writers
	ctx     context.Context // the gateway's lifetime: feeds' consumers end with it

	mu    sync.Mutex // guards feeds
	feeds map[string]*feed
}

// feed follows one session: an ordered consumer replays its events from the
// start and then delivers new ones; each is folded into the state and sent,
// encoded once, to every subscribed socket.
type feed struct {
	sid   string
	ready chan struct{} // closed once the events stored at creation are folded
	err   error         // set before ready is closed if loading failed
	stop  func()

	mu        sync.Mutex // guards the fields below
	state     bus.SessionState
	plays     []bus.PlayedTrack // every play, oldest first
	ring      []ringEvent       // the last ringLen events, oldest first
	conns     map[*conn]struct{}
	listeners map[string]*listener
	count     int // listeners counted at the last listeners frame
	idleSince time.Time
}

type ringEvent struct {
	seq uint64
	raw json.RawMessage
}

type listener struct {
	sockets int
	goneAt  time.Time
}

// get returns the session's feed, starting it if needed, once it has folded
// every event stored so far. It returns errUnknownSession when the session
// has no events at all.
func (h *hub) get(ctx context.Context, sid string) (*feed, error) {
	h.mu.Lock()
	f, ok := h.feeds[sid]
	if !ok {
		f = &feed{sid: sid, ready: make(chan struct{}), conns: map[*conn]struct{}{},
			listeners: map[string]*listener{}, idleSince: h.now()}
		h.feeds[sid] = f
		go h.start(f)
	}
	h.mu.Unlock()
	select {
	case <-f.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil {
		h.mu.Lock()
		if h.feeds[sid] == f {
			delete(h.feeds, sid) // let the next request try again
		}
		h.mu.Unlock()
		return nil, f.err
	}
	return f, nil
}

// start loads a feed and keeps it following the stream until stopped.
func (h *hub) start(f *feed) {
	fail := func(err error) {
		f.err = err
		close(f.ready)
	}
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	st, err := h.js.Stream(ctx, h.stream)
	if err != nil {
		fail(fmt.Errorf("gateway: open stream %s: %w", h.stream, err))
		return
	}
	last, err := st.GetLastMsgForSubject(ctx, bus.SessionFilter(f.sid))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		fail(errUnknownSession)
		return
	}
	if err != nil {
		fail(fmt.Errorf("gateway: find session %s: %w", f.sid, err))
		return
	}
	target := last.Sequence
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.SessionFilter(f.sid)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		fail(fmt.Errorf("gateway: follow session %s: %w", f.sid, err))
		return
	}
	var once sync.Once
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		meta, err := msg.Metadata()
		if err != nil {
			h.log.Error("event without metadata", "session", f.sid, "err", err)
			return
		}
		e, err := bus.Decode(msg.Data())
		if err != nil {
			// A stored event we cannot read is skipped, not fatal: phones
			// must keep getting the rest.
			h.log.Error("undecodable stored event", "session", f.sid, "subject", msg.Subject(), "err", err)
		} else {
			h.deliver(f, e, msg.Data())
		}
		if meta.Sequence.Stream >= target {
			once.Do(func() { close(f.ready) })
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		h.log.Warn("session consumer", "session", f.sid, "err", err)
	}))
	if err != nil {
		fail(fmt.Errorf("gateway: consume session %s: %w", f.sid, err))
		return
	}
	f.mu.Lock()
	f.stop = cc.Stop
	f.mu.Unlock()
	select {
	case <-f.ready:
	case <-ctx.Done():
		cc.Stop()
		once.Do(func() { fail(fmt.Errorf("gateway: load session %s: %w", f.sid, ctx.Err())) })
	}
}

// deliver folds one event into the feed and sends it to its sockets.
func (h *hub) deliver(f *feed, e bus.Event, raw []byte) {
	f.mu.Lock()
	if !f.state.Apply(e) {
		f.mu.Unlock()
		return // already folded (a redelivery)
	}
	if e.Type == bus.TypeTrackPlayed {
		f.plays = append(f.plays, *f.state.Current)
	}
	cp := append(json.RawMessage(nil), raw...)
	if len(f.ring) == h.ringLen {
		copy(f.ring, f.ring[1:])
		f.ring = f.ring[:len(f.ring)-1]
	}
	f.ring = append(f.ring, ringEvent{seq: e.Seq, raw: cp})
	var pm *websocket.PreparedMessage
	if len(f.conns) > 0 {
		var err error
		if pm, err = websocket.NewPreparedMessage(websocket.TextMessage, cp); err != nil {
			h.log.Error("prepare frame", "session", f.sid, "err", err)
		}
	}
	h.broadcastLocked(f, outItem{pm: pm})
	f.mu.Unlock()
}

// broadcastLocked enqueues it on every socket of f. f.mu must be held: it
// orders broadcasts against snapshots, so no socket misses or doubles an
// event between its snapshot and the live stream.
func (h *hub) broadcastLocked(f *feed, it outItem) {
	if it.pm == nil && it.data == nil {
		return
	}
	for c := range f.conns {
		if c.enqueue(it) {
			h.writers.schedule(h.ctx, c)
		}
	}
}

// subscribe attaches c to f and queues its snapshot, in one step under f.mu.
func (h *hub) subscribe(f *feed, c *conn, clientID string, lastSeq *uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Count this phone before the snapshot, so it sees itself listening.
	f.conns[c] = struct{}{}
	l := f.listeners[clientID]
	if l == nil {
		l = &listener{}
		f.listeners[clientID] = l
	}
	l.sockets++
	now := h.now()
	snap := snapshotFrame{
		Type: frameSnapshot, SessionID: f.sid, Seq: f.state.Seq,
		Session: sessionInfo(f.state, f.listenerCountLocked(now, h.grace), now),
		History: make([]bus.PlayedTrack, 0, min(len(f.plays), snapshotHistory)),
	}
	snap.ListenerCount = snap.Session.ListenerCount
	snap.NowPlaying = snap.Session.CurrentTrack
	for i := len(f.plays) - 1; i >= 0 && len(snap.History) < snapshotHistory; i-- {
		snap.History = append(snap.History, f.plays[i])
	}
	if lastSeq != nil {
		snap.Resume = f.resumeLocked(*lastSeq)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		delete(f.conns, c)
		l.sockets--
		return fmt.Errorf("gateway: encode snapshot of %s: %w", f.sid, err)
	}
	if c.enqueue(outItem{data: data}) {
		h.writers.schedule(h.ctx, c)
	}
	return nil
}

// snapshotHistory is how many plays a snapshot carries.
const snapshotHistory = 50

// resumeLocked lists the events after from, if the ring still holds them all.
func (f *feed) resumeLocked(from uint64) *resumeInfo {
	r := &resumeInfo{From: from, Missed: []json.RawMessage{}}
	if from >= f.state.Seq {
		r.Complete = true
		return r
	}
	if len(f.ring) == 0 || f.ring[0].seq > from+1 {
		return r // the gap reaches past what we keep
	}
	for _, ev := range f.ring {
		if ev.seq > from {
			r.Missed = append(r.Missed, ev.raw)
		}
	}
	r.Complete = true
	return r
}

// unsubscribe detaches c from f.
func (h *hub) unsubscribe(f *feed, c *conn, clientID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[c]; !ok {
		return
	}
	delete(f.conns, c)
	if l := f.listeners[clientID]; l != nil {
		l.sockets--
		if l.sockets == 0 {
			l.goneAt = h.now()
		}
	}
	if len(f.conns) == 0 {
		f.idleSince = h.now()
	}
}

// listenerCountLocked counts distinct phones: those with a socket open, and
// those whose last socket closed less than grace ago (a phone in a pocket
// drops its socket; it has not left the floor).
func (f *feed) listenerCountLocked(now time.Time, grace time.Duration) int {
	n := 0
	for id, l := range f.listeners {
		switch {
		case l.sockets > 0 || now.Sub(l.goneAt) < grace:
			n++
		default:
			delete(f.listeners, id)
		}
	}
	return n
}

// tick sends changed listener counts, at most once per call per session,
// and stops feeds nobody has followed for evictAfter.
func (h *hub) tick(evictAfter time.Duration) {
	now := h.now()
	h.mu.Lock()
	feeds := make([]*feed, 0, len(h.feeds))
	for _, f := range h.feeds {
		feeds = append(feeds, f)
	}
	h.mu.Unlock()
	for _, f := range feeds {
		select {
		case <-f.ready:
		default:
			continue
		}
		if f.err != nil {
			continue
		}
		f.mu.Lock()
		n := f.listenerCountLocked(now, h.grace)
		if n != f.count {
			f.count = n
			data, err := json.Marshal(listenersFrame{Type: frameListeners, SessionID: f.sid, Count: n})
			if err == nil {
				pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
				if err == nil {
					h.broadcastLocked(f, outItem{pm: pm})
				}
			}
		}
		evict := len(f.conns) == 0 && len(f.listeners) == 0 && now.Sub(f.idleSince) > evictAfter
		f.mu.Unlock()
		if evict {
			h.mu.Lock()
			if h.feeds[f.sid] == f {
				delete(h.feeds, f.sid)
			}
			h.mu.Unlock()
			f.close()
		}
	}
}

// listenerCount is the session's count if this gateway follows it.
func (h *hub) listenerCount(sid string) int {
	h.mu.Lock()
	f := h.feeds[sid]
	h.mu.Unlock()
	if f == nil {
		return 0
	}
	select {
	case <-f.ready:
	default:
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listenerCountLocked(h.now(), h.grace)
}

// stopAll stops every feed's consumer.
func (h *hub) stopAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sid, f := range h.feeds {
		f.close()
		delete(h.feeds, sid)
	}
}

// close stops the feed's consumer, if it has one.
func (f *feed) close() {
	f.mu.Lock()
	stop := f.stop
	f.stop = nil
	f.mu.Unlock()
	if stop != nil {
		stop()
	}
}
