package natsauth_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/bus/natsauth"
	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/persister/pgstore/pgstoretest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

const (
	gatewayPW   = "gateway secret for the test"
	persisterPW = "persister secret for the test"
	adminPW     = "admin secret for the test"
)

// clock is the accounts' time, moved by hand to expire a token.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type node struct {
	s    *natsserver.Server
	auth *natsauth.Authenticator
}

// startCloud runs three cloud nodes in this process, each with its own
// authenticator over the same accounts (one per process in production),
// served by Run as `pika nats` does.
func startCloud(t *testing.T, tokens natsauth.Tokens) []node {
	t.Helper()
	auths := make([]*natsauth.Authenticator, 3)
	servers := testenv.Cloud(t, func(i int, cfg *natsserver.NodeConfig) {
		auths[i] = natsauth.New(natsauth.Config{Tokens: tokens, GatewayPassword: gatewayPW, PersisterPassword: persisterPW,
			AdminPassword: adminPW, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		cfg.NoSyncAlways, cfg.Auth = true, auths[i]
	})
	nodes := make([]node, len(servers))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, s := range servers {
		nodes[i] = node{s, auths[i]}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := auths[i].Run(ctx, s); err != nil {
				t.Errorf("node %d: %v", i, err)
			}
		}()
	}
	// Registered after testenv.Cloud's shutdowns, so it runs before them.
	t.Cleanup(func() { cancel(); wg.Wait() })
	return nodes
}

func connectAs(t *testing.T, url, user, pass string) (*nats.Conn, error) {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(user, pass), nats.MaxReconnects(-1), nats.Timeout(5*time.Second))
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func mustConnect(t *testing.T, url, user, pass string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := connectAs(t, url, user, pass)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// startLeaf is a DJ's embedded server (JetStream domain = DJ id) linked to
// the cloud over WebSocket with the DJ's token, as `pika lan --cloud` does.
func startLeaf(t *testing.T, dj, token string, cloudWS string) *server.Server {
	t.Helper()
	u, err := url.Parse(cloudWS)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(natsauth.UserDJ, token)
	r, err := cloud.LeafRemote(u, "")
	if err != nil {
		t.Fatal(err)
	}
	o := &server.Options{ServerName: "leaf-" + dj, Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		JetStreamDomain: dj, StoreDir: t.TempDir(), NoSigs: true}
	cloud.ConfigureLeaf(o, r)
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		t.Fatalf("leaf %s not ready", dj)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// receivesOnly subscribes (as a trusted user) to subject, lets publish run,
// then sends a marker itself: the marker must be the only message seen.
func receivesOnly(t *testing.T, watcher *nats.Conn, subject string, publish func()) {
	t.Helper()
	sub, err := watcher.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	publish()
	marker := "marker-" + subject
	if err := watcher.Publish(subject, []byte(marker)); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("%s: the marker never came: %v", subject, err)
		}
		if string(m.Data) == marker {
			return
		}
		t.Errorf("%s: received %q, published by someone not allowed to", m.Subject, m.Data)
	}
}

func TestDJsAndServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	begin := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(begin).Seconds(), what) }
	defer cancel()
	pool := pgstoretest.New(t).Pool()
	clk := &clock{t: time.Now().UTC()}
	store, err := accounts.New(pool, accounts.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	djA, err := store.Register(ctx, "dj-a", "a long password for A", "DJ A")
	if err != nil {
		t.Fatal(err)
	}
	djB, err := store.Register(ctx, "dj-b", "a long password for B", "DJ B")
	if err != nil {
		t.Fatal(err)
	}
	tokA, err := store.CreateToken(ctx, djA, "laptop", 0)
	if err != nil {
		t.Fatal(err)
	}
	tokA2, err := store.CreateToken(ctx, djA, "spare", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokB, err := store.CreateToken(ctx, djB, "laptop", 0)
	if err != nil {
		t.Fatal(err)
	}

	nodes := startCloud(t, store)
	url := nodes[0].s.ClientURL()
	admin, jsAdmin := mustConnect(t, url, natsauth.UserAdmin, adminPW)
	_, jsGW := mustConnect(t, url, natsauth.UserGateway, gatewayPW)
	gw, _ := mustConnect(t, url, natsauth.UserGateway, gatewayPW)
	_, jsPersister := mustConnect(t, url, natsauth.UserPersister, persisterPW)

	step("cloud up")
	// (1) Who may connect at all.
	for _, c := range []struct{ user, pass string }{
		{"", ""}, {natsauth.UserDJ, ""}, {natsauth.UserDJ, "pika_notatoken"}, {natsauth.UserDJ, tokA.Token + "x"},
		{natsauth.UserDJ, "pika_" + tokA.Token[len(tokA.Token)-43:]},          // the old format, without the DJ id
		{natsauth.UserDJ, "pika_" + djB + tokA.Token[len("pika_")+len(djA):]}, // A's secret under B's id
		{natsauth.UserInternal, ""}, {natsauth.UserInternal, adminPW},
		{natsauth.UserGateway, "wrong"}, {natsauth.UserGateway, persisterPW}, {natsauth.UserAdmin, ""}, {"nobody", adminPW},
	} {
		if _, err := connectAs(t, url, c.user, c.pass); err == nil {
			t.Errorf("user %q with password %q connected", c.user, c.pass)
		}
	}
	ncA, err := connectAs(t, url, natsauth.UserDJ, tokA.Token)
	if err != nil {
		t.Fatalf("DJ A with a valid token: %v", err)
	}
	ncB, err := connectAs(t, url, natsauth.UserDJ, tokB.Token)
	if err != nil {
		t.Fatalf("DJ B with a valid token: %v", err)
	}

	// The cloud side of both DJs, made by the node each connected to,
	// with nobody asking: the streams and the downlink consumer appear.
	for _, dj := range []string{djA, djB} {
		testenv.Eventually(t, 30*time.Second, "the cloud streams of "+dj, func() bool {
			time.Sleep(100 * time.Millisecond) // no API storm while the cluster places them
			cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
			defer ccancel()
			for _, name := range []string{cloud.StreamName(dj), cloud.ActionsStreamName(dj), cloud.CrowdStreamName(dj)} {
				if _, err := jsAdmin.Stream(cctx, name); err != nil {
					return false
				}
			}
			_, err := jsAdmin.PushConsumer(cctx, cloud.CrowdStreamName(dj), cloud.DownlinkConsumer)
			return err == nil
		})
	}

	step("cloud DJs made by the nodes")
	// DJ A's laptop links as a leaf with its token; sourcing works both ways
	// through the DJ's permissions.
	leafA := startLeaf(t, djA, tokA.Token, nodes[1].s.WebsocketURL())
	testenv.Eventually(t, 20*time.Second, "DJ A's leaf link up", func() bool { return leafA.NumLeafNodes() == 1 })
	ncLeafA, err := nats.Connect(leafA.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer ncLeafA.Close()
	jsLeafA, _ := jetstream.New(ncLeafA)
	if _, _, err := bus.EnsureDJ(ctx, jsLeafA, djA); err != nil {
		t.Fatal(err)
	}
	if err := cloud.EnsureDJUplink(ctx, jsLeafA, djA); err != nil {
		t.Fatal(err)
	}
	if err := cloud.EnsureDJDownlink(ctx, jsLeafA, djA, cloud.Domain); err != nil {
		t.Fatal(err)
	}
	sid := bus.NewID(time.Now())
	at := time.Now().UTC()
	ev := bus.Event{V: bus.Version, ID: bus.NewID(at), Type: bus.TypeTrackPlayed, Session: sid, Seq: 1, At: at, DJ: djA,
		Play: &bus.Play{Track: bus.NewTrack("Artist", "Song"), Source: "test"}}
	if _, err := bus.Publish(ctx, jsLeafA, ev, nil); err != nil {
		t.Fatal(err)
	}
	step("leaf A set up, play published")
	// The gateway reads the cloud streams (here: the play sourced up).
	testenv.Eventually(t, 30*time.Second, "DJ A's play in CLOUD_DJ_A, as the gateway reads it", func() bool {
		return testenv.StreamMsgs(ctx, jsGW, cloud.StreamName(djA)) == 1
	})
	st, err := jsGW.Stream(ctx, cloud.StreamName(djA))
	if err != nil {
		t.Fatal(err)
	}
	oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("gateway: ordered consumer on %s: %v", cloud.StreamName(djA), err)
	}
	if m, err := oc.Next(jetstream.FetchMaxWait(10 * time.Second)); err != nil || m.Headers().Get(jetstream.MsgIDHeader) != ev.ID {
		t.Fatalf("gateway read of CLOUD_DJ_A: %v", err)
	}
	step("play read by the gateway")
	// The gateway stores a dancer action; it flows down to DJ A's CROWD_.
	like := bus.Action{V: bus.Version, ID: bus.NewID(at), Kind: bus.ActLike, Session: sid, Client: "phone-0001", At: at, PlayID: ev.ID}
	if _, err := cloud.PublishCrowdAction(ctx, jsGW, djA, like, nil); err != nil {
		t.Fatalf("gateway: store a dancer action: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "the cloud like in DJ A's CROWD_ stream", func() bool {
		return testenv.StreamMsgs(ctx, jsLeafA, cloud.DJCrowdStreamName(djA)) == 1
	})
	step("like in CROWD_A")
	// The persister: a durable consumer and acks.
	pc, err := jsPersister.CreateOrUpdateConsumer(ctx, cloud.StreamName(djA), jetstream.ConsumerConfig{Durable: "persister", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("persister: durable consumer: %v", err)
	}
	step("persister consumer made")
	if m, err := pc.Next(jetstream.FetchMaxWait(10 * time.Second)); err != nil {
		t.Fatalf("persister: fetch: %v", err)
	} else if err := m.DoubleAck(ctx); err != nil {
		t.Fatalf("persister: ack: %v", err)
	}
	// A request without permission has no answer: a short wait suffices.
	dctx, dcancel := context.WithTimeout(ctx, time.Second)
	if err := jsPersister.DeleteStream(dctx, cloud.StreamName(djA)); err == nil {
		t.Error("the persister deleted a stream")
	}
	dcancel()

	step("persister done")
	// (2) DJ A cannot publish on DJ B's subjects, as a client or from its
	// leaf; the gateway cannot publish into pika.dj.> (4).
	for _, subject := range []string{"pika.dj." + djB + ".s." + sid + ".track.played", "pika.deliver." + djB + ".up.s",
		"pika.deliver." + djB + ".down.crowd", "pika.dj." + djA + ".s." + sid + ".track.played",
		cloud.TallySubject(djB, sid), cloud.CrowdActionSubject(djB, sid, bus.ActLike), cloud.PresenceSubject(djB, sid)} {
		receivesOnly(t, admin, subject, func() {
			if subject != "pika.dj."+djA+".s."+sid+".track.played" { // DJ A's own subject is allowed to DJ A
				ncA.Publish(subject, []byte("from DJ A's client"))
				ncLeafA.Publish(subject, []byte("from DJ A's leaf"))
			}
			if subject != cloud.CrowdActionSubject(djB, sid, bus.ActLike) && subject != cloud.PresenceSubject(djB, sid) { // the gateway's own
				gw.Publish(subject, []byte("from the gateway"))
			}
			ncA.Flush()
			ncLeafA.Flush()
			gw.Flush()
		})
	}
	// DJ A does not hear DJ B's crowd, tallies, presence or deliveries, as
	// a client or on its leaf (a leaf receives only what its subscribe
	// permissions allow); its leaf does get its own presence reports, and
	// the cloud its tallies.
	for _, subject := range []string{cloud.CrowdActionSubject(djB, sid, bus.ActLike), cloud.TallySubject(djB, sid),
		cloud.PresenceSubject(djB, sid), "pika.deliver." + djB + ".down.crowd"} {
		for name, nc := range map[string]*nats.Conn{"client": ncA, "leaf": ncLeafA} {
			sub, err := nc.SubscribeSync(subject)
			if err != nil {
				continue
			}
			nc.Flush()
			time.Sleep(100 * time.Millisecond) // a leaf's interest travels to the cloud
			admin.Publish(subject, []byte("B's"))
			admin.Flush()
			if m, err := sub.NextMsg(500 * time.Millisecond); err == nil {
				t.Errorf("DJ A's %s received %s", name, m.Subject)
			}
			_ = sub.Unsubscribe()
		}
	}
	presA, err := ncLeafA.SubscribeSync(cloud.PresenceFilter(djA))
	if err != nil {
		t.Fatal(err)
	}
	ncLeafA.Flush()
	testenv.Eventually(t, 10*time.Second, "a cloud gateway's presence report on DJ A's leaf", func() bool {
		gw.Publish(cloud.PresenceSubject(djA, sid), []byte(`{}`))
		gw.Flush()
		_, err := presA.NextMsg(200 * time.Millisecond)
		return err == nil
	})
	tallyWatch, err := gw.SubscribeSync(cloud.AllTallies)
	if err != nil {
		t.Fatal(err)
	}
	gw.Flush()
	testenv.Eventually(t, 10*time.Second, "DJ A's tally from its leaf, read by a cloud gateway", func() bool {
		ncLeafA.Publish(cloud.TallySubject(djA, sid), []byte(`{}`))
		ncLeafA.Flush()
		m, err := tallyWatch.NextMsg(200 * time.Millisecond)
		return err == nil && m.Subject == cloud.TallySubject(djA, sid)
	})

	step("isolation checked")
	// (3) DJ A reaches none of the cloud's JetStream API beyond its own
	// downlink reset: not as a client, not from its leaf.
	jsA, _ := jetstream.New(ncA)
	jsLeafACloud, _ := jetstream.NewWithDomain(ncLeafA, cloud.Domain)
	for name, js := range map[string]jetstream.JetStream{"client": jsA, "leaf": jsLeafACloud} {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		if err := js.DeleteStream(cctx, cloud.StreamName(djB)); err == nil {
			t.Errorf("DJ A (%s) deleted %s", name, cloud.StreamName(djB))
		} else {
			t.Logf("DJ A (%s) deleting %s: %v", name, cloud.StreamName(djB), err)
		}
		if _, err := js.CreateStream(cctx, jetstream.StreamConfig{Name: "A_STREAM", Subjects: []string{"pika.dj." + djA + ".x"}}); err == nil {
			t.Errorf("DJ A (%s) created a stream", name)
		}
		if _, err := js.CreateOrUpdateStream(cctx, cloud.DJStreamConfig(djA, djA)); err == nil {
			t.Errorf("DJ A (%s) updated its own cloud stream", name)
		}
		names := js.StreamNames(cctx)
		for n := range names.Name() {
			t.Errorf("DJ A (%s) listed stream %s", name, n)
		}
		if names.Err() == nil {
			t.Errorf("DJ A (%s) listed streams without an error", name)
		}
		ccancel()
	}
	if n := testenv.StreamMsgs(ctx, jsAdmin, cloud.StreamName(djB)); n != 0 {
		t.Errorf("CLOUD_DJ_B has %d messages", n)
	}
	if _, err := jsAdmin.Stream(ctx, cloud.StreamName(djB)); err != nil {
		t.Errorf("CLOUD_DJ_B is gone: %v", err)
	}
	_ = ncB

	step("API checked")
	// Revoked: the next connect is refused, and the re-check closes the
	// open client connection and the leaf link, which then stays down.
	if _, err := connectAs(t, url, natsauth.UserDJ, tokA.Token); err != nil {
		t.Fatalf("DJ A before revoking: %v", err)
	}
	if _, err := store.Revoke(ctx, djA, tokA.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := connectAs(t, url, natsauth.UserDJ, tokA.Token); err == nil {
		t.Error("a revoked token connected")
	}
	for _, n := range nodes {
		n.auth.Recheck(ctx, n.s)
	}
	testenv.Eventually(t, 10*time.Second, "DJ A's client closed", func() bool { return !ncA.IsConnected() })
	testenv.Eventually(t, 10*time.Second, "DJ A's leaf link closed", func() bool { return leafA.NumLeafNodes() == 0 })
	time.Sleep(3 * cloud.LeafReconnectInterval) // it tries again, and is refused
	if leafA.NumLeafNodes() != 0 {
		t.Error("DJ A's leaf linked again with a revoked token")
	}
	if !ncB.IsConnected() {
		t.Error("DJ B's connection was closed too")
	}

	step("revocation checked")
	// Expired: DJ A's spare token works until its hour is over.
	if _, err := connectAs(t, url, natsauth.UserDJ, tokA2.Token); err != nil {
		t.Fatalf("DJ A's spare token: %v", err)
	}
	clk.Add(2 * time.Hour)
	if _, err := connectAs(t, url, natsauth.UserDJ, tokA2.Token); err == nil {
		t.Error("an expired token connected")
	}
}

// TestNoDatabase: without a token checker no DJ connects, services do.
func TestNoDatabase(t *testing.T) {
	a := natsauth.New(natsauth.Config{GatewayPassword: gatewayPW})
	if a.AcceptsDJs() {
		t.Fatal("accepts DJs without tokens")
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, CustomClientAuthentication: a})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	tok := "pika_" + fmt.Sprintf("%043d", 0)
	if _, err := connectAs(t, ns.ClientURL(), natsauth.UserDJ, tok); err == nil {
		t.Error("a DJ connected to a node without a database")
	}
	if _, err := connectAs(t, ns.ClientURL(), natsauth.UserGateway, gatewayPW); err != nil {
		t.Errorf("gateway: %v", err)
	}
	if _, err := connectAs(t, ns.ClientURL(), natsauth.UserPersister, ""); err == nil {
		t.Error("the persister connected with no password set")
	}
}
