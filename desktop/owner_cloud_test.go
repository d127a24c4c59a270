package desktop

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/internal/testenv"
)

// TestOwnerCloudCrowd: in cloud mode the owner counts a cloud gateway's
// presence report with the LAN's (a dancer seen by both counts once), sends
// its tallies up on cloud.TallySubject, and sends the unchanged tally again
// while the session is live, for a cloud gateway that starts mid-session.
func TestOwnerCloudCrowd(t *testing.T) {
	b := testenv.NATS(t)
	eng, err := New(Config{DJ: b.DJ, DJName: "DJ Cloud", JS: b.JS, KV: b.KV})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	own, err := NewOwner(ctx, eng, OwnerConfig{Conn: b.Conn, JS: b.JS, Cloud: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- own.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("owner: %v", err)
		}
	}()
	ev, _, err := eng.Play(ctx, Detected{Track: bus.NewTrack("Artist", "Cloud Song"), Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sid := ev.Session

	var mu sync.Mutex
	var cloudTallies []bus.Tally
	sub, err := b.Conn.Subscribe(cloud.TallySubject(b.DJ, sid), func(m *nats.Msg) {
		var tl bus.Tally
		if json.Unmarshal(m.Data, &tl) == nil {
			mu.Lock()
			cloudTallies = append(cloudTallies, tl)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	report := func(subject, gw string, clients ...string) {
		data, _ := json.Marshal(bus.Presence{V: bus.Version, Gateway: gw, Session: sid, Clients: clients, At: time.Now().UTC()})
		if err := b.Conn.Publish(subject, data); err != nil {
			t.Fatal(err)
		}
	}
	// c-2 is on the venue's Wi-Fi and on the cloud (a phone that moved).
	report(bus.PresenceSubject(sid), "lan-gw", "c-1", "c-2")
	report(cloud.PresenceSubject(b.DJ, sid), "cloud-gw", "c-2", "c-3")
	// Another DJ's cloud report is not this owner's to count.
	report(cloud.PresenceSubject(bus.NewDJID(), sid), "cloud-gw-2", "c-4")

	var seen int
	testenv.Eventually(t, 15*time.Second, "a cloud tally counting 3 listeners", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i, tl := range cloudTallies {
			if tl.Session == sid && tl.Listeners == 3 {
				seen = i
				return true
			}
		}
		return false
	})
	// Nothing changes now: the same tally keeps coming, re-sent.
	testenv.Eventually(t, 4*CloudTallyEvery, "the unchanged tally sent to the cloud again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, tl := range cloudTallies[seen+1:] {
			if tl.Session == sid && tl.Listeners == 3 {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	for _, tl := range cloudTallies {
		if tl.Listeners > 3 {
			t.Errorf("a cloud tally counts %d listeners: another DJ's report or a dancer twice", tl.Listeners)
		}
	}
}
