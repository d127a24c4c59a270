package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

// cloudWait bounds waits on the cloud: a 3-node cluster elects its leaders
// and places R3 streams in a few seconds, slower on a loaded CI machine.
const cloudWait = 45 * time.Second

// testToken has the shape of an API token (pika_<dj id>_<secret>), for
// configuration checks that never reach a cloud.
var testToken = "pika_" + bus.NewDJID() + "_" + base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

const (
	testAdminPW   = "admin password of the cloud test"
	testGatewayPW = "gateway password of the cloud test"
)

// startCloudNodes runs the cloud's three nodes in this process, on loopback,
// each with a WebSocket listener that takes DJs' leaf links and checking who
// connects against the accounts in store (natsauth, served by Run as `pika
// nats` does: it makes each DJ's cloud streams when the DJ connects).
func startCloudNodes(t *testing.T, store natsauth.Tokens) []*natsserver.Server {
	t.Helper()
	auths := make([]*natsauth.Authenticator, 3)
	nodes := testenv.Cloud(t, func(i int, cfg *natsserver.NodeConfig) {
		auths[i] = natsauth.New(natsauth.Config{Tokens: store, AdminPassword: testAdminPW, GatewayPassword: testGatewayPW})
		cfg.NoSyncAlways, cfg.Auth = true, auths[i]
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); _ = auths[i].Run(ctx, n) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return nodes
}

// TestLANCloudLink: `pika lan --cloud ws://… --cloud-token …` against a
// cloud that checks tokens (natsauth, accounts in PostgreSQL). The laptop,
// whose data folder had another DJ id, adopts the token's; the cloud makes
// the DJ's streams (the DJ side has no right to); a play appended to the
// watched history reaches CLOUD_DJ_<dj>; a like made through the cloud
// reaches the DJ's tally, counted once even when the same like (same id)
// also comes in over the venue's Wi-Fi; a cloud gateway's presence report
// counts in the listeners; and the tallies go up on cloud.TallySubject.
func TestLANCloudLink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*cloudWait)
	defer cancel()
	store, err := accounts.New(pgstoretest.New(t).Pool(), accounts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dj, err := store.Register(ctx, "cloud-dj", "a long password for the cloud DJ", "Cloud DJ")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := store.CreateToken(ctx, dj, "laptop", 0)
	if err != nil {
		t.Fatal(err)
	}
	nodes := startCloudNodes(t, store)
	nc, err := nats.Connect(nodes[1].ClientURL(), nats.UserInfo(natsauth.UserAdmin, testAdminPW), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	jsC, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	before, err := bus.LoadIdentity(data) // a laptop used before it had an account
	if err != nil {
		t.Fatal(err)
	}
	hist := newHistory(t, filepath.Join(dir, "history.m3u"))
	// The link goes through a proxy the test can cut.
	proxy := testenv.StartProxy(t, strings.TrimPrefix(nodes[0].WebsocketURL(), "ws://"))
	started := time.Now()
	base, r, out := startLAN(t, "--data", data, "--watch", hist.path,
		"--cloud", "ws://"+proxy.Addr(), "--cloud-token", tok.Token)
	if strings.Contains(out.String(), tok.Token) {
		t.Fatalf("the token was printed:\n%s", out)
	}
	if r.DJ != dj {
		t.Fatalf("pika lan runs as DJ %s, want the token's %s", r.DJ, dj)
	}
	if after, err := bus.LoadIdentity(data); err != nil || after.DJ != dj {
		t.Fatalf("the data folder's DJ id is %s (%v), want %s", after.DJ, err, dj)
	}
	if !strings.Contains(out.String(), "now uses your cloud account's DJ id "+dj+" (was "+before.DJ) {
		t.Errorf("no line saying the DJ id changed:\n%s", out)
	}
	testenv.Eventually(t, cloudWait, "the banner or the terminal saying the cloud link is up", func() bool {
		return strings.Contains(out.String(), "cloud link: up")
	})
	linkedAt := time.Now()
	testenv.Eventually(t, cloudWait, "the DJ's cloud streams, made by the cloud", func() bool {
		time.Sleep(100 * time.Millisecond)
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		defer ccancel()
		_, err := jsC.PushConsumer(cctx, cloud.CrowdStreamName(dj), cloud.DownlinkConsumer)
		return err == nil
	})
	t.Logf("start → link up %s, link up → cloud streams and downlink consumer %s",
		linkedAt.Sub(started).Round(time.Millisecond), time.Since(linkedAt).Round(time.Millisecond))
	// The laptop made CROWD_<dj> at link-up, before the cloud's consumer
	// existed: its first reset of DJ_DOWN failed. It must source within
	// seconds of the consumer appearing, not after the server's retry
	// backoff: an action stored now is soon acknowledged by the laptop.
	consumerAt := time.Now()
	early := bus.Action{V: bus.Version, ID: bus.NewID(consumerAt), Kind: bus.ActThanks, Session: bus.NewID(consumerAt),
		Client: "c-early-client", At: consumerAt.UTC()}
	if _, err := cloud.PublishCrowdAction(ctx, jsC, dj, early, nil); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, cloudWait, "the laptop's CROWD_ sourcing the cloud's downlink consumer", func() bool {
		time.Sleep(50 * time.Millisecond)
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		defer ccancel()
		c, err := jsC.PushConsumer(cctx, cloud.CrowdStreamName(dj), cloud.DownlinkConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(cctx)
		return err == nil && info.AckFloor.Stream >= 1
	})
	t.Logf("downlink consumer made → the laptop sourcing from it: %s", time.Since(consumerAt).Round(time.Millisecond))

	hist.append("Cloud Band - Up There")
	s := liveSession(t, base, "Up There")

	// The play in the cloud, under the DJ's cloud subject.
	var play bus.Event
	testenv.Eventually(t, cloudWait, "the play in "+cloud.StreamName(dj), func() bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // one request lost while the cluster settles is not the end
		defer cancel()
		st, err := jsC.Stream(ctx, cloud.StreamName(dj))
		if err != nil {
			return false
		}
		m, err := st.GetLastMsgForSubject(ctx, cloud.SessionSubject(dj, s.ID, bus.TypeTrackPlayed))
		if err != nil {
			return false
		}
		play, err = bus.Decode(m.Data)
		return err == nil
	})
	if play.Play == nil || play.Play.Track.Title != "Up There" || play.Session != s.ID {
		t.Fatalf("cloud copy of the play = %+v", play)
	}

	// Tallies go up to the cloud's gateways.
	cloudTally, err := nc.SubscribeSync(cloud.TallySubject(dj, s.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer cloudTally.Unsubscribe()

	phone := dial(t, base)
	phone.subscribe(s.ID, nil)
	phone.wait(e2eWait, "snapshot", isType("snapshot"))

	// A dancer in the cloud likes the play; the cloud's retry (same id) is
	// stored once there.
	like := bus.Action{V: bus.Version, ID: bus.NewID(time.Now()), Kind: bus.ActLike, Session: s.ID,
		Client: "c-e2e-test-client", At: time.Now().UTC(), PlayID: play.ID}
	likedAt := time.Now()
	for range 2 {
		if _, err := cloud.PublishCrowdAction(ctx, jsC, dj, like, nil); err != nil {
			t.Fatal(err)
		}
	}
	likes := func(f map[string]any) float64 {
		l, _ := f["likes"].(map[string]any)
		n, _ := l[play.ID].(float64)
		return n
	}
	phone.wait(cloudWait, "a tally with the cloud's like", func(f map[string]any) bool {
		return f["type"] == bus.TallyType && likes(f) == 1
	})
	t.Logf("cloud like → the DJ's tally: %s", time.Since(likedAt).Round(time.Millisecond))

	// The same like over the venue's Wi-Fi (a phone retrying its offline
	// queue after it moved networks), then a thank-you: once the tally
	// counts the thanks, the like before it has been folded too.
	phone.Send(map[string]any{"type": "like", "ref": "lan-like", "id": like.ID, "playId": play.ID})
	phone.wait(e2eWait, "the LAN like answered", func(f map[string]any) bool { return f["ref"] == "lan-like" })
	phone.Send(map[string]any{"type": "thanks", "ref": "lan-thanks"})
	tally := phone.wait(e2eWait, "a tally with the thanks", func(f map[string]any) bool {
		return f["type"] == bus.TallyType && f["thanks"] == float64(1)
	})
	if n := likes(tally); n != 1 {
		t.Fatalf("likes of the play = %v, want 1 (one like, from the cloud and the LAN): %v", n, tally)
	}

	// A cloud gateway reports a listener: the DJ's count has it with the
	// LAN phone. Reports are re-sent, as a gateway does, until counted.
	pres, _ := json.Marshal(bus.Presence{V: bus.Version, Gateway: "cloud-gw-test", Session: s.ID, Clients: []string{"c-cloud-listener"}, At: time.Now().UTC()})
	testenv.Eventually(t, cloudWait, "a tally counting the cloud's listener", func() bool {
		if err := nc.Publish(cloud.PresenceSubject(dj, s.ID), pres); err != nil {
			t.Fatal(err)
		}
		for _, f := range phone.Frames() {
			if f["type"] == bus.TallyType && f["listeners"] == float64(2) {
				return true
			}
		}
		time.Sleep(200 * time.Millisecond)
		return false
	})
	// A like made in the cloud while the link is down reaches the DJ's
	// tally soon after the link returns (the downlink's catch-up).
	thanks := func(f map[string]any) float64 { n, _ := f["thanks"].(float64); return n }
	proxy.Cut()
	testenv.Eventually(t, cloudWait, "the terminal saying the cloud link is down", func() bool {
		return strings.Contains(out.String(), "cloud link: down")
	})
	cut := time.Now()
	outage := bus.Action{V: bus.Version, ID: bus.NewID(cut), Kind: bus.ActThanks, Session: s.ID, Client: "c-outage-client", At: cut.UTC()}
	if _, err := cloud.PublishCrowdAction(ctx, jsC, dj, outage, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	proxy.Restore()
	restored := time.Now()
	phone.wait(2*cloudWait, "a tally with the thanks made in the cloud during the outage", func(f map[string]any) bool {
		return f["type"] == bus.TallyType && thanks(f) == 2
	})
	t.Logf("outage of %s: link restored → the cloud's thanks in the DJ's tally: %s",
		restored.Sub(cut).Round(time.Millisecond), time.Since(restored).Round(time.Millisecond))

	m, err := cloudTally.NextMsg(cloudWait)
	if err != nil {
		t.Fatalf("no tally on %s: %v", cloud.TallySubject(dj, s.ID), err)
	}
	var up bus.Tally
	if err := json.Unmarshal(m.Data, &up); err != nil || up.Session != s.ID {
		t.Fatalf("cloud tally %s: %v", m.Data, err)
	}
}

// TestLANCloudConfig: cloud settings that cannot work stop `pika lan` before
// anything starts, with one line naming the setting (exit status 2), and
// never echo the token.
func TestLANCloudConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"http scheme", []string{"--cloud", "https://cloud.example.com", "--cloud-token", testToken}, nil, "must start with wss://"},
		{"no token", []string{"--cloud", "wss://cloud.example.com"}, nil, "needs --cloud-token"},
		{"token from the environment, no cloud", nil, map[string]string{"PIKA_CLOUD_TOKEN": testToken}, "--cloud/PIKA_CLOUD_URL is not"},
		{"malformed token", []string{"--cloud", "wss://cloud.example.com", "--cloud-token", "pika_short"}, nil, "not a well-formed API token"},
		{"credentials in the URL", nil, map[string]string{"PIKA_CLOUD_URL": "wss://dj:" + testToken + "@cloud.example.com", "PIKA_CLOUD_TOKEN": testToken}, "put no user or password"},
		{"no host", []string{"--cloud", "wss:///path", "--cloud-token", testToken}, nil, "no host"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := &lockedBuffer{}
			env := map[string]string{"PIKA_DATA": t.TempDir()}
			for k, v := range c.env {
				env[k] = v
			}
			a := &app{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader(""), stdout: out, stderr: out}
			err := a.run(context.Background(), append([]string{"lan", "--addr", "127.0.0.1:0"}, c.args...))
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v (%T), want a usage error (exit status 2)", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("the error shows the token: %q", err)
			}
			if got := strings.Count(strings.TrimSpace(err.Error()), "\n"); got != 1 {
				t.Errorf("want the heading and one line, got %q", err)
			}
		})
	}
}
