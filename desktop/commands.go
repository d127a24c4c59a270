package desktop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pika-dj/pika/bus"
)

// errNoSession refuses a DJ command when nothing is live.
var errNoSession = errors.New("no live session")

// emit stores one event of type typ in the live session sid, filled by
// fill, which may refuse it (it runs with the engine's op held, so the
// state it checks cannot change before the event is stored).
func (e *Engine) emit(ctx context.Context, sid string, typ bus.Type, fill func(st *bus.SessionState, ev *bus.Event) error) (bus.Event, error) {
	if err := e.lock(ctx); err != nil {
		return bus.Event{}, err
	}
	defer e.unlock()
	if err := e.readyLocked(ctx); err != nil {
		return bus.Event{}, err
	}
	if e.cur == nil || e.cur.st.ID != sid {
		return bus.Event{}, errNoSession
	}
	at := e.now()
	ev := bus.Event{V: bus.Version, ID: bus.NewID(at), Type: typ, Session: sid, Seq: e.cur.st.Seq + 1, At: at, DJ: e.cfg.DJ}
	if err := fill(&e.cur.st, &ev); err != nil {
		return bus.Event{}, err
	}
	if _, err := e.commit(ctx, e.cur, ev); err != nil {
		return bus.Event{}, fmt.Errorf("desktop: publish %s: %w", typ, err)
	}
	return ev, nil
}

// played reports whether play is a play of the live session.
func (e *Engine) playedLocked(playID string) bool {
	ev, ok := e.cur.seen[playID]
	return ok && ev.Type == bus.TypeTrackPlayed
}

// refusal is a command refused with a code and a readable reason.
type refusal struct{ code, reason string }

func (r *refusal) Error() string { return r.reason }

func refuse(code, format string, args ...any) error {
	return &refusal{code: code, reason: fmt.Sprintf(format, args...)}
}

// clampDuration checks a timer in seconds against [lo, hi].
func clampDuration(seconds int, lo, hi time.Duration, what string) (time.Duration, error) {
	d := time.Duration(seconds) * time.Second
	if d < lo || d > hi {
		return 0, refuse(bus.CodeBadRequest, "%s must last %d to %d seconds.", what, int(lo.Seconds()), int(hi.Seconds()))
	}
	return d, nil
}
