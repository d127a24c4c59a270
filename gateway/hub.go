package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	js             jetstream.JetStream
	stream         string // session events
	actionsStream  string // dancers' actions
	log            *slog.Logger
	now            func() time.Time
	ringLen        int
	publishTimeout time.Duration // bounds storing one message of dancer actions
	grace          time.Duration // how long a listener stays counted after its last socket closes
	writers        *writers
	ctx            context.Context // the gateway's lifetime: feeds' consumers end with it

	mu    sync.Mutex // guards feeds
	feeds map[string]*feed

	kvMu    sync.Mutex         // guards tallies
	tallies jetstream.KeyValue // the tallies bucket, opened on first use

	dir *directory // the cloud's session directory; nil on the LAN

	watchEvery time.Duration // how often feeds check their followers (watchFeed); 0: the default

	metrics *metrics // nil: none
}

// feed follows one session: two ordered consumers replay its events and its
// dancers' actions from the start and then deliver new ones. Events are
// folded into the state and sent, encoded once, to every subscribed socket;
// events and actions are folded into the crowd, which answers dancers'
// actions and fills their snapshots.
type feed struct {
	sid   string
	at    place         // where the session's events and actions are stored
	store *actionStore  // stores this session's dancer actions, several per disk sync
	ready chan struct{} // closed once the events and actions stored at creation are folded
	err   error         // set before ready is closed if loading failed

	mu        sync.Mutex  // guards the fields below
	stops     []func()    // the consumers' stops
	followers []*follower // the ordered consumers, checked by watchFeed
	state     bus.SessionState
	crowd     *bus.Crowd
	plays     []bus.PlayedTrack   // every play, oldest first, as corrected
	playIdx   map[string]int      // play id → index in plays
	withheld  map[string]struct{} // plays hidden by the DJ or played while broadcasting was paused
	pending   []bus.Action        // actions that arrived before the event they refer to
	ring      []ringEvent         // the last ringLen events as phones get them, oldest first
	conns     map[*conn]struct{}
	listeners map[string]*listener
	reported  bool // the last presence report named at least one phone
	tally     json.RawMessage
	source    json.RawMessage // the DJ side's latest detector status, for consoles only
	sourceAt  time.Time
	tallyAt   time.Time
	tallyN    int // the tally's listeners
	idleSince time.Time
	// history[0] is the snapshot history phones get, history[1] the DJ's,
	// encoded once per change (nil: to be encoded): in a reconnect storm
	// every phone's snapshot shares them instead of re-encoding 50 plays.
	history [2]json.RawMessage
}

type ringEvent struct {
	seq  uint64
	play string // the play id of a track.played, so play.hidden can withhold it
	raw  json.RawMessage
}

type listener struct {
	sockets int
	goneAt  time.Time
}

// maxPending bounds the actions kept waiting for their event.
const maxPending = 256

