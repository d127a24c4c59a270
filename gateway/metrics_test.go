package gateway

import (
	"bufio"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
)

// scrape GETs /metrics through promhttp, as Prometheus would, and returns
// each sample by its series ("name{labels}").
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsMove is must-show 6 for the gateway: a scrape during a small
// load (phones, plays, likes, a duplicate, a refused action, a phone too
// slow to keep up) shows every named series moving.
func TestMetricsMove(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *Config) { c.Metrics = reg; c.QueueLen = 4 })
	before := scrape(t, reg)
	for _, name := range []string{"pika_gateway_sockets", "pika_gateway_sessions", "pika_gateway_fanout_seconds_count", "pika_gateway_slow_consumer_drops_total"} {
		if v, ok := before[name]; !ok || v != 0 {
			t.Errorf("before any load %s = %v (present %v), want 0", name, v, ok)
		}
	}

	sid := e.startSession("DJ")
	phones := []*client{e.dial(), e.dial(), e.dial()}
	for i, p := range phones {
		p.subscribeAs("c-metrics-phone-"+strconv.Itoa(i), sid, nil)
	}
	slow := e.dial()
	slow.subscribeAs("c-metrics-slow", sid, nil)
	during := scrape(t, reg)
	if during["pika_gateway_sockets"] != 4 || during["pika_gateway_sessions"] != 1 {
		t.Errorf("with 4 phones on 1 session: sockets %v, sessions %v", during["pika_gateway_sockets"], during["pika_gateway_sessions"])
	}

	play := e.play(sid, "Artist", "Song")
	for _, p := range phones {
		p.expect(string(bus.TypeTrackPlayed))
	}
	slow.expect(string(bus.TypeTrackPlayed))
	phones[0].send(frame{"type": "like", "ref": "l1", "playId": play.ID})
	phones[0].expect(frameOK)
	phones[1].send(frame{"type": "like", "ref": "l2", "playId": play.ID})
	phones[1].expect(frameOK)
	phones[1].send(frame{"type": "like", "ref": "l3", "playId": play.ID}) // already liked
	phones[1].expect(frameOK)
	phones[2].send(frame{"type": "like", "ref": "l4", "playId": bus.NewID(time.Now())}) // no such play
	if f := phones[2].expect(frameError); f.str("code") != bus.CodeUnknownPlay {
		t.Fatalf("like of an unknown play: %v", f)
	}

	// The slow phone stops reading: hold its writer, as a full kernel
	// buffer would, until its queue (4) overflows.
	sc := e.connOf("c-metrics-slow")
	sc.writeMu.Lock()
	for i := range 6 {
		e.play(sid, "Artist", "Next "+strconv.Itoa(i))
		for _, p := range phones {
			p.expect(string(bus.TypeTrackPlayed))
		}
	}
	sc.writeMu.Unlock()
	for {
		if _, err := slow.next(5 * time.Second); err != nil {
			break
		}
	}

	var after map[string]float64
	testenv.Eventually(t, 10*time.Second, "the slow phone counted as dropped and gone", func() bool {
		after = scrape(t, reg)
		return after["pika_gateway_slow_consumer_drops_total"] >= 1 && after["pika_gateway_sockets"] == 3
	})
	for name, want := range map[string]float64{
		"pika_gateway_sockets":                                       3,
		"pika_gateway_sessions":                                      1,
		"pika_gateway_slow_consumer_drops_total":                     1,
		`pika_gateway_actions_total{result="accepted"}`:              2,
		`pika_gateway_actions_total{result="duplicate"}`:             1,
		`pika_gateway_actions_total{result="rejected"}`:              1,
		`pika_gateway_actions_rejected_total{reason="unknown_play"}`: 1,
	} {
		if got := after[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// Seven plays reached phones: each fan-out is measured once.
	if n := after["pika_gateway_fanout_seconds_count"]; n != 7 {
		t.Errorf("fan-outs measured: %v, want 7", n)
	}
	if s := after["pika_gateway_fanout_seconds_sum"]; s <= 0 || s > 7*10 {
		t.Errorf("fan-out seconds sum %v", s)
	}
	t.Logf("fan-out: %d events, mean %.1f µs", int(after["pika_gateway_fanout_seconds_count"]),
		1e6*after["pika_gateway_fanout_seconds_sum"]/after["pika_gateway_fanout_seconds_count"])
}

// connOf finds the gateway's socket of a client id.
func (e *env) connOf(clientID string) *conn {
	e.t.Helper()
	e.gw.mu.Lock()
	defer e.gw.mu.Unlock()
	for c := range e.gw.conns {
		if c.clientID == clientID {
			return c
		}
	}
	e.t.Fatalf("no socket of %s", clientID)
	return nil
}
