package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/persister/persistertest"
)

// persisterProc is a running `pika persister` process.
type persisterProc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
}

func startPersister(t *testing.T, bin string, env ...string) *persisterProc {
	t.Helper()
	cmd := exec.Command(bin, "persister")
	cmd.Env = append(os.Environ(), env...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &persisterProc{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("pika persister output:\n%s", out)
		}
	})
	return p
}

// stop sends sig and waits for the process to end.
func (p *persisterProc) stop(t *testing.T, sig os.Signal, within time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(within):
		t.Fatalf("pika persister did not exit within %s of %v", within, sig)
		return nil
	}
}

// rowCounter counts a workload's rows, reconnecting as needed; before the
// persister has made the tables it counts nothing.
type rowCounter struct {
	dsn  string
	conn *pgx.Conn
}

func (r *rowCounter) count(w *persistertest.Workload) persistertest.Rows {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r.conn == nil || r.conn.IsClosed() {
		c, err := pgx.Connect(ctx, r.dsn)
		if err != nil {
			return persistertest.Rows{}
		}
		r.conn = c
	}
	got, err := persistertest.Count(ctx, r.conn, w.Session)
	if err != nil {
		return persistertest.Rows{}
	}
	return got
}

func (r *rowCounter) close() {
	if r.conn != nil {
		_ = r.conn.Close(context.Background())
	}
}

