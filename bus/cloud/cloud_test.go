package cloud_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/internal/testenv"
)

// freePort finds a free loopback port for a listener that must be known
// before it starts (routes name each other's ports; the proxy needs the leaf
// and websocket ports, which the server does not report).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startServer(t *testing.T, o *server.Options) *server.Server {
	t.Helper()
	o.NoSigs = true
	o.LogFile = filepath.Join(o.StoreDir, o.ServerName+".log")
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	s.ConfigureLogger()
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		t.Fatalf("server %s not ready", o.ServerName)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
		if t.Failed() {
			if b, err := os.ReadFile(o.LogFile); err == nil && len(b) > 0 {
				t.Logf("%s log (tail):\n%s", o.ServerName, tail(b, 3000))
			}
		}
	})
	return s
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// cloudNode is one of the three cloud servers, with the addresses a leaf
// reaches it on.
type cloudNode struct {
	s        *server.Server
	leafAddr string // leafnode port
	wsAddr   string // websocket listener, which also takes leaf connections
}

// startCloud runs a 3-node cluster with JetStream domain "cloud". NoAdvertise
// keeps the leaf on the URL it was given (the proxy), as a load balancer
// would (nats-leaf.md pitfall 2).
func startCloud(t *testing.T) []cloudNode {
	t.Helper()
	routes := make([]int, 3)
	for i := range routes {
		routes[i] = freePort(t)
	}
	var routeURLs []*url.URL
	for _, p := range routes {
		routeURLs = append(routeURLs, &url.URL{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(p)})
	}
	nodes := make([]cloudNode, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		o := &server.Options{
			ServerName:      fmt.Sprintf("c%d", i+1),
			Host:            "127.0.0.1",
			Port:            server.RANDOM_PORT,
			JetStream:       true,
			JetStreamDomain: cloud.Domain,
			StoreDir:        t.TempDir(),
			Cluster:         server.ClusterOpts{Name: "cloud", Host: "127.0.0.1", Port: routes[i]},
			Routes:          routeURLs,
			LeafNode:        server.LeafNodeOpts{Host: "127.0.0.1", Port: freePort(t), NoAdvertise: true},
		}
		o.Websocket.Host = "127.0.0.1"
		o.Websocket.Port = freePort(t)
		o.Websocket.NoTLS = true
		nodes[i].leafAddr = fmt.Sprintf("127.0.0.1:%d", o.LeafNode.Port)
		nodes[i].wsAddr = fmt.Sprintf("127.0.0.1:%d", o.Websocket.Port)
		wg.Add(1)
		go func() { // the nodes wait for each other's routes, so start them together
			defer wg.Done()
			nodes[i].s = startServer(t, o)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return nodes
}

// proxy is the DJ's internet link: it forwards each connection to the next
// cloud node in turn, and while down it closes every open connection and
// startLeaf runs the DJ's embedded server (domain = the DJ id, syncing
// before it acknowledges, as on a laptop) linked to the cloud through remote.
func startLeaf(t *testing.T, dj string, remote *url.URL) *server.Server {
	t.Helper()
	r, err := cloud.LeafRemote(remote, "")
	if err != nil {
		t.Fatal(err)
	}
	o := &server.Options{
		ServerName:      "leaf-" + dj,
		Host:            "127.0.0.1",
		Port:            server.RANDOM_PORT,
		JetStream:       true,
		JetStreamDomain: dj,
		StoreDir:        t.TempDir(),
		SyncAlways:      true,
	}
	cloud.ConfigureLeaf(o, r)
	return startServer(t, o)
}

func play(dj, sid string, seq uint64, at time.Time) bus.Event {
	return bus.Event{V: bus.Version, ID: bus.NewID(at), Type: bus.TypeTrackPlayed, Session: sid, Seq: seq, At: at, DJ: dj,
		Play: &bus.Play{Track: bus.NewTrack("Artist", fmt.Sprintf("Song %d", seq)), Source: "test"}}
}

func like(sid, playID string, at time.Time, n int) bus.Action {
	return bus.Action{V: bus.Version, ID: bus.NewID(at), Kind: bus.ActLike, Session: sid,
		Client: fmt.Sprintf("phone-%04d", n), At: at, PlayID: playID}
}

// readAll returns every message stored in a stream, oldest first. A JetStream
// API request can find no responder for a moment while a cluster settles
// (seen once in a few runs, on the consumer create), so it is tried again.
func readAll(ctx context.Context, js jetstream.JetStream, stream string) ([]jetstream.Msg, error) {
	var err error
	for range 10 {
		var msgs []jetstream.Msg
		if msgs, err = readAllOnce(ctx, js, stream); err == nil {
			return msgs, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, err
}

func readAllOnce(ctx context.Context, js jetstream.JetStream, stream string) ([]jetstream.Msg, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(int(info.State.Msgs)-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, err
		}
	}
	return out, nil
}

// outageEnv sets the websocket test's outage, e.g. PIKA_CLOUD_OUTAGE=60s for
// the 60 s catch-up figure; default 5 s keeps the test quick.
const outageEnv = "PIKA_CLOUD_OUTAGE"

func TestStoreAndForwardOverWebSocket(t *testing.T) {
	outage := 5 * time.Second
	if v := os.Getenv(outageEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", outageEnv, v, err)
		}
		outage = d
	}
	testStoreAndForward(t, "ws", outage, func(n cloudNode) string { return n.wsAddr })
}

func TestStoreAndForwardOverLeafPort(t *testing.T) {
	testStoreAndForward(t, "nats-leaf", 5*time.Second, func(n cloudNode) string { return n.leafAddr })
}

// testStoreAndForward: with the link up a few plays reach the cloud; the
// link is cut; the DJ plays 200 tracks (and its LAN dancers act) while cloud
// dancers send 50 likes; the link is restored and everything crosses, each
// exactly once and in order.
func testStoreAndForward(t *testing.T, scheme string, outage time.Duration, addr func(cloudNode) string) {
	const (
		before   = 5
		offline  = 200
		lanActs  = 10
		cloudAct = 50
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second+outage)
	defer cancel()
	dj := bus.NewDJID()

	nodes := startCloud(t)
	var targets []string
	for _, n := range nodes {
		targets = append(targets, addr(n))
	}
	link := testenv.StartProxy(t, targets...)
	leaf := startLeaf(t, dj, &url.URL{Scheme: scheme, Host: link.Addr()})

	_, jsC := testenv.Client(t, nodes[0].s.ClientURL())
	_, jsDJ := testenv.Client(t, leaf.ClientURL())

	// The DJ side works with or without the cloud: its streams, its uplink
	// consumers, its downlink stream.
	if _, _, err := bus.EnsureDJ(ctx, jsDJ, dj); err != nil {
		t.Fatal(err)
	}
	if err := cloud.EnsureDJUplink(ctx, jsDJ, dj); err != nil {
		t.Fatal(err)
	}
	if err := cloud.EnsureDJDownlink(ctx, jsDJ, dj, cloud.Domain); err != nil {
		t.Fatal(err)
	}
	if err := cloud.EnsureCloudDJ(ctx, jsC, dj, dj); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "leaf link up", func() bool { return leaf.NumLeafNodes() == 1 })

	sid := bus.NewID(time.Now())
	start := time.Now().UTC().Add(-time.Hour)
	var events []bus.Event
	for i := range before + offline {
		events = append(events, play(dj, sid, uint64(i+1), start.Add(time.Duration(i)*time.Second)))
	}
	for _, e := range events[:before] {
		if _, err := bus.Publish(ctx, jsDJ, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	up := time.Now()
	testenv.Eventually(t, 60*time.Second, "the first plays in the cloud", func() bool {
		return testenv.StreamMsgs(context.Background(), jsC, cloud.StreamName(dj)) == before
	})
	t.Logf("%s: link up: %d plays in the cloud %s after publishing", scheme, before, time.Since(up).Round(time.Millisecond))

	// Cut the link and wait until the DJ's server knows it.
	link.Cut()
	testenv.Eventually(t, 30*time.Second, "leaf link down", func() bool { return leaf.NumLeafNodes() == 0 })
	cut := time.Now()

	for _, e := range events[before:] {
		if _, err := bus.Publish(ctx, jsDJ, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	var lan []bus.Action
	for i := range lanActs {
		a := like(sid, events[before+i].ID, start.Add(time.Duration(i)*time.Second), i)
		lan = append(lan, a)
		if _, err := bus.PublishAction(ctx, jsDJ, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	var crowd []bus.Action
	for i := range cloudAct {
		a := like(sid, events[i%len(events)].ID, time.Now().UTC(), 1000+i)
		crowd = append(crowd, a)
		if _, err := cloud.PublishCrowdAction(ctx, jsC, dj, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Retried publishes (the same ids) on both sides are stored once.
	if dup, err := bus.Publish(ctx, jsDJ, events[before], nil); err != nil || !dup {
		t.Fatalf("republish on the DJ side: duplicate=%v err=%v", dup, err)
	}
	if dup, err := cloud.PublishCrowdAction(ctx, jsC, dj, crowd[0], nil); err != nil || !dup {
		t.Fatalf("republish in the cloud: duplicate=%v err=%v", dup, err)
	}
	if n := testenv.StreamMsgs(context.Background(), jsC, cloud.StreamName(dj)); n != before {
		t.Fatalf("the cloud has %d plays while the link is down, want %d", n, before)
	}
	if remaining := outage - time.Since(cut); remaining > 0 {
		time.Sleep(remaining) // the outage itself: nothing to wait for
	}

	link.Restore()
	restored := time.Now()
	testenv.Eventually(t, 30*time.Second, "leaf link back", func() bool { return leaf.NumLeafNodes() == 1 })
	relinked := time.Since(restored)
	testenv.Eventually(t, 60*time.Second, "every play in the cloud", func() bool {
		return testenv.StreamMsgs(context.Background(), jsC, cloud.StreamName(dj)) >= before+offline
	})
	playsIn := time.Since(restored)
	testenv.Eventually(t, 60*time.Second, "every LAN action in the cloud", func() bool {
		return testenv.StreamMsgs(context.Background(), jsC, cloud.ActionsStreamName(dj)) >= lanActs
	})
	testenv.Eventually(t, 60*time.Second, "every cloud action on the DJ side", func() bool {
		return testenv.StreamMsgs(context.Background(), jsDJ, cloud.DJCrowdStreamName(dj)) >= cloudAct
	})
	t.Logf("%s: outage %s; link back %s after restore; %d plays in the cloud %s after restore; all actions both ways %s after restore",
		scheme, restored.Sub(cut).Round(time.Millisecond), relinked.Round(time.Millisecond), offline,
		playsIn.Round(time.Millisecond), time.Since(restored).Round(time.Millisecond))

	// Plays: exactly once, in order, on the DJ's cloud subject, origin time kept.
	msgs, err := readAll(ctx, jsC, cloud.StreamName(dj))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(events) {
		t.Fatalf("cloud has %d plays, want %d", len(msgs), len(events))
	}
	for i, m := range msgs {
		want := events[i]
		got, err := bus.Decode(m.Data())
		if err != nil {
			t.Fatalf("cloud message %d: %v", i, err)
		}
		if got.ID != want.ID || got.Seq != want.Seq {
			t.Fatalf("cloud message %d is %s seq %d, want %s seq %d", i, got.ID, got.Seq, want.ID, want.Seq)
		}
		if s := cloud.SessionSubject(dj, sid, bus.TypeTrackPlayed); m.Subject() != s {
			t.Fatalf("cloud message %d on %q, want %q", i, m.Subject(), s)
		}
		if h := m.Headers().Get(bus.HeaderOriginTime); h != want.At.Format(time.RFC3339Nano) {
			t.Fatalf("cloud message %d origin time %q, want %q", i, h, want.At.Format(time.RFC3339Nano))
		}
		if h := m.Headers().Get(jetstream.MsgIDHeader); h != want.ID {
			t.Fatalf("cloud message %d message id %q, want %q", i, h, want.ID)
		}
	}

	// LAN actions: once each, in order, under the DJ's cloud subjects.
	acts, err := readAll(ctx, jsC, cloud.ActionsStreamName(dj))
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != len(lan) {
		t.Fatalf("cloud has %d LAN actions, want %d", len(acts), len(lan))
	}
	for i, m := range acts {
		got, err := bus.DecodeActions(m.Data())
		if err != nil || len(got) != 1 || got[0].ID != lan[i].ID {
			t.Fatalf("cloud LAN action %d: %v %v, want %s", i, got, err, lan[i].ID)
		}
		if want := "pika.dj." + dj + ".a." + sid + ".like"; m.Subject() != want {
			t.Fatalf("cloud LAN action %d on %q, want %q", i, m.Subject(), want)
		}
	}

	// Cloud actions: once each, in order, on the DJ side, with the cloud's subject.
	down, err := readAll(ctx, jsDJ, cloud.DJCrowdStreamName(dj))
	if err != nil {
		t.Fatal(err)
	}
	if len(down) != len(crowd) {
		t.Fatalf("the DJ has %d cloud actions, want %d", len(down), len(crowd))
	}
	for i, m := range down {
		got, err := bus.DecodeActions(m.Data())
		if err != nil || len(got) != 1 || got[0].ID != crowd[i].ID {
			t.Fatalf("DJ's cloud action %d: %v %v, want %s", i, got, err, crowd[i].ID)
		}
		gotDJ, gotSid, kind, ok := cloud.ParseCrowdSubject(m.Subject())
		if !ok || gotDJ != dj || gotSid != sid || kind != string(bus.ActLike) {
			t.Fatalf("DJ's cloud action %d on %q", i, m.Subject())
		}
	}
}
