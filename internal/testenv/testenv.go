// Package testenv gives tests the real things they run against: an embedded
// NATS server with JetStream, polling instead of sleeping, and the rule that
// a missing dependency skips a test locally but fails it in CI.
package testenv

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/natsserver"
)

// CI reports whether the tests run in CI, where nothing may be skipped.
func CI() bool { return os.Getenv("CI") == "true" }

// Need returns the path of command, or skips the test when it is missing;
// under CI=true a missing command fails the test instead.
func Need(t testing.TB, command string) string {
	t.Helper()
	path, err := exec.LookPath(command)
	if err == nil {
		return path
	}
	if CI() {
		t.Fatalf("%s is required in CI and is not on PATH", command)
	}
	t.Skipf("%s not on PATH", command)
	return ""
}

// Eventually polls fn every 10 ms until it returns true, failing the test
// with msg after d.
func Eventually(t testing.TB, d time.Duration, msg string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Bus is a DJ's embedded server with its stream and bucket, ready to use.
type Bus struct {
	DJ     string
	Server *natsserver.Server
	Conn   *nats.Conn
	JS     jetstream.JetStream
	Stream jetstream.Stream
	KV     jetstream.KeyValue
}

// NATS starts an embedded JetStream server for a fresh DJ id, storing in a
// temp folder, with everything shut down when the test ends.
func NATS(t testing.TB) *Bus {
	t.Helper()
	return NATSAt(t, t.TempDir(), bus.NewDJID())
}

// NATSAt is NATS with a given store folder and DJ id, for restart tests.
func NATSAt(t testing.TB, dir, dj string) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := natsserver.Start(ctx, natsserver.Config{StoreDir: dir, Domain: dj})
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
	st, kv, err := bus.EnsureDJ(ctx, js, dj)
	if err != nil {
		t.Fatal(err)
	}
	return &Bus{DJ: dj, Server: srv, Conn: nc, JS: js, Stream: st, KV: kv}
}

// Client connects to a NATS server's client URL (reconnecting for ever,
// as the services do) and opens its JetStream; closed when the test ends.
func Client(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.MaxReconnects(-1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// StreamMsgs is how many messages stream holds, 0 when it cannot be read
// (yet): for waiting until a stream has caught up.
func StreamMsgs(ctx context.Context, js jetstream.JetStream, stream string) uint64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}