// TestPersisterCrash: 10,000 events and actions published while `pika
// persister` runs as its own process; kill -9 in the middle, start it
// again: exactly the expected rows in every table, none missing, none
// doubled. Then Ctrl-C drains it and it exits 0, and its metrics were
// served.
func TestPersisterCrash(t *testing.T) {
	bin := pikaBinary(t)
	dsn := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The bus in this test process, with a client port for the persister.
	dj := bus.NewDJID()
	srv, err := natsserver.Start(ctx, natsserver.Config{StoreDir: t.TempDir(), Domain: dj, Listen: "127.0.0.1:0", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bus.EnsureDJ(ctx, js, dj); err != nil {
		t.Fatal(err)
	}

	w := persistertest.Night(dj, 10000)
	metricsAddr := freeAddr(t)
	// This bus checks no credentials (a DJ's embedded server); the
	// persister's default user needs a password all the same.
	env := []string{"PIKA_NATS_URL=" + srv.ClientURL(), "DATABASE_URL=" + dsn, "PIKA_STREAMS=", "PIKA_METRICS_ADDR=" + metricsAddr,
		"PIKA_NATS_PASSWORD=ignored-by-an-open-bus"}
	first := startPersister(t, bin, env...)

	// Publish in steps of 200 every 40 ms (about 2 s in all), so the kill
	// falls while messages are still arriving and batches are in flight.
	published := make(chan error, 1)
	go func() {
		for i := 0; i < len(w.Items); i += 200 {
			if err := persistertest.Publish(ctx, js, w.Items[i:min(i+200, len(w.Items))]); err != nil {
				published <- err
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
		published <- nil
	}()

	rows := &rowCounter{dsn: dsn}
	defer rows.close()
	want := w.Want.Total()
	testenv.Eventually(t, 60*time.Second, "the first persister writes a quarter of the rows", func() bool {
		return rows.count(w).Total() >= want/4
	})
	if err := first.stop(t, syscall.SIGKILL, 10*time.Second); err == nil {
		t.Fatal("kill -9 ended pika persister with status 0")
	}
	atKill := rows.count(w)
	t.Logf("killed with %d of %d rows written", atKill.Total(), want)
	if atKill.Total() >= want {
		t.Fatal("everything was written before the kill: the test did not kill in the middle")
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}

	second := startPersister(t, bin, env...)
	began := time.Now()
	deadline := began.Add(90 * time.Second)
	var got persistertest.Rows
	for got = rows.count(w); got != w.Want && time.Now().Before(deadline); got = rows.count(w) {
		time.Sleep(100 * time.Millisecond)
	}
	if got != w.Want {
		t.Fatalf("after the restart the tables hold\n  %+v\nwant\n  %+v", got, w.Want)
	}
	t.Logf("every row in %s after the restart (unacknowledged batches come back after the consumer's ack wait)", time.Since(began).Round(time.Millisecond))
	for _, s := range []string{bus.StreamName(dj), bus.ActionsStreamName(dj)} {
		testenv.Eventually(t, 15*time.Second, s+": everything acknowledged", func() bool {
			c, err := js.Consumer(ctx, s, "persister")
			if err != nil {
				return false
			}
			info, err := c.Info(ctx)
			return err == nil && info.NumPending == 0 && info.NumAckPending == 0
		})
	}

	metrics := getText(t, "http://"+metricsAddr+"/metrics")
	for _, m := range []string{"pika_persister_lag_messages", "pika_persister_batch_messages_bucket", "pika_persister_write_seconds_bucket", `pika_persister_errors_total{kind="write"}`, `pika_persister_rows_written_total{kind="action"}`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	if err := second.stop(t, os.Interrupt, 15*time.Second); err != nil {
		t.Fatalf("pika persister exited badly on Ctrl-C: %v\n%s", err, second.out)
	}
	if got := rows.count(w); got != w.Want {
		t.Fatalf("after the Ctrl-C the tables hold %+v, want %+v", got, w.Want)
	}
}

// TestPersisterConfig: missing and bad settings are refused, one line
// each, with status 2; values never echo a database password.
func TestPersisterConfig(t *testing.T) {
	bin := pikaBinary(t)
	cmd := exec.Command(bin, "persister", "--streams", "KV_x,DJ_ok", "--metrics-addr", "nope", "--database-url", "mysql://u:secret@h/db")
	cmd.Env = []string{"PIKA_NATS_URL=http://x"}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2\n%s", err, out)
	}
	for _, want := range []string{"--nats-url/PIKA_NATS_URL", "--database-url/DATABASE_URL", `--streams/PIKA_STREAMS "KV_x"`, "--metrics-addr/PIKA_METRICS_ADDR",
		`--nats-password/PIKA_NATS_PASSWORD: required to connect as "persister"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "secret") {
		t.Errorf("the database password was printed:\n%s", out)
	}
	if n := strings.Count(string(out), "\n  "); n != 5 {
		t.Errorf("%d lines of problems, want 5:\n%s", n, out)
	}

	cmd = exec.Command(bin, "persister")
	cmd.Env = []string{}
	out, _ = cmd.CombinedOutput()
	for _, want := range []string{"--nats-url/PIKA_NATS_URL: required", "--database-url/DATABASE_URL is not set", "--nats-password/PIKA_NATS_PASSWORD: required"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("with nothing set, output lacks %q:\n%s", want, out)
		}
	}
}

// freeAddr returns a 127.0.0.1 address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLANPersists: `pika lan` with DATABASE_URL migrates the database and
// writes the night's plays to it in-process; without it nothing changes
// (every other LAN test runs without PostgreSQL).
func TestLANPersists(t *testing.T) {
	dsn := testenv.Postgres(t)
	base, ready, out := startLAN(t, "--demo", "--demo-every", "1s", "--database-url", dsn)
	if !strings.Contains(out.String(), "Keeping the history in PostgreSQL") {
		t.Errorf("the banner does not say the history goes to PostgreSQL:\n%s", out)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	testenv.Eventually(t, 30*time.Second, "two demo plays in PostgreSQL", func() bool {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM plays p JOIN sessions s ON s.id = p.session_id WHERE s.dj_id = $1`, ready.DJ).Scan(&n)
		return err == nil && n >= 2
	})
	// The REST history reads PostgreSQL: the DJ's profile exists there only.
	var profile struct {
		Name     string `json:"name"`
		Sessions []any  `json:"sessions"`
	}
	testenv.Eventually(t, 10*time.Second, "the DJ's profile from PostgreSQL", func() bool {
		return getJSON(t, base+"/api/djs/"+ready.DJ, &profile) == 200 && len(profile.Sessions) == 1
	})
}

// TestPersisterCredentials: the user defaults to "persister" and needs a
// password; an explicitly empty user connects without credentials; a
// password without a user is a mistake; no message repeats the password.
func TestPersisterCredentials(t *testing.T) {
	env := map[string]string{"PIKA_NATS_URL": "nats://127.0.0.1:4222", "DATABASE_URL": "postgres://pika@127.0.0.1/pika", "PIKA_NATS_PASSWORD": "s3cret-s3cret-s3cret"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parsePersister(nil, getenv, io.Discard)
	if err != nil || cfg.NATS != (natsCreds{User: "persister", Password: "s3cret-s3cret-s3cret"}) {
		t.Fatalf("defaults: %+v, %v", cfg.NATS, err)
	}
	if _, err := parsePersister([]string{"--nats-user", "svc"}, func(k string) string {
		return map[string]string{"PIKA_NATS_URL": env["PIKA_NATS_URL"], "DATABASE_URL": env["DATABASE_URL"]}[k]
	}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), `required to connect as "svc"`) {
		t.Errorf("user without password: %v", err)
	}
	if _, err := parsePersister([]string{"--nats-user="}, getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "the user is empty") ||
		strings.Contains(err.Error(), env["PIKA_NATS_PASSWORD"]) {
		t.Errorf("password without user: %v", err)
	}
	delete(env, "PIKA_NATS_PASSWORD")
	if cfg, err := parsePersister([]string{"--nats-user="}, getenv, io.Discard); err != nil || cfg.NATS != (natsCreds{}) {
		t.Errorf("no credentials: %+v, %v", cfg.NATS, err)
	}
}
