package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
)

// TestActionStoreGroupsWhatWaits: actions that wait while a store is under
// way go out together as one message, each stored once and folded once by
// every reader; a lone action goes out alone, as before.
func TestActionStoreGroupsWhatWaits(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ")
	play := e.play(sid, "Example Band", "Slow Dance")
	now := time.Now().UTC()
	s := newActionStore(sid, e.bus.JS, 5*time.Second, e.gw.log)

	// Ten dancers' actions arrive before the store starts: all ten are
	// waiting when it takes the first, so they share one message.
	const n = 10
	var wg sync.WaitGroup
	results := make([]storeResult, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := bus.Action{V: bus.Version, ID: bus.NewID(now), Kind: bus.ActLike, Session: sid,
				Client: fmt.Sprintf("c-batch-%04d", i), At: now, PlayID: play.ID}
			results[i].duplicate, results[i].err = s.store(context.Background(), a)
		}()
	}
	testenv.Eventually(t, 10*time.Second, "ten actions waiting", func() bool { return len(s.in) == n })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.run(ctx)
	wg.Wait()
	for i, r := range results {
		if r.err != nil || r.duplicate {
			t.Fatalf("action %d: %+v", i, r)
		}
	}
	msgs := e.actionMessages()
	if len(msgs) != 1 || msgs[0].subject != bus.ActionBatchSubject(sid) {
		t.Fatalf("stored %d messages (%v), want the ten in one batch", len(msgs), msgs)
	}
	if got := e.storedActions(sid); len(got) != n {
		t.Fatalf("%d actions stored, want %d", len(got), n)
	}

	// A lone action is its own message on its kind's subject.
	lone := bus.Action{V: bus.Version, ID: bus.NewID(now), Kind: bus.ActThanks, Session: sid, Client: "c-alone-0001", At: now}
	if dup, err := s.store(context.Background(), lone); err != nil || dup {
		t.Fatalf("lone action: %v %v", dup, err)
	}
	msgs = e.actionMessages()
	if len(msgs) != 2 || msgs[1].subject != bus.ActionSubject(sid, bus.ActThanks) {
		t.Fatalf("messages %v, want the lone thanks on its own subject", msgs)
	}

	// Every reader folds the batch: the gateway's own feed counts ten likes.
	e.dial().subscribe(sid, nil)
	testenv.Eventually(t, 10*time.Second, "the feed folded the batch", func() bool {
		f := e.gw.hub.followed(sid)
		if f == nil {
			return false
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.crowd.Tally(sid, now, 0).Likes[play.ID] == n
	})

	// Once stopped, a store refuses at once instead of hanging a dancer.
	cancel()
	<-s.done
	if _, err := s.store(context.Background(), lone); err != errStoreStopped {
		t.Fatalf("store after stop: %v", err)
	}
}

type storedMsg struct {
	subject string
	actions []bus.Action
}

// actionMessages lists the actions stream's messages in order.
func (e *env) actionMessages() []storedMsg {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.bus.JS.Stream(ctx, bus.ActionsStreamName(e.bus.DJ))
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []storedMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			e.t.Fatal(err)
		}
		as, err := bus.DecodeActions(m.Data)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, storedMsg{subject: m.Subject, actions: as})
	}
	return out
}