// get returns the session's feed, starting it if needed, once it has folded
// every event and action stored so far. It returns errUnknownSession when
// the session has no events at all.
func (h *hub) get(ctx context.Context, sid string) (*feed, error) {
	h.mu.Lock()
	f, ok := h.feeds[sid]
	h.mu.Unlock()
	if !ok {
		// Found outside h.mu: in the cloud it may ask the cluster.
		at, err := h.locate(ctx, sid)
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		if f, ok = h.feeds[sid]; !ok {
			f = &feed{sid: sid, at: at, ready: make(chan struct{}), conns: map[*conn]struct{}{},
				listeners: map[string]*listener{}, idleSince: h.now(), crowd: bus.NewCrowd(),
				playIdx: map[string]int{}, withheld: map[string]struct{}{}}
			f.store = newActionStoreAt(sid, at.store, h.js, h.publishTimeout, h.log)
			sctx, stop := context.WithCancel(h.ctx)
			f.stops = append(f.stops, stop)
			go f.store.run(sctx)
			h.feeds[sid] = f
			go h.start(f)
		}
		h.mu.Unlock()
	}
	select {
	case <-f.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil {
		h.mu.Lock()
		if h.feeds[sid] == f {
			delete(h.feeds, sid) // let the next request try again
			h.mu.Unlock()
			f.close() // its action store
		} else {
			h.mu.Unlock()
		}
		return nil, f.err
	}
	return f, nil
}

// ready reports whether f has loaded successfully.
func (f *feed) loaded() bool {
	select {
	case <-f.ready:
		return f.err == nil
	default:
		return false
	}
}

// start loads a feed and keeps it following the streams until stopped.
// Events are caught up before actions are read: an action refers to a play
// or a poll, and the crowd refuses what it has not seen.
func (h *hub) start(f *feed) {
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	err := h.follow(ctx, f, f.at.events.stream, f.at.events.filter, true, func(data []byte, subject string) {
		e, err := bus.Decode(data)
		if err != nil {
			// A stored event we cannot read is skipped, not fatal: phones
			// must keep getting the rest.
			h.log.Error("undecodable stored event", "session", f.sid, "subject", subject, "err", err)
			return
		}
		h.deliver(f, e, data)
	})
	// In the cloud, actions made on the DJ's LAN and through cloud
	// gateways are in two streams; both are folded, so a like made on
	// either side is "already liked" on both. The crowd skips an id seen
	// twice.
	for _, src := range f.at.actions {
		if err != nil {
			break
		}
		err = h.follow(ctx, f, src.stream, src.filter, false, func(data []byte, subject string) {
			actions, err := bus.DecodeActions(data)
			if err != nil {
				h.log.Error("undecodable stored action", "session", f.sid, "subject", subject, "err", err)
			}
			f.mu.Lock()
			for _, a := range actions {
				if a.Session == f.sid {
					f.foldActionLocked(a)
				}
			}
			f.mu.Unlock()
		})
	}
	if err == nil && h.dir == nil {
		h.loadTally(ctx, f) // the cloud keeps no tallies bucket: see onTally
	}
	if err != nil {
		f.close()
		f.err = err
	} else {
		wctx, stop := context.WithCancel(h.ctx)
		f.mu.Lock()
		f.stops = append(f.stops, stop)
		f.mu.Unlock()
		go h.watchFeed(wctx, f)
	}
	close(f.ready)
}

// follow consumes every message of filter in stream, from the first, with
// handle, and returns once it has handled all that were stored when it
// started. The consumer keeps running until the feed closes. With
// mustExist, a filter with no messages is errUnknownSession.
func (h *hub) follow(ctx context.Context, f *feed, stream, filter string, mustExist bool, handle func(data []byte, subject string)) error {
	st, err := h.js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("gateway: open stream %s: %w", stream, err)
	}
	var target uint64
	last, err := st.GetLastMsgForSubject(ctx, filter)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		if mustExist {
			return errUnknownSession
		}
	case err != nil:
		return fmt.Errorf("gateway: find %s in %s: %w", filter, stream, err)
	default:
		target = last.Sequence
	}
	caught := make(chan struct{})
	var once sync.Once
	if target == 0 {
		once.Do(func() { close(caught) })
	}
	fl := &follower{stream: stream, filter: filter}
	fl.handle = func(data []byte, subject string) {
		handle(data, subject)
		// consume records the sequence before calling this: loaded once
		// the message that was last when the feed started is handled.
		fl.mu.Lock()
		done := fl.delivered >= target
		fl.mu.Unlock()
		if done {
			once.Do(func() { close(caught) })
		}
	}
	if err := h.consume(ctx, f, fl, st, 0); err != nil {
		return err
	}
	f.mu.Lock()
	f.stops = append(f.stops, fl.stop)
	f.followers = append(f.followers, fl)
	f.mu.Unlock()
	select {
	case <-caught:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gateway: load %s from %s: %w", filter, stream, ctx.Err())
	}
}

