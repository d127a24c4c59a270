package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/pika-dj/pika/bus"
)

// onSourceStatus takes the DJ side's detector status for sid: a followed
// session's feed keeps the latest and sends it to the DJ's consoles, never
// to dancers (it names files on the DJ's laptop). Runs on the
// subscription's goroutine.
func (h *hub) onSourceStatus(sid string, raw []byte) {
	h.mu.Lock()
	f := h.feeds[sid]
	h.mu.Unlock()
	if f == nil {
		return // not followed here
	}
	s, err := parseSourceStatus(sid, raw)
	if err != nil {
		h.log.Warn("source status dropped", "session", sid, "err", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.source != nil && !s.At.After(f.sourceAt) {
		return // an older one arriving late
	}
	if bytes.Equal(f.source, raw) {
		return
	}
	f.source, f.sourceAt = append(json.RawMessage(nil), raw...), s.At
	for c := range f.conns {
		if c.dj && c.enqueue(outItem{data: f.source}) {
			h.writers.schedule(h.ctx, c)
		}
	}
}

func parseSourceStatus(sid string, raw []byte) (bus.SourceStatus, error) {
	var s bus.SourceStatus
	if len(raw) > bus.MaxSourceStatusBytes {
		return s, fmt.Errorf("gateway: source status of %d bytes", len(raw))
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("gateway: decode source status: %w", err)
	}
	if err := s.Validate(); err != nil {
		return s, err
	}
	if s.Session != sid {
		return s, fmt.Errorf("gateway: source status of session %q on %s's subject", s.Session, sid)
	}
	return s, nil
}
