package persister_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/migrations"
	"github.com/pika-dj/pika/persister"
	"github.com/pika-dj/pika/persister/persistertest"
	"github.com/pika-dj/pika/persister/pgstore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// database is a fresh, migrated PostgreSQL database with a store on it and
// a connection for counting rows.
type database struct {
	dsn   string
	store *pgstore.Store
	conn  *pgx.Conn
}

func newDatabase(t testing.TB) *database {
	t.Helper()
	dsn := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := migrations.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &database{dsn: dsn, store: store, conn: conn}
}

// count reads the rows of w's session; while PostgreSQL is down it
// returns an empty count (the connection is made again when it is back).
func (d *database) count(t testing.TB, w *persistertest.Workload) persistertest.Rows {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d.conn.IsClosed() {
		c, err := pgx.Connect(ctx, d.dsn)
		if err != nil {
			return persistertest.Rows{}
		}
		d.conn = c
		t.Cleanup(func() { _ = c.Close(context.Background()) })
	}
	r, err := persistertest.Count(ctx, d.conn, w.Session)
	if err != nil {
		_ = d.conn.Close(ctx)
		return persistertest.Rows{}
	}
	return r
}

// waitRows waits until the tables hold exactly what w must become.
func (d *database) waitRows(t testing.TB, w *persistertest.Workload, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got persistertest.Rows
	for time.Now().Before(deadline) {
		if got = d.count(t, w); got == w.Want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("after %s the tables hold\n  %+v\nwant\n  %+v", within, got, w.Want)
}

// fingerprint is a digest of every row the persister wrote, to tell a
// replay that changed nothing from one that rewrote something.
func (d *database) fingerprint(t testing.TB) string {
	t.Helper()
	var out string
	for _, table := range []string{"djs", "sessions", "plays", "play_edits", "likes", "tempo_votes", "polls", "poll_votes", "announcements", "reactions"} {
		var sum string
		q := fmt.Sprintf(`SELECT coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') FROM (SELECT t FROM %s t) AS s(x)`, table)
		if table == "djs" {
			// updated_at moves on an idempotent upsert; what it holds must not.
			q = `SELECT coalesce(md5(string_agg(id || name || coalesce(name_at::text, ''), ',' ORDER BY id)), '') FROM djs`
		}
		if err := d.conn.QueryRow(context.Background(), q).Scan(&sum); err != nil {
			t.Fatalf("fingerprint %s: %v", table, err)
		}
		out += table + ":" + sum + " "
	}
	return out
}

// quietBus is an embedded server without fsync, for tests that publish
// thousands of messages and are not about the DJ's disk.
func quietBus(t testing.TB) (jetstream.JetStream, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dj := bus.NewDJID()
	srv, err := natsserver.Start(ctx, natsserver.Config{StoreDir: t.TempDir(), Domain: dj, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect("test")
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close(); srv.Shutdown() })
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bus.EnsureDJ(ctx, js, dj); err != nil {
		t.Fatal(err)
	}
	return js, dj
}

// TestPersister_Replay: the whole streams consumed from the start by one
// durable, then again by a fresh one: the same rows, none doubled, none
// changed.
func TestPersister_Replay(t *testing.T) {
	js, dj := quietBus(t)
	db := newDatabase(t)
	w := persistertest.Night(dj, 4000)
	publish(t, js, w.Items)
	streams := []string{bus.StreamName(dj), bus.ActionsStreamName(dj)}

	stop := run(t, persister.Config{JS: js, Store: db.store, Streams: streams, Durable: "first"})
	db.waitRows(t, w, 30*time.Second)
	stop()
	before := db.fingerprint(t)

	run(t, persister.Config{JS: js, Store: db.store, Streams: streams, Durable: "replay"})
	for _, s := range streams {
		testenv.Eventually(t, 30*time.Second, s+": replayed to the end", func() bool {
			c, err := js.Consumer(context.Background(), s, "replay")
			if err != nil {
				return false // not made yet
			}
			info, err := c.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream > 0
		})
	}
	if got := db.count(t, w); got != w.Want {
		t.Fatalf("after the replay the tables hold\n  %+v\nwant\n  %+v", got, w.Want)
	}
	if after := db.fingerprint(t); after != before {
		t.Errorf("the replay changed rows:\nbefore %s\nafter  %s", before, after)
	}
}

// recordingStore remembers the ids of every item in a committed batch.
type recordingStore struct {
	persister.Writer
	mu      sync.Mutex
	written map[string]bool
	commits int
}

func (r *recordingStore) WriteBatch(ctx context.Context, events []bus.Event, actions []bus.Action) error {
	if err := r.Writer.WriteBatch(ctx, events, actions); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commits++
	for _, e := range events {
		r.written[e.ID] = true
	}
	for _, a := range actions {
		r.written[a.ID] = true
	}
	return nil
}

func (r *recordingStore) snapshot() (commits int, written map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	written = make(map[string]bool, len(r.written))
	for k := range r.written {
		written[k] = true
	}
	return r.commits, written
}

// TestPersister_Outage: PostgreSQL stops for 30 seconds during a burst.
// Nothing is acknowledged that was not committed (every message at or
// below each consumer's ack floor was in a committed batch), and every row
// lands once PostgreSQL is back.
func TestPersister_Outage(t *testing.T) {
	js, dj := quietBus(t)
	db := newDatabase(t)
	cluster := testenv.PostgresCluster(t)
	w := persistertest.Night(dj, 8000)
	streams := []string{bus.StreamName(dj), bus.ActionsStreamName(dj)}
	rec := &recordingStore{Writer: db.store, written: map[string]bool{}}
	logs := &logCounter{}
	run(t, persister.Config{JS: js, Store: rec, Streams: streams, Logger: logs.logger()})

	first, burst := w.Items[:3000], w.Items[3000:]
	publish(t, js, first)
	testenv.Eventually(t, 20*time.Second, "the first part written", func() bool {
		_, written := rec.snapshot()
		return len(written) == len(first)
	})

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = cluster.Start()
		}
	})
	published := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		published <- persistertest.Publish(ctx, js, burst)
	}()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(stopped.Add(30 * time.Second)))

	commits, written := rec.snapshot()
	t.Logf("during the outage: %d items committed in %d batches before it, %d published during it", len(written), commits, len(burst))
	if len(written) != len(first) {
		t.Errorf("%d items committed while PostgreSQL was down, want %d (the first part only)", len(written), len(first))
	}
	for _, s := range streams {
		info := consumerInfo(t, js, s, persister.DefaultDurable)
		if info.NumAckPending == 0 && info.NumPending == 0 {
			t.Errorf("%s: nothing pending during the outage", s)
		}
		checkAckedWritten(t, js, s, info.AckFloor.Stream, written)
	}

	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	began := time.Now()
	db.waitRows(t, w, 60*time.Second)
	t.Logf("every row landed %s after PostgreSQL came back", time.Since(began).Round(time.Millisecond))
	for _, s := range streams {
		testenv.Eventually(t, 10*time.Second, s+": everything acknowledged", func() bool {
			info := consumerInfo(t, js, s, persister.DefaultDurable)
			return info.NumPending == 0 && info.NumAckPending == 0
		})
	}
	if n := logs.count("cannot write to the store"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
}