// deliver folds one event into the feed and sends it to its sockets: as
// stored, except a play that phones must not see (withheld).
func (h *hub) deliver(f *feed, e bus.Event, raw []byte) {
	start := time.Now() // for pika_gateway_fanout_seconds
	f.mu.Lock()
	defer f.mu.Unlock()
	paused := f.state.Paused
	if !f.state.Apply(e) {
		return // already folded (a redelivery)
	}
	f.history = [2]json.RawMessage{} // plays, edits or pauses may have changed
	f.crowd.Event(e)
	out := append(json.RawMessage(nil), raw...)
	play := ""
	switch e.Type {
	case bus.TypeTrackPlayed:
		play = e.ID
		f.playIdx[e.ID] = len(f.plays)
		f.plays = append(f.plays, *f.state.Current)
		if paused {
			f.withheld[e.ID] = struct{}{}
			out = withheldFrame(e.Type, e.Session, e.Seq)
		}
	case bus.TypePlayHidden:
		f.withheld[e.Ref.ID] = struct{}{}
		// A phone resuming from before the hide gets the play withheld too.
		for i := range f.ring {
			if f.ring[i].play == e.Ref.ID {
				f.ring[i].raw = withheldFrame(bus.TypeTrackPlayed, e.Session, f.ring[i].seq)
			}
		}
	case bus.TypePlayCorrected:
		if i, ok := f.playIdx[e.Correction.PlayID]; ok {
			f.plays[i].Title, f.plays[i].Artist = e.Correction.Title, e.Correction.Artist
		}
		// Correcting a withheld play must not reveal it.
		if _, ok := f.withheld[e.Correction.PlayID]; ok {
			out = withheldFrame(e.Type, e.Session, e.Seq)
		}
	}
	if len(f.pending) > 0 {
		f.retryPendingLocked()
	}
	if len(f.ring) == h.ringLen {
		copy(f.ring, f.ring[1:])
		f.ring = f.ring[:len(f.ring)-1]
	}
	f.ring = append(f.ring, ringEvent{seq: e.Seq, play: play, raw: out})
	h.broadcastLocked(f, out, raw)
	if len(f.conns) > 0 {
		h.metrics.fannedOut(start)
	}
}

// withheldFrame is an event as phones see it when they must not see what
// it says (a withheld play, or a correction of one): its type and seq, so
// they know they missed nothing, and hidden.
func withheldFrame(typ bus.Type, sid string, seq uint64) json.RawMessage {
	b, _ := json.Marshal(withheldPlay{V: bus.Version, Type: typ, Seq: seq, SessionID: sid, Hidden: true})
	return b
}

// foldActionLocked folds one stored action. One that refers to a play or
// poll this feed has not seen yet (the actions stream ran ahead of the
// events stream) waits for the next events. f.mu must be held.
func (f *feed) foldActionLocked(a bus.Action) {
	v := f.crowd.Apply(a)
	if v.Code == bus.CodeUnknownPlay || v.Code == bus.CodeUnknownPoll {
		if len(f.pending) == maxPending {
			f.pending = f.pending[1:]
		}
		f.pending = append(f.pending, a)
	}
}

func (f *feed) retryPendingLocked() {
	kept := f.pending[:0]
	for _, a := range f.pending {
		if v := f.crowd.Apply(a); v.Code == bus.CodeUnknownPlay || v.Code == bus.CodeUnknownPoll {
			kept = append(kept, a)
		}
	}
	clear(f.pending[len(kept):])
	f.pending = kept
}

// broadcastRawLocked enqueues one frame, encoded once, on every socket of
// f. f.mu must be held: it orders broadcasts against snapshots, so no
// socket misses or doubles an event between its snapshot and the live
// stream.
func (h *hub) broadcastRawLocked(f *feed, data []byte) {
	h.broadcastLocked(f, data, data)
}

// broadcastLocked is broadcastRawLocked with another frame for the DJ's
// consoles (the stored event where phones get a withheld play). Each
// frame is encoded once.
func (h *hub) broadcastLocked(f *feed, data, forDJ []byte) {
	if len(f.conns) == 0 {
		return
	}
	prep := func(b []byte) *websocket.PreparedMessage {
		pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
		if err != nil {
			h.log.Error("prepare frame", "session", f.sid, "err", err)
		}
		return pm
	}
	it := outItem{pm: prep(data), pmN: len(data)}
	dj := it
	if !bytes.Equal(data, forDJ) {
		dj = outItem{pm: prep(forDJ), pmN: len(forDJ)}
	}
	for c := range f.conns {
		item := it
		if c.dj {
			item = dj
		}
		if item.pm != nil && c.enqueue(item) {
			h.writers.schedule(h.ctx, c)
		}
	}
}

