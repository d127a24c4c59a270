package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
)

func TestNATSConfig(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"PIKA_NATS_NAME": "n1", "PIKA_NATS_DATA": data, "PIKA_NATS_ROUTES": "nats://127.0.0.2:6222, nats://127.0.0.3:6222",
		"PIKA_NATS_SYNC": "interval", "PIKA_NATS_MONITOR_LISTEN": "off"}
	cfg, err := parseNATS([]string{"--ws-listen", "127.0.0.1:9000", "--domain", "eu"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Node
	if n.Name != "n1" || n.StoreDir != data || len(n.Routes) != 2 || n.Routes[1] != "nats://127.0.0.3:6222" || !n.NoSyncAlways ||
		n.Domain != "eu" || n.WebsocketListen != "127.0.0.1:9000" || n.MonitorListen != "" || n.Listen != ":4222" || n.ClusterListen != ":6222" {
		t.Fatalf("config %+v", n)
	}
	// Defaults: sync always, domain cloud, monitoring on :8222.
	env = map[string]string{"PIKA_NATS_DATA": data, "PIKA_NATS_ROUTES": "nats://127.0.0.2:6222"}
	cfg, err = parseNATS(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Node.NoSyncAlways || cfg.Node.Domain != "cloud" || cfg.Node.MonitorListen != ":8222" || cfg.Node.WebsocketListen != ":8080" {
		t.Fatalf("defaults %+v", cfg.Node)
	}

	_, err = parseNATS([]string{"--routes", "http://x:1,nats://ok:6222,nats://noport", "--data", filepath.Join(data, "missing"),
		"--listen", "nope", "--sync", "sometimes", "--name", "a.b"}, func(string) string { return "" }, io.Discard)
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("want a usage error, got %v", err)
	}
	for _, want := range []string{`--routes/PIKA_NATS_ROUTES: route "http://x:1"`, `route "nats://noport"`, "--data/PIKA_NATS_DATA", `--listen/PIKA_NATS_LISTEN "nope"`,
		`--sync/PIKA_NATS_SYNC "sometimes"`, `--name/PIKA_NATS_NAME "a.b"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestNATSBadConfigProcess: the binary says what is wrong, one line per
// problem, exits 2 and prints no stack trace; a port already taken stops it
// with status 1 and one "pika:" line; a route that does not answer is only
// logged, and the node keeps running.
func TestNATSBadConfigProcess(t *testing.T) {
	bin := pikaBinary(t)
	cmd := exec.Command(bin, "nats", "--routes", "http://nowhere", "--data", filepath.Join(t.TempDir(), "missing"))
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2\n%s", err, out)
	}
	if n := strings.Count(string(out), "\n  "); n != 2 || strings.Contains(string(out), "goroutine") {
		t.Fatalf("want two problem lines and no stack trace:\n%s", out)
	}
	cmd = exec.Command(bin, "nats", "--bogus")
	if out, err = cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "flag provided but not defined: -bogus") {
		t.Fatalf("unknown flag: %v\n%s", err, out)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cmd = exec.Command(bin, "nats", "--name", "n1", "--data", t.TempDir(), "--routes", "nats://127.0.0.1:1",
		"--listen", "127.0.0.1:0", "--cluster-listen", taken.Addr().String(), "--ws-listen", "off", "--monitor-listen", "off")
	cmd.Env = []string{}
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("port in use: exit %v, want status 1\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "pika: ") || !strings.Contains(last, "address already in use") || strings.Contains(string(out), "goroutine") {
		t.Fatalf("port in use: last line %q\n%s", last, out)
	}

	// An unreachable route: logged, retried, not fatal.
	n := startNATSNode(t, bin, "n1", newNodeAddrs(t), []string{"nats://127.0.0.1:1"}, t.TempDir())
	testenv.Eventually(t, 20*time.Second, "the unreachable route logged", func() bool {
		return strings.Contains(n.out.String(), "Error trying to connect to route")
	})
	if n.exited() {
		t.Fatalf("the node exited over an unreachable route:\n%s", n.out)
	}
}

// nodeAddrs are one node's listen addresses, held until the node starts
// so that no other random port takes them meanwhile.
type nodeAddrs struct {
	held                                []net.Listener
	client, cluster, websocket, monitor string
}

func newNodeAddrs(t *testing.T) *nodeAddrs {
	t.Helper()
	a := &nodeAddrs{}
	for _, dst := range []*string{&a.client, &a.cluster, &a.websocket, &a.monitor} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		a.held = append(a.held, l)
		*dst = l.Addr().String()
	}
	return a
}

func (a *nodeAddrs) release() {
	for _, l := range a.held {
		l.Close()
	}
}

// natsNode is a running `pika nats` process.
type natsNode struct {
	name  string
	addrs *nodeAddrs
	cmd   *exec.Cmd
	out   *lockedBuffer
	done  chan struct{}
	args  []string
}

func startNATSNode(t *testing.T, bin, name string, addrs *nodeAddrs, routes []string, data string) *natsNode {
	t.Helper()
	n := &natsNode{name: name, addrs: addrs, args: []string{"nats", "--name", name, "--data", data, "--routes", strings.Join(routes, ","),
		"--listen", addrs.client, "--cluster-listen", addrs.cluster, "--ws-listen", addrs.websocket, "--monitor-listen", addrs.monitor}}
	n.start(t, bin)
	return n
}

func (n *natsNode) start(t *testing.T, bin string) {
	t.Helper()
	if err := n.launch(t, bin); err != nil {
		t.Fatal(err)
	}
}

// launch is start for a goroutine other than the test's (a deploy
// restarting the process): it returns the error instead of failing the
// test. t only registers the cleanup that kills the process.
func (n *natsNode) launch(t *testing.T, bin string) error {
	n.addrs.release()
	n.cmd = exec.Command(bin, n.args...)
	n.cmd.Env = []string{}
	n.out = &lockedBuffer{}
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start pika %s: %w", n.name, err)
	}
	n.done = make(chan struct{})
	cmd, done, out := n.cmd, n.done, n.out
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("pika nats %s output:\n%s", n.name, out)
		}
	})
	return nil
}

func (n *natsNode) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// healthy reports whether the node's /healthz answers 200: it serves
// JetStream and is current with the cluster.
func (n *natsNode) healthy() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.addrs.monitor + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// TestNATSClusterKill9: three `pika nats` processes form a cluster; an R3
// stream takes a burst of events, each published with bus.Publish (its id
// is the message id, and a failed publish is retried with the same id);
// the stream leader's node is killed with SIGKILL a third of the way in and
// started again two thirds of the way in. Every acknowledged event is
// stored exactly once and in order, and the restarted node holds them all
// (it is made the leader and read from). Times are logged, not asserted.
func TestNATSClusterKill9(t *testing.T) {
	bin := pikaBinary(t)
	start := time.Now()
	var addrs []*nodeAddrs
	var routes []string
	for range 3 {
		a := newNodeAddrs(t)
		addrs = append(addrs, a)
		routes = append(routes, "nats://"+a.cluster)
	}
	nodes := map[string]*natsNode{}
	var clientURLs []string
	for i, name := range []string{"n1", "n2", "n3"} {
		nodes[name] = startNATSNode(t, bin, name, addrs[i], routes, t.TempDir())
		clientURLs = append(clientURLs, "nats://"+addrs[i].client)
	}
	testenv.Eventually(t, 45*time.Second, "three healthy nodes", func() bool {
		return nodes["n1"].healthy() && nodes["n2"].healthy() && nodes["n3"].healthy()
	})
	t.Logf("cluster healthy %s after the processes started", time.Since(start).Round(time.Millisecond))

	nc, err := nats.Connect(strings.Join(clientURLs, ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const streamName = "CLOUD_KILL"
	created := time.Now()
	var stream jetstream.Stream
	testenv.Eventually(t, 30*time.Second, "the R3 stream created (no suitable peers at first is normal)", func() bool {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		defer acancel()
		stream, err = js.CreateOrUpdateStream(actx, jetstream.StreamConfig{Name: streamName, Subjects: []string{"pika.s.>"},
			Replicas: 3, Storage: jetstream.FileStorage, Duplicates: 5 * time.Minute})
		return err == nil
	})
	t.Logf("R3 stream created in %s", time.Since(created).Round(time.Millisecond))
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := nodes[info.Cluster.Leader]
	if victim == nil {
		t.Fatalf("stream leader %q is none of the nodes", info.Cluster.Leader)
	}

	const total = 600
	sid, dj := bus.NewID(time.Now()), bus.NewDJID()
	var ids []string
	var duplicates atomic.Int64
	var worst time.Duration
	burst := time.Now()
	var killedAt, restartedAt time.Time
	for i := range total {
		switch i {
		case total / 3:
			// Killed from another goroutine, so that the kill lands while a
			// publish is in flight, not between two.
			killedAt = time.Now()
			proc := victim.cmd.Process
			go func() { _ = proc.Kill() }()
			t.Logf("killing %s (the stream leader) with SIGKILL after %d acknowledged events", victim.name, i)
		case 2 * total / 3:
			<-victim.done
			victim.start(t, bin)
			restartedAt = time.Now()
			t.Logf("started %s again after %d acknowledged events, %s after the kill", victim.name, i, restartedAt.Sub(killedAt).Round(time.Millisecond))
		}
		at := time.Now().UTC()
		e := bus.Event{V: bus.Version, ID: bus.NewID(at), Type: bus.TypeTrackPlayed, Session: sid, Seq: uint64(i + 1), At: at, DJ: dj,
			Play: &bus.Play{Track: bus.NewTrack("Band", "Track "+string(rune('A'+i%26))), Source: "test"}}
		t0 := time.Now()
		pctx, pcancel := context.WithTimeout(ctx, time.Minute)
		dup, err := bus.Publish(pctx, js, e, nil)
		pcancel()
		if err != nil {
			t.Fatalf("event %d never acknowledged: %v", i, err)
		}
		if dup {
			duplicates.Add(1) // stored by an attempt whose ack was lost
		}
		worst = max(worst, time.Since(t0))
		ids = append(ids, e.ID)
	}
	t.Logf("%d events acknowledged in %s; slowest publish (retries included) %s; %d retries answered duplicate",
		total, time.Since(burst).Round(time.Millisecond), worst.Round(time.Millisecond), duplicates.Load())

	testenv.Eventually(t, 60*time.Second, "the restarted node healthy", victim.healthy)
	t.Logf("%s healthy again %s after its restart", victim.name, time.Since(restartedAt).Round(time.Millisecond))

	check := func(via string) {
		t.Helper()
		got := readEvents(t, ctx, js, streamName, total)
		if len(got) != total {
			t.Fatalf("%s: %d events stored, want %d", via, len(got), total)
		}
		for i, e := range got {
			if e.ID != ids[i] || e.Seq != uint64(i+1) {
				t.Fatalf("%s: stored event %d is %s (seq %d), want %s (seq %d)", via, i, e.ID, e.Seq, ids[i], i+1)
			}
		}
	}
	check("after the burst")

	// Make the restarted node the stream's leader and read again: what it
	// serves is what its own replica holds.
	// Ask for a step-down only while another node leads, and only once a
	// leader is known again: a step-down sent while the election of the
	// previous one settles moves the leadership away again.
	leader := func() string {
		ictx, icancel := context.WithTimeout(ctx, 2*time.Second)
		defer icancel()
		info, err := stream.Info(ictx)
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}
	testenv.Eventually(t, 90*time.Second, victim.name+" leads the stream", func() bool {
		switch l := leader(); l {
		case victim.name:
			return true
		case "":
			time.Sleep(250 * time.Millisecond) // an election in progress
			return false
		}
		req, _ := json.Marshal(server.JSApiLeaderStepdownRequest{Placement: &server.Placement{Preferred: victim.name}})
		if _, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+streamName, req, 2*time.Second); err != nil {
			return false
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if l := leader(); l != "" {
				return l == victim.name
			}
		}
		return false
	})
	check("read from the restarted node as leader")
	t.Logf("whole test %s", time.Since(start).Round(time.Millisecond))
}

// readEvents reads a stream from its start with an ordered consumer and
// decodes each message as a bus event.
func readEvents(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string, want int) []bus.Event {
	t.Helper()
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	var out []bus.Event
	for len(out) < want {
		batch, err := c.Fetch(want-len(out), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			e, err := bus.Decode(m.Data())
			if err != nil {
				t.Fatalf("stored message %d: %v", len(out), err)
			}
			out = append(out, e)
		}
		if n == 0 {
			break // nothing more within the wait: the caller compares counts
		}
	}
	// One more look, so that an extra (doubled) message is seen too.
	if batch, err := c.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond)); err == nil {
		for m := range batch.Messages() {
			if e, err := bus.Decode(m.Data()); err == nil {
				out = append(out, e)
			}
		}
	}
	return out
}

// TestNATSAuthConfig: the authorization settings, and their mistakes.
func TestNATSAuthConfig(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"PIKA_NATS_DATA": data, "PIKA_NATS_ROUTES": "nats://127.0.0.2:6222",
		"PIKA_NATS_DATABASE_URL": "postgres://pika@127.0.0.1/pika", "PIKA_NATS_GATEWAY_PASSWORD": "0123456789abcdef-gw",
		"PIKA_NATS_PERSISTER_PASSWORD": "0123456789abcdef-p"}
	cfg, err := parseNATS(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.authOn() || cfg.DatabaseURL != env["PIKA_NATS_DATABASE_URL"] || cfg.GatewayPassword != env["PIKA_NATS_GATEWAY_PASSWORD"] ||
		cfg.PersisterPassword != env["PIKA_NATS_PERSISTER_PASSWORD"] || cfg.AdminPassword != "" {
		t.Fatalf("auth config %+v", cfg)
	}
	// None set: the node runs open (and says so); that is no error.
	cfg, err = parseNATS(nil, func(k string) string {
		return map[string]string{"PIKA_NATS_DATA": data, "PIKA_NATS_ROUTES": "nats://127.0.0.2:6222"}[k]
	}, io.Discard)
	if err != nil || cfg.authOn() {
		t.Fatalf("no auth settings: auth %v, %v", cfg.authOn(), err)
	}
	_, err = parseNATS([]string{"--admin-password", "short", "--database-url", "mysql://x/y"}, func(k string) string {
		return map[string]string{"PIKA_NATS_DATA": data, "PIKA_NATS_ROUTES": "nats://127.0.0.2:6222"}[k]
	}, io.Discard)
	if err == nil {
		t.Fatal("short password and bad database URL accepted")
	}
	for _, want := range []string{"--admin-password/PIKA_NATS_ADMIN_PASSWORD: at least 16", "--database-url/PIKA_NATS_DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "short") {
		t.Errorf("the error repeats the password: %v", err)
	}
}