// checkAckedWritten checks that every message of stream up to ackFloor
// was in a committed batch.
func checkAckedWritten(t *testing.T, js jetstream.JetStream, stream string, ackFloor uint64, written map[string]bool) {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= ackFloor; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("%s: message %d: %v", stream, seq, err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); !written[id] {
			t.Fatalf("%s: message %d (%s) acknowledged but never committed", stream, seq, id)
		}
	}
}

// BenchmarkPersister_Backlog measures the rows per second the persister
// sustains draining a backlog: 50,000 items (about 48,000 dancer actions
// and 2,000 session events) published beforehand, timed from its start
// until every row is in PostgreSQL. Each iteration uses a fresh database
// and a fresh durable consumer.
func BenchmarkPersister_Backlog(b *testing.B) {
	js, dj := quietBus(b)
	w := persistertest.Night(dj, 50000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := persistertest.Publish(ctx, js, w.Items); err != nil {
		b.Fatal(err)
	}
	streams := []string{bus.StreamName(dj), bus.ActionsStreamName(dj)}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := newDatabase(b)
		p, err := persister.New(persister.Config{JS: js, Store: db.store, Streams: streams, Durable: fmt.Sprintf("bench%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		began := time.Now()
		go func() { done <- p.Run(rctx) }()
		for db.count(b, w) != w.Want {
			time.Sleep(20 * time.Millisecond)
		}
		total += time.Since(began)
		b.StopTimer()
		stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(w.Items)*b.N)/total.Seconds(), "items/s")
	b.ReportMetric(float64(w.Actions()*b.N)/total.Seconds(), "actions/s")
}
