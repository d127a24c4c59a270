package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
)

// maxTallyBytes bounds a tally kept and forwarded: a night of 500 liked
// plays is about 20 KB.
const maxTallyBytes = 256 << 10

// tallyHead is what the gateway reads of a tally; the rest is forwarded
// as the owner wrote it.
type tallyHead struct {
	Type      string    `json:"type"`
	Session   string    `json:"sessionId"`
	At        time.Time `json:"at"`
	Listeners int       `json:"listeners"`
}

func parseTally(sid string, raw []byte) (tallyHead, error) {
	var t tallyHead
	if len(raw) > maxTallyBytes {
		return t, fmt.Errorf("gateway: tally of %d bytes", len(raw))
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, fmt.Errorf("gateway: decode tally: %w", err)
	}
	if t.Type != bus.TallyType || t.Session != sid {
		return t, fmt.Errorf("gateway: tally of type %q for session %q on %s's subject", t.Type, t.Session, sid)
	}
	return t, nil
}

// onTally takes a tally the owner published for sid of DJ dj ("" on the
// LAN): a followed session's feed keeps it for snapshots and sends it,
// encoded once, to its sockets. Runs on the tally subscription's
// goroutine.
//
// In the cloud there is no tallies bucket: a feed that starts has no tally
// (no crowd counts, and listeners are this gateway's own phones) until the
// DJ side sends its next, which it does on every change and again every
// few seconds while the session is live (desktop's owner).
func (h *hub) onTally(dj, sid string, raw []byte) {
	h.mu.Lock()
	f := h.feeds[sid]
	h.mu.Unlock()
	if f == nil || f.at.dj != dj {
		return // not followed here, or another DJ's session of that id: not trusted
	}
	t, err := parseTally(sid, raw)
	if err != nil {
		h.log.Warn("tally dropped", "session", sid, "err", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.setTallyLocked(t, raw) {
		h.broadcastRawLocked(f, f.tally)
	}
}

// setTallyLocked keeps a tally unless the one kept is as new (the live
// tally and the bucket's copy of it can arrive in either order).
func (f *feed) setTallyLocked(t tallyHead, raw []byte) bool {
	if f.tally != nil && !t.At.After(f.tallyAt) {
		return false
	}
	f.tally = append(json.RawMessage(nil), raw...)
	f.tallyAt, f.tallyN = t.At, t.Listeners
	return true
}

// loadTally reads the session's latest tally from the bucket when a feed
// starts. Without one (no crowd yet, or no bucket), the feed waits for the
// owner's next.
func (h *hub) loadTally(ctx context.Context, f *feed) {
	raw, err := h.storedTally(ctx, f.sid)
	if err != nil {
		h.log.Warn("read stored tally", "session", f.sid, "err", err)
	}
	if raw == nil {
		return
	}
	t, err := parseTally(f.sid, raw)
	if err != nil {
		h.log.Warn("stored tally ignored", "session", f.sid, "err", err)
		return
	}
	f.mu.Lock()
	f.setTallyLocked(t, raw)
	f.mu.Unlock()
}

// storedTally is the session's latest tally in the bucket, or nil.
func (h *hub) storedTally(ctx context.Context, sid string) ([]byte, error) {
	kv, err := h.talliesBucket(ctx)
	if err != nil || kv == nil {
		return nil, err
	}
	entry, err := kv.Get(ctx, sid)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: get tally of %s: %w", sid, err)
	}
	return entry.Value(), nil
}

// storedListeners is the listener count of the session's stored tally, 0
// without one.
func (h *hub) storedListeners(ctx context.Context, sid string) int {
	raw, err := h.storedTally(ctx, sid)
	if err != nil {
		h.log.Warn("read stored tally", "session", sid, "err", err)
	}
	if raw == nil {
		return 0
	}
	t, err := parseTally(sid, raw)
	if err != nil {
		return 0
	}
	return t.Listeners
}

// talliesBucket opens the tallies bucket once. A missing bucket (a DJ side
// that never folded a crowd) is no error: there is just no tally yet.
func (h *hub) talliesBucket(ctx context.Context) (jetstream.KeyValue, error) {
	if h.dir != nil {
		return nil, nil // the cloud keeps none (see onTally)
	}
	h.kvMu.Lock()
	defer h.kvMu.Unlock()
	if h.tallies != nil {
		return h.tallies, nil
	}
	kv, err := h.js.KeyValue(ctx, bus.TalliesBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: open bucket %s: %w", bus.TalliesBucket, err)
	}
	h.tallies = kv
	return kv, nil
}

// publishPresence reports this gateway's phones of every followed session.
func (g *Gateway) publishPresence() {
	for _, r := range g.hub.presence(g.cfg.ID) {
		p := r.Presence
		data, err := json.Marshal(p)
		if err != nil {
			g.log.Error("encode presence", "session", p.Session, "err", err)
			continue
		}
		if err := g.cfg.Conn.Publish(r.subject, data); err != nil {
			g.log.Warn("publish presence", "session", p.Session, "err", err)
		}
	}
}
