package gateway

import (
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
)

// TestStalledFollowerIsRestarted: a feed whose ordered consumer has died
// (as one was seen to after its NATS node was killed) notices that its
// stream went on without it and restarts from the next sequence: the
// phone gets the play it would have missed, once.
func TestStalledFollowerIsRestarted(t *testing.T) {
	e := newEnv(t, nil)
	e.gw.hub.watchEvery = 100 * time.Millisecond
	sid := e.startSession("DJ")
	e.play(sid, "A", "Before")
	c := e.dial()
	c.subscribe(sid, nil)

	f := e.gw.hub.followed(sid)
	if f == nil {
		t.Fatal("feed not loaded")
	}
	f.mu.Lock()
	events := f.followers[0]
	f.mu.Unlock()
	events.stop() // the consumer dies without a word

	e.play(sid, "B", "While stalled")
	fr := c.expect(string(bus.TypeTrackPlayed))
	seq := fr.num("seq")
	events.mu.Lock()
	restarts := events.restarts
	events.mu.Unlock()
	if restarts != 1 {
		t.Errorf("%d restarts, want 1", restarts)
	}
	// Nothing twice: the next frame is the next play.
	e.play(sid, "C", "After")
	if next := c.expect(string(bus.TypeTrackPlayed)).num("seq"); next != seq+1 {
		t.Errorf("after the restart got seq %v, want %v", next, seq+1)
	}
}