// currentLocked is the current play as phones may see it.
// all includes withheld plays (for the DJ's console).
func (f *feed) currentLocked(all bool) *bus.PlayedTrack {
	cur := f.state.Current
	if cur == nil {
		return nil
	}
	if _, ok := f.withheld[cur.PlayID]; ok && !all {
		return nil
	}
	return cur
}

// snapshotHistoryLocked is the snapshot's history, encoded once per change.
func (f *feed) snapshotHistoryLocked(dj bool) json.RawMessage {
	i := 0
	if dj {
		i = 1
	}
	if f.history[i] == nil {
		b, err := json.Marshal(f.historyLocked(snapshotHistory, dj))
		if err != nil {
			return json.RawMessage("[]") // a PlayedTrack always encodes; never reached
		}
		f.history[i] = b
	}
	return f.history[i]
}

// historyLocked lists up to limit plays phones may see (all: also the
// withheld ones, for the DJ's console), newest first.
func (f *feed) historyLocked(limit int, all bool) []bus.PlayedTrack {
	out := make([]bus.PlayedTrack, 0, min(limit, len(f.plays)))
	for i := len(f.plays) - 1; i >= 0 && len(out) < limit; i-- {
		if _, ok := f.withheld[f.plays[i].PlayID]; !ok || all {
			out = append(out, f.plays[i])
		}
	}
	return out
}

// listenerCountLocked is the best count this gateway knows: the owner's
// union across gateways (from its last tally), or this gateway's own
// phones if that is more (the tally is up to a few seconds old).
//
// It does not prune: a count on every subscribe that walked every listener
// made a reconnect storm quadratic (30 % of the server's CPU at 15,000
// phones). Phones gone past grace are forgotten when presence is reported
// (every 2 s), so the count is at most that stale.
func (f *feed) listenerCountLocked() int {
	return max(f.tallyN, len(f.listeners))
}

