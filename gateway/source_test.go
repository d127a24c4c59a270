package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
)

// TestSourceStatusReachesConsolesOnly: the DJ side's detector status (it
// names files on the DJ's laptop) goes to the DJ's consoles, live and in
// their snapshot, never to dancers; a malformed one goes nowhere.
func TestSourceStatusReachesConsolesOnly(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ")
	fakeOwner(t, e, sid, "right")
	dancer := e.dial()
	dancer.subscribe(sid, nil)
	console := e.dial()
	console.send(frame{"type": "subscribe", "ref": "s1", "sessionId": sid, "clientId": "c-console-1", "secret": "right"})
	console.expect(frameOK)
	console.expect(frameSnapshot)

	publish := func(s bus.SourceStatus) {
		t.Helper()
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.bus.Conn.Publish(bus.SourceSubject(sid), b); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().UTC()
	// Refused: another session's id on this session's subject, a bad state.
	publish(bus.SourceStatus{Type: bus.SourceStatusType, V: 1, Session: bus.NewID(at), At: at, State: bus.SourceReading})
	publish(bus.SourceStatus{Type: bus.SourceStatusType, V: 1, Session: sid, At: at, State: "dancing"})
	publish(bus.SourceStatus{Type: bus.SourceStatusType, V: 1, Session: sid, At: at, State: bus.SourceError, Source: "serato",
		Name: "Serato DJ 4", Path: "/Users/dj/Music/_Serato_", Error: "unsupported Serato DJ 4 database: table history_entry lacks played"})

	f := console.expect(bus.SourceStatusType)
	if f.str("state") != bus.SourceError || f.str("name") != "Serato DJ 4" || f.str("error") == "" || f.str("sessionId") != sid {
		t.Fatalf("console got %v", f)
	}
	// A console that opens later gets the latest with its snapshot.
	publish(bus.SourceStatus{Type: bus.SourceStatusType, V: 1, Session: sid, At: at.Add(time.Second), State: bus.SourceReading,
		Source: "serato", Name: "Serato DJ 4", LastTrack: "Example Band – Slow Dance", LastAt: at})
	if f := console.expect(bus.SourceStatusType); f.str("state") != bus.SourceReading {
		t.Fatalf("console got %v", f)
	}
	late := e.dial()
	late.send(frame{"type": "subscribe", "ref": "s1", "sessionId": sid, "clientId": "c-console-2", "secret": "right"})
	late.expect(frameOK)
	late.expect(frameSnapshot)
	if f := late.expect(bus.SourceStatusType); f.str("lastTrack") != "Example Band – Slow Dance" {
		t.Fatalf("late console got %v", f)
	}
	// The dancer saw none of it: the next thing it gets is the next play.
	e.play(sid, "Band", "After")
	for {
		f, err := dancer.next(5 * time.Second)
		if err != nil {
			t.Fatalf("dancer: %v", err)
		}
		if f.str("type") == bus.SourceStatusType {
			t.Fatalf("a dancer got the source status: %v", f)
		}
		if f.str("type") == string(bus.TypeTrackPlayed) {
			break
		}
	}
}
