package persister_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/persister"
	"github.com/pika-dj/pika/persister/persistertest"
)

// memStore is a Writer in memory: idempotent by id like the real one, and
// able to fail on demand like PostgreSQL going away.
type memStore struct {
	mu      sync.Mutex
	events  map[string]bus.Event
	actions map[string]bus.Action
	batches []int
	failing bool
	fails   int
}

func newMemStore() *memStore {
	return &memStore{events: map[string]bus.Event{}, actions: map[string]bus.Action{}}
}

var errDown = errors.New("store is down")

func (s *memStore) WriteBatch(ctx context.Context, events []bus.Event, actions []bus.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		s.fails++
		return errDown
	}
	for _, e := range events {
		s.events[e.ID] = e
	}
	for _, a := range actions {
		s.actions[a.ID] = a
	}
	s.batches = append(s.batches, len(events)+len(actions))
	return nil
}

func (s *memStore) setFailing(f bool) {
	s.mu.Lock()
	s.failing = f
	s.mu.Unlock()
}

func (s *memStore) counts() (events, actions, fails int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events), len(s.actions), s.fails
}

// run starts a persister and returns a func that stops it and checks it
// returned nil promptly.
func run(t *testing.T, cfg persister.Config) (stop func()) {
	t.Helper()
	p, err := persister.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return within 20 s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func consumerInfo(t *testing.T, js jetstream.JetStream, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(context.Background(), stream, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func publish(t *testing.T, js jetstream.JetStream, items []persistertest.Item) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := persistertest.Publish(ctx, js, items); err != nil {
		t.Fatal(err)
	}
}

// TestPersister_WritesAndAcks: everything in both streams is written once
// and acknowledged, in batches no larger than Batch.
func TestPersister_WritesAndAcks(t *testing.T) {
	b := testenv.NATS(t)
	w := persistertest.Night(b.DJ, 1200)
	publish(t, b.JS, w.Items)
	store := newMemStore()
	reg := prometheus.NewRegistry()
	run(t, persister.Config{JS: b.JS, Store: store, Batch: 100, Metrics: reg,
		Streams: []string{bus.StreamName(b.DJ), bus.ActionsStreamName(b.DJ)}})

	testenv.Eventually(t, 20*time.Second, "every event and action written", func() bool {
		e, a, _ := store.counts()
		return e == w.Events() && a == w.Actions()
	})
	for _, s := range []string{bus.StreamName(b.DJ), bus.ActionsStreamName(b.DJ)} {
		testenv.Eventually(t, 5*time.Second, s+": everything acknowledged", func() bool {
			info := consumerInfo(t, b.JS, s, persister.DefaultDurable)
			return info.NumPending == 0 && info.NumAckPending == 0
		})
	}
	store.mu.Lock()
	for _, n := range store.batches {
		if n > 100 {
			t.Errorf("a batch of %d, want at most 100", n)
		}
	}
	store.mu.Unlock()
	if got := metricValue(t, reg, "pika_persister_rows_written_total", nil); got < float64(len(w.Items)) {
		t.Errorf("rows written metric %v, want at least %d", got, len(w.Items))
	}
	if got := metricValue(t, reg, "pika_persister_lag_messages", map[string]string{"stream": bus.ActionsStreamName(b.DJ)}); got != 0 {
		t.Errorf("lag %v after catching up, want 0", got)
	}
}

// TestPersister_NeverAcksUnwritten: while the store fails, the batch in
// hand is retried and nothing is acknowledged; when it comes back every
// message lands, and one outage is logged as one warning, not one per try.
func TestPersister_NeverAcksUnwritten(t *testing.T) {
	b := testenv.NATS(t)
	store := newMemStore()
	store.setFailing(true)
	logs := &logCounter{}
	reg := prometheus.NewRegistry()
	stream := bus.ActionsStreamName(b.DJ)
	run(t, persister.Config{JS: b.JS, Store: store, Batch: 50, AckWait: 2 * time.Second, Metrics: reg,
		Logger: logs.logger(), Streams: []string{stream}})
	w := persistertest.Night(b.DJ, 300)
	var actions []persistertest.Item
	for _, it := range w.Items {
		if it.Action != nil {
			actions = append(actions, it)
		}
	}
	publish(t, b.JS, actions)

	// Long enough for several retries and for AckWait to pass twice: the
	// batch must be kept alive, not redelivered or acknowledged.
	// The backoff doubles from 100 ms with jitter (d/2..d): five failures
	// take 0.75–1.5 s, eight up to 11.3 s, so wait for five, generously.
	testenv.Eventually(t, 30*time.Second, "retries", func() bool { _, _, f := store.counts(); return f >= 5 })
	time.Sleep(4 * time.Second)
	info := consumerInfo(t, b.JS, stream, persister.DefaultDurable)
	if info.AckFloor.Stream != 0 || info.NumAckPending != 50 {
		t.Fatalf("during the outage: ack floor %d, %d pending acks; want 0 and the one batch of 50", info.AckFloor.Stream, info.NumAckPending)
	}
	if info.NumRedelivered != 0 {
		t.Errorf("%d messages redelivered while the batch was held: InProgress did not keep it", info.NumRedelivered)
	}
	if e, a, _ := store.counts(); e+a != 0 {
		t.Fatalf("%d written while failing", e+a)
	}

	store.setFailing(false)
	testenv.Eventually(t, 20*time.Second, "every action written after the store came back", func() bool {
		_, a, _ := store.counts()
		return a == len(actions)
	})
	testenv.Eventually(t, 5*time.Second, "everything acknowledged", func() bool {
		info := consumerInfo(t, b.JS, stream, persister.DefaultDurable)
		return info.NumPending == 0 && info.NumAckPending == 0
	})
	if n := logs.count("cannot write to the store"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	if n := logs.count("writing to the store works again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
	if got := metricValue(t, reg, "pika_persister_errors_total", map[string]string{"kind": "write"}); got < 5 {
		t.Errorf("write errors metric %v, want ≥ 5", got)
	}
}

// TestPersister_UndecodableIsSkipped: a stored message that is no valid
// action is counted and acknowledged (it can never be written), and the
// valid ones around it are written.
func TestPersister_UndecodableIsSkipped(t *testing.T) {
	b := testenv.NATS(t)
	w := persistertest.Night(b.DJ, 100)
	var actions []persistertest.Item
	for _, it := range w.Items {
		if it.Action != nil {
			actions = append(actions, it)
		}
	}
	ctx := context.Background()
	publish(t, b.JS, actions[:10])
	for _, junk := range []string{"{", `{"v":1,"kind":"like"}`, `{"v":9}`} {
		if _, err := b.JS.Publish(ctx, bus.ActionSubject(w.Session, bus.ActLike), []byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, b.JS, actions[10:])
	store := newMemStore()
	reg := prometheus.NewRegistry()
	stream := bus.ActionsStreamName(b.DJ)
	run(t, persister.Config{JS: b.JS, Store: store, Metrics: reg, Streams: []string{stream}})
	testenv.Eventually(t, 10*time.Second, "valid actions written", func() bool {
		_, a, _ := store.counts()
		return a == len(actions)
	})
	testenv.Eventually(t, 5*time.Second, "everything acknowledged, junk too", func() bool {
		info := consumerInfo(t, b.JS, stream, persister.DefaultDurable)
		return info.NumPending == 0 && info.NumAckPending == 0
	})
	if got := metricValue(t, reg, "pika_persister_errors_total", map[string]string{"kind": "decode"}); got != 3 {
		t.Errorf("decode errors %v, want 3", got)
	}
}

// TestPersister_Discovers: with no streams named, a DJ whose streams appear
// after the start is found and persisted.
func TestPersister_Discovers(t *testing.T) {
	b := testenv.NATS(t)
	store := newMemStore()
	run(t, persister.Config{JS: b.JS, Store: store, Discover: 200 * time.Millisecond})
	// A second DJ's streams, as the cloud holds them: their own subjects
	// (one server cannot hold two streams on pika.s.>), the same bodies.
	ctx := context.Background()
	other := bus.NewDJID()
	for _, sc := range []jetstream.StreamConfig{
		{Name: bus.StreamName(other), Subjects: []string{"cloud." + other + ".s.>"}},
		{Name: bus.ActionsStreamName(other), Subjects: []string{"cloud." + other + ".a.>"}},
		{Name: "KV_other", Subjects: []string{"other.>"}}, // not the persister's business
	} {
		if _, err := b.JS.CreateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	w1, w2 := persistertest.Night(b.DJ, 50), persistertest.Night(other, 50)
	publish(t, b.JS, w1.Items)
	for _, it := range w2.Items {
		m, err := it.Msg()
		if err != nil {
			t.Fatal(err)
		}
		m.Subject = "cloud." + other + "." + m.Subject[len("pika."):]
		if _, err := b.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.JS.Publish(ctx, "other.x", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "both DJs' streams written", func() bool {
		e, a, _ := store.counts()
		return e == w1.Events()+w2.Events() && a == w1.Actions()+w2.Actions()
	})
}

// TestPersister_StopAbandonsUnwritten: stopped while the store is down, Run
// returns promptly and acknowledges nothing; the next persister with the
// same durable name gets every message again and writes it.
func TestPersister_StopAbandonsUnwritten(t *testing.T) {
	b := testenv.NATS(t)
	w := persistertest.Night(b.DJ, 200)
	publish(t, b.JS, w.Items)
	streams := []string{bus.StreamName(b.DJ), bus.ActionsStreamName(b.DJ)}
	down := newMemStore()
	down.setFailing(true)
	stop := run(t, persister.Config{JS: b.JS, Store: down, Streams: streams, AckWait: time.Second})
	testenv.Eventually(t, 10*time.Second, "retries", func() bool { _, _, f := down.counts(); return f >= 4 })
	began := time.Now()
	stop()
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("stopping took %s with a batch in hand", d)
	}
	for _, s := range streams {
		if info := consumerInfo(t, b.JS, s, persister.DefaultDurable); info.AckFloor.Stream != 0 {
			t.Fatalf("%s: ack floor %d after a run that wrote nothing", s, info.AckFloor.Stream)
		}
	}

	up := newMemStore()
	run(t, persister.Config{JS: b.JS, Store: up, Streams: streams, AckWait: time.Second})
	testenv.Eventually(t, 20*time.Second, "everything written by the next run", func() bool {
		e, a, _ := up.counts()
		return e == w.Events() && a == w.Actions()
	})
}

func TestNew_Refuses(t *testing.T) {
	b := testenv.NATS(t)
	for name, cfg := range map[string]persister.Config{
		"no JetStream":  {Store: newMemStore()},
		"no store":      {JS: b.JS},
		"foreign name":  {JS: b.JS, Store: newMemStore(), Streams: []string{"KV_pika_sessions"}},
		"dotted durabl": {JS: b.JS, Store: newMemStore(), Durable: "a.b"},
	} {
		if _, err := persister.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	reg := prometheus.NewRegistry()
	if _, err := persister.New(persister.Config{JS: b.JS, Store: newMemStore(), Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := persister.New(persister.Config{JS: b.JS, Store: newMemStore(), Metrics: reg}); err == nil {
		t.Error("a second persister registered the same metrics on one registry")
	}
}
