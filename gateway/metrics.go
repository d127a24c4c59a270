package gateway

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus series (Config.Metrics). The names
// are a contract with compose/dashboard.json and docs/operations.md.
// Every method is safe on a nil *metrics (no registry: no metrics), and
// none takes a lock of the gateway's or labels a series per socket: they
// sit on the fan-out and action paths.
type metrics struct {
	fanout        prometheus.Histogram
	slowDrops     prometheus.Counter
	actions       *prometheus.CounterVec
	accepted      prometheus.Counter // actions{result="accepted"}, resolved once
	duplicate     prometheus.Counter // actions{result="duplicate"}
	failed        prometheus.Counter // actions{result="error"}
	rejected      prometheus.Counter // actions{result="rejected"}
	rejectedByWhy *prometheus.CounterVec
}

// Results of pika_gateway_actions_total.
const (
	resultAccepted  = "accepted"  // stored
	resultDuplicate = "duplicate" // already so (a retry, or liking twice): answered ok, nothing stored
	resultRejected  = "rejected"  // refused: see pika_gateway_actions_rejected_total
	resultError     = "error"     // the server failed (not a refusal of the dancer's)
)

// newMetrics registers the gateway's series on reg (nil: none). Sockets
// and sessions are read at scrape time from the gateway itself, so the
// hot path pays nothing for them.
func newMetrics(reg prometheus.Registerer, g *Gateway) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pika_gateway_fanout_seconds",
			Help: "From a session event's arrival at the gateway to its frame queued for every socket of the session (the writers then send it).",
			// 100 µs to ~1.6 s: a fan-out to 10,000 sockets takes a few ms.
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 15),
		}),
		slowDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pika_gateway_slow_consumer_drops_total",
			Help: "Sockets closed with 4000 because the phone could not keep up (its queue overflowed or a write timed out); the phone reconnects and resumes.",
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pika_gateway_actions_total",
			Help: "Dancer actions (likes, unlikes, tempo votes, poll votes, thank-yous; each item of an offline batch) by result: accepted, duplicate, rejected, error.",
		}, []string{"result"}),
		rejectedByWhy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pika_gateway_actions_rejected_total",
			Help: "Dancer actions refused, by the code the dancer got (rate_limited, unknown_play, bad_request, not_subscribed, unavailable, ...).",
		}, []string{"reason"}),
	}
	m.accepted = m.actions.WithLabelValues(resultAccepted)
	m.duplicate = m.actions.WithLabelValues(resultDuplicate)
	m.rejected = m.actions.WithLabelValues(resultRejected)
	m.failed = m.actions.WithLabelValues(resultError)
	sockets := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pika_gateway_sockets",
		Help: "Open WebSocket connections (dancers and DJ consoles) on this gateway.",
	}, func() float64 { return float64(g.Sockets()) })
	sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pika_gateway_sessions",
		Help: "Sessions this gateway follows (feeds loaded); a feed nobody follows is dropped after 10 minutes.",
	}, func() float64 { return float64(g.hub.feedCount()) })
	for _, c := range []prometheus.Collector{m.fanout, m.slowDrops, m.actions, m.rejectedByWhy, sockets, sessions} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("gateway: register metrics (one registry per gateway)"), err)
		}
	}
	return m, nil
}

// fannedOut records one event's fan-out, begun at start.
func (m *metrics) fannedOut(start time.Time) {
	if m != nil {
		m.fanout.Observe(time.Since(start).Seconds())
	}
}

// slowDrop counts a socket dropped for being too slow.
func (m *metrics) slowDrop() {
	if m != nil {
		m.slowDrops.Inc()
	}
}

// action counts one action's outcome: err is what the handler answered
// (nil: stored; a *rejection: refused with its code; anything else: the
// server failed), dup whether it was already so.
func (m *metrics) action(err error, dup bool) {
	if m == nil {
		return
	}
	var rj *rejection
	switch {
	case err == nil && dup:
		m.duplicate.Inc()
	case err == nil:
		m.accepted.Inc()
	case errors.As(err, &rj):
		m.refused(rj.code)
	default:
		m.failed.Inc()
	}
}

// refused counts one action refused with code.
func (m *metrics) refused(code string) {
	if m != nil {
		m.rejected.Inc()
		m.rejectedByWhy.WithLabelValues(code).Inc()
	}
}

// isAction reports whether a frame type is a dancer action.
func isAction(typ string) bool {
	switch typ {
	case frameLike, frameUnlike, frameTempo, frameVote, frameThanks, frameLikes:
		return true
	}
	return false
}