// subscribe attaches c to f and queues its snapshot, in one step under f.mu.
func (h *hub) subscribe(f *feed, c *conn, clientID string, lastSeq *uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Count this phone before the snapshot, so it sees itself listening.
	f.conns[c] = struct{}{}
	l := &listener{} // the DJ's console is not a listener
	if !c.dj {
		if l = f.listeners[clientID]; l == nil {
			l = &listener{}
			f.listeners[clientID] = l
		}
		l.sockets++
	}
	now := h.now()
	snap := snapshotFrame{
		Type: frameSnapshot, SessionID: f.sid, Seq: f.state.Seq,
		Session:    sessionInfo(f.state, f.currentLocked(c.dj), f.listenerCountLocked(), now),
		History:    f.snapshotHistoryLocked(c.dj),
		Poll:       f.state.Poll,
		Paused:     f.state.Paused,
		Tally:      f.tally,
		Mine:       f.crowd.Mine(clientID),
		NowPlaying: nil,
	}
	snap.ListenerCount = snap.Session.ListenerCount
	snap.NowPlaying = snap.Session.CurrentTrack
	if a := f.state.Announcement; a != nil && now.Before(a.EndsAt) {
		snap.Announcement = a
	}
	if lastSeq != nil {
		snap.Resume = f.resumeLocked(*lastSeq)
		snap.Recovered = snap.Resume.Complete
	}
	data, err := json.Marshal(snap)
	if err != nil {
		delete(f.conns, c)
		l.sockets--
		return fmt.Errorf("gateway: encode snapshot of %s: %w", f.sid, err)
	}
	queued := c.enqueue(outItem{data: data})
	if c.dj && f.source != nil && c.enqueue(outItem{data: f.source}) {
		queued = true
	}
	if queued {
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
	if l := f.listeners[clientID]; l != nil && !c.dj {
		l.sockets--
		if l.sockets == 0 {
			l.goneAt = h.now()
		}
	}
	if len(f.conns) == 0 {
		f.idleSince = h.now()
	}
}

// listenersLocked lists the client ids of this gateway's phones, sorted:
// those with a socket open, and those whose last socket closed less than
// grace ago (a phone in a pocket drops its socket; it has not left the
// floor). It forgets the others.
func (f *feed) listenersLocked(now time.Time, grace time.Duration) []string {
	f.pruneLocked(now, grace)
	ids := make([]string, 0, len(f.listeners))
	for id := range f.listeners {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// pruneLocked forgets phones gone for longer than grace and counts the rest.
func (f *feed) pruneLocked(now time.Time, grace time.Duration) int {
	for id, l := range f.listeners {
		if l.sockets == 0 && now.Sub(l.goneAt) >= grace {
			delete(f.listeners, id)
		}
	}
	return len(f.listeners)
}

// tick stops feeds nobody has followed for evictAfter.
func (h *hub) tick(evictAfter time.Duration) {
	now := h.now()
	for _, f := range h.loadedFeeds() {
		f.mu.Lock()
		evict := len(f.conns) == 0 && f.pruneLocked(now, h.grace) == 0 && now.Sub(f.idleSince) > evictAfter
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

// feedCount is how many sessions this gateway follows or is loading.
func (h *hub) feedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.feeds)
}

// loadedFeeds lists the feeds that have loaded.
func (h *hub) loadedFeeds() []*feed {
	h.mu.Lock()
	feeds := make([]*feed, 0, len(h.feeds))
	for _, f := range h.feeds {
		feeds = append(feeds, f)
	}
	h.mu.Unlock()
	return slices.DeleteFunc(feeds, func(f *feed) bool { return !f.loaded() })
}

// presence is this gateway's report for every session it has phones of.
// A session whose phones all left gets one last, empty report so the
// owner stops counting them at once rather than when the report expires.
func (h *hub) presence(gateway string) []presenceReport {
	now := h.now()
	var out []presenceReport
	for _, f := range h.loadedFeeds() {
		f.mu.Lock()
		ids := f.listenersLocked(now, h.grace)
		send := len(ids) > 0 || f.reported
		f.reported = len(ids) > 0
		f.mu.Unlock()
		if send {
			out = append(out, presenceReport{subject: f.at.presence,
				Presence: bus.Presence{V: bus.Version, Gateway: gateway, Session: f.sid, Clients: ids, At: now.UTC()}})
		}
	}
	return out
}

// presenceReport is one session's report and where it goes: the LAN's
// bus.PresenceSubject, or in the cloud cloud.PresenceSubject, which
// crosses the leaf link down to the DJ's owner.
type presenceReport struct {
	subject string
	bus.Presence
}

// followed returns the session's feed if this gateway has loaded it.
func (h *hub) followed(sid string) *feed {
	h.mu.Lock()
	f := h.feeds[sid]
	h.mu.Unlock()
	if f == nil || !f.loaded() {
		return nil
	}
	return f
}

// restInfo is a session from the sessions bucket as /api/sessions shows
// it. A session followed here is shown from its feed, which knows which
// play is withheld; otherwise, while broadcasting is paused, the current
// track is withheld to be safe. The listener count is the stored tally's.
func (h *hub) restInfo(ctx context.Context, s bus.SessionState, now time.Time) SessionInfo {
	if f := h.followed(s.ID); f != nil {
		f.mu.Lock()
		if f.state.Seq >= s.Seq {
			info := sessionInfo(f.state, f.currentLocked(false), f.listenerCountLocked(), now)
			f.mu.Unlock()
			return info
		}
		f.mu.Unlock()
	}
	cur := s.Current
	if s.Paused {
		cur = nil
	}
	return sessionInfo(s, cur, h.storedListeners(ctx, s.ID), now)
}

// stopAll stops every feed's consumers.
func (h *hub) stopAll() {
	h.mu.Lock()
	feeds := make([]*feed, 0, len(h.feeds))
	for sid, f := range h.feeds {
		feeds = append(feeds, f)
		delete(h.feeds, sid)
	}
	h.mu.Unlock()
	for _, f := range feeds {
		f.close()
	}
}

// close stops the feed's consumers.
func (f *feed) close() {
	f.mu.Lock()
	stops := f.stops
	f.stops = nil
	f.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}
