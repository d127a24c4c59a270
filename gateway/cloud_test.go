package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/internal/testenv"
)

// cloudEnv is the cloud's 3-node cluster with DJs' streams filled as the
// leaf sourcing would fill them, and gateways in cloud mode over it.
type cloudEnv struct {
	t     *testing.T
	nodes []*natsConn
	seq   map[string]uint64
	phone *env // only for dialURL
}

type natsConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func newCloudEnv(t *testing.T) *cloudEnv {
	t.Helper()
	e := &cloudEnv{t: t, seq: map[string]uint64{}, phone: &env{t: t}}
	for _, s := range testenv.Cloud(t, nil) {
		nc, js := testenv.Client(t, s.ClientURL())
		e.nodes = append(e.nodes, &natsConn{nc: nc, js: js})
	}
	return e
}

// addDJ creates DJ dj's cloud streams. CLOUD_DJ_ and CLOUD_ACT_ only
// source in production; here they capture their cloud subjects, so a test
// can store what the sourcing would.
func (e *cloudEnv) addDJ(dj string) {
	e.t.Helper()
	events := cloud.DJStreamConfig(dj, dj)
	events.Sources, events.Subjects = nil, []string{"pika.dj." + dj + ".s.>"}
	actions := cloud.ActionsStreamConfig(dj, dj)
	actions.Sources, actions.Subjects = nil, []string{"pika.dj." + dj + ".a.>"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, cfg := range []jetstream.StreamConfig{events, actions, cloud.CrowdStreamConfig(dj)} {
		for { // a forming cluster refuses placement or does not answer for a moment
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := e.nodes[0].js.CreateOrUpdateStream(actx, cfg)
			acancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				e.t.Fatalf("create %s: %v", cfg.Name, err)
			}
			e.t.Logf("create %s: %v", cfg.Name, err)
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// publish stores an event of session sid of DJ dj in CLOUD_DJ_<dj> as the
// sourcing does: the DJ's body, the event id as the message id.
func (e *cloudEnv) publish(dj, sid string, typ bus.Type, fill func(*bus.Event)) bus.Event {
	e.t.Helper()
	e.seq[sid]++
	now := time.Now().UTC()
	ev := bus.Event{V: bus.Version, ID: bus.NewID(now), Type: typ, Session: sid, Seq: e.seq[sid], At: now, DJ: dj}
	if fill != nil {
		fill(&ev)
	}
	data, err := bus.Encode(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.nodes[2].js.Publish(ctx, cloud.SessionSubject(dj, sid, typ), data, jetstream.WithMsgID(ev.ID)); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

func (e *cloudEnv) start(dj, name string) string {
	sid := bus.NewID(time.Now())
	e.publish(dj, sid, bus.TypeSessionStarted, func(ev *bus.Event) { ev.Started = &bus.SessionStarted{DJName: name} })
	return sid
}

func (e *cloudEnv) play(dj, sid, artist, title string) bus.Event {
	return e.publish(dj, sid, bus.TypeTrackPlayed, func(ev *bus.Event) {
		ev.Play = &bus.Play{Track: bus.NewTrack(artist, title), Source: "test"}
	})
}

// gateway serves a cloud gateway over node i on a real listener.
func (e *cloudEnv) gateway(i int, id string) (*Gateway, string) {
	e.t.Helper()
	gw, err := New(Config{Cloud: true, JS: e.nodes[i].js, Conn: e.nodes[i].nc, ID: id, PresenceEvery: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(tlog{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		e.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			e.t.Errorf("shutdown: %v", err)
		}
	})
	return gw, "http://" + ln.Addr().String()
}

// tlog writes a gateway's warnings and errors to the test's log.
type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// caughtUp waits until gw's feed of sid has folded event seq.
func caughtUp(t *testing.T, gw *Gateway, sid string, seq uint64) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("feed of %s at seq %d", sid, seq), func() bool {
		f := gw.hub.followed(sid)
		if f == nil {
			return false
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.state.Seq >= seq
	})
}

// crowdActions reads every action stored in CLOUD_CROWD_<dj> for sid.
func (e *cloudEnv) crowdActions(dj, sid string) []bus.Action {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	filter := cloud.CrowdActionFilter(dj, sid)
	st, err := e.nodes[0].js.Stream(ctx, cloud.CrowdStreamName(dj))
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		e.t.Fatal(err)
	}
	stored := 0
	for _, n := range info.State.Subjects {
		stored += int(n)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []bus.Action
	for range stored {
		msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			e.t.Fatalf("read %s: %v", filter, err)
		}
		as, err := bus.DecodeActions(msg.Data())
		if err != nil {
			e.t.Fatalf("stored %s: %v", msg.Subject(), err)
		}
		out = append(out, as...)
	}
	return out
}

// TestCloudGateways: two DJs' sessions served by two cloud gateways on
// different nodes of the cluster, from the streams alone.
func TestCloudGateways(t *testing.T) {
	e := newCloudEnv(t)
	dj1, dj2 := bus.NewDJID(), bus.NewDJID()
	e.addDJ(dj1)
	e.addDJ(dj2)
	s1, s2 := e.start(dj1, "DJ One"), e.start(dj2, "DJ Two")
	p1 := e.play(dj1, s1, "Band One", "First")
	e.play(dj2, s2, "Band Two", "Other")
	gwA, urlA := e.gateway(0, "gw-a")
	gwB, urlB := e.gateway(1, "gw-b")

	presence, err := e.nodes[2].nc.SubscribeSync(cloud.PresenceSubject(dj1, s1))
	if err != nil {
		t.Fatal(err)
	}

	// A phone on B gets DJ 1's plays and never DJ 2's.
	b1 := e.phone.dialURL(urlB)
	snap := b1.subscribeAs("c-phone-b1", s1, nil)
	if np, _ := snap["nowPlaying"].(map[string]any); np == nil || np["title"] != "First" {
		t.Fatalf("snapshot of s1 on B: nowPlaying %v", snap["nowPlaying"])
	}
	b2 := e.dialOn(urlB)
	b2.subscribeAs("c-phone-b2", s2, nil)
	p2 := e.play(dj1, s1, "Band One", "Second")
	if f := b1.expect(string(bus.TypeTrackPlayed)); f.str("id") != p2.ID {
		t.Fatalf("B's phone of s1 got %v, want play %s", f, p2.ID)
	}
	q := e.play(dj2, s2, "Band Two", "Another")
	if f := b2.expect(string(bus.TypeTrackPlayed)); f.str("id") != q.ID {
		t.Fatalf("B's phone of s2 got %v, want play %s", f, q.ID)
	}
	b1.quiet(300 * time.Millisecond)

	// A like through A is stored once in CLOUD_CROWD_<dj1>; B folds it.
	a1 := e.dialOn(urlA)
	a1.subscribeAs("c-liker-1", s1, nil)
	like := a1.ask(frame{"type": "like", "id": bus.NewID(time.Now()), "playId": p1.ID})
	wantOK(t, "like through A", like, false)
	testenv.Eventually(t, 10*time.Second, "B folded A's like", func() bool {
		f := gwB.hub.followed(s1)
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Equal(f.crowd.Mine("c-liker-1").Likes, []string{p1.ID})
	})
	if got := e.crowdActions(dj1, s1); len(got) != 1 || got[0].Kind != bus.ActLike || got[0].PlayID != p1.ID {
		t.Fatalf("CLOUD_CROWD_%s holds %+v, want the one like", dj1, got)
	}
	if got := e.crowdActions(dj2, s1); len(got) != 0 {
		t.Fatalf("DJ 2's crowd stream holds %+v", got)
	}
	b1b := e.dialOn(urlB)
	b1b.subscribeAs("c-liker-1", s1, nil)
	wantOK(t, "the same like through B", b1b.ask(frame{"type": "like", "playId": p1.ID}), true)

	// A like made on the DJ's LAN (CLOUD_ACT_) counts as already made.
	lan := bus.Action{V: bus.Version, ID: bus.NewID(time.Now()), Kind: bus.ActLike, Session: s1, Client: "c-lan-phone", PlayID: p2.ID, At: time.Now().UTC()}
	lanData, _ := json.Marshal(lan)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.nodes[2].js.Publish(ctx, "pika.dj."+dj1+".a."+s1+".like", lanData, jetstream.WithMsgID(lan.ID)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "A folded the LAN like", func() bool {
		f := gwA.hub.followed(s1)
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Equal(f.crowd.Mine("c-lan-phone").Likes, []string{p2.ID})
	})
	lanPhone := e.dialOn(urlA)
	lanPhone.subscribeAs("c-lan-phone", s1, nil)
	wantOK(t, "a LAN like again through the cloud", lanPhone.ask(frame{"type": "like", "playId": p2.ID}), true)

	// A tally reaches the phones of its session only, and only from its DJ.
	tally := bus.Tally{Type: bus.TallyType, V: bus.Version, Session: s1, At: time.Now().UTC(), Likes: map[string]int{p1.ID: 1}, Listeners: 7}
	raw, _ := json.Marshal(tally)
	forged := tally
	forged.Listeners = 99
	rawForged, _ := json.Marshal(forged)
	if err := e.nodes[2].nc.Publish(cloud.TallySubject(dj2, s1), rawForged); err != nil { // DJ 2 claiming DJ 1's session
		t.Fatal(err)
	}
	if err := e.nodes[2].nc.Publish(cloud.TallySubject(dj1, s1), raw); err != nil {
		t.Fatal(err)
	}
	if f := b1.expect(bus.TallyType); f.num("listeners") != 7 {
		t.Fatalf("B's phone got tally %v, want DJ 1's", f)
	}
	b2.quiet(300 * time.Millisecond)

	// Presence reports of both gateways go to pika.presence.<dj1>.<s1>.
	seen := map[string][]string{}
	deadline := time.Now().Add(10 * time.Second)
	for !(slices.Contains(seen["gw-a"], "c-liker-1") && slices.Contains(seen["gw-b"], "c-phone-b1")) {
		m, err := presence.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("presence reports seen %v: %v", seen, err)
		}
		var p bus.Presence
		if err := json.Unmarshal(m.Data, &p); err != nil || p.Session != s1 {
			t.Fatalf("presence %s: %v", m.Data, err)
		}
		seen[p.Gateway] = p.Clients
	}

	// A phone of B reconnecting to A resumes with what it missed, once.
	lastSeq := p2.Seq // the last event b1 got
	b1.ws.Close()
	p3 := e.play(dj1, s1, "Band One", "Third")
	caughtUp(t, gwA, s1, e.seq[s1])
	back := e.dialOn(urlA)
	resumed := back.subscribeAs("c-phone-b1", s1, &lastSeq)
	if resumed["recovered"] != true {
		t.Fatalf("resume on the other gateway: %v", resumed)
	}
	missed, _ := resumed["resume"].(map[string]any)["missed"].([]any)
	if len(missed) != 1 || missed[0].(map[string]any)["id"] != p3.ID {
		t.Fatalf("missed %v, want only play %s", missed, p3.ID)
	}
	back.quiet(300 * time.Millisecond)

	// The lobby lists both DJs' live sessions, on either gateway.
	for _, url := range []string{urlA, urlB} {
		code, _, body := testenv.Request(t, http.MethodGet, url+"/api/sessions", "")
		var list []SessionInfo
		if code != http.StatusOK || json.Unmarshal(body, &list) != nil {
			t.Fatalf("lobby: %d %s", code, body)
		}
		var ids []string
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		if !slices.Contains(ids, s1) || !slices.Contains(ids, s2) || len(ids) != 2 {
			t.Fatalf("lobby lists %v, want %s and %s", ids, s1, s2)
		}
	}
	// An ended session leaves it (within the lobby's reuse time).
	e.publish(dj2, s2, bus.TypeSessionEnded, func(ev *bus.Event) { ev.Ended = &bus.SessionEnded{Reason: bus.EndByDJ} })
	testenv.Eventually(t, 10*time.Second, "ended session gone from the lobby", func() bool {
		_, _, body := testenv.Request(t, http.MethodGet, urlA+"/api/sessions", "")
		return strings.Contains(string(body), s1) && !strings.Contains(string(body), s2)
	})

	// History and recap come from the streams. A 503 says "try again" (the
	// gateway logs why); only one that never answers fails.
	for path, want := range map[string]string{"/history": "Third", "/recap": "First"} {
		var code int
		var body []byte
		testenv.Eventually(t, 20*time.Second, path+" of s1", func() bool {
			code, _, body = testenv.Request(t, http.MethodGet, urlB+"/api/sessions/"+s1+path, "")
			return code != http.StatusServiceUnavailable
		})
		if code != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d %s", path, code, body)
		}
	}
}

// dialOn opens a socket to the gateway at url.
func (e *cloudEnv) dialOn(url string) *client { return e.phone.dialURL(url) }

// TestCloudRefusals: an unknown session and the DJ console, answered at
// once rather than left waiting.
func TestCloudRefusals(t *testing.T) {
	e := newCloudEnv(t)
	dj := bus.NewDJID()
	e.addDJ(dj)
	sid := e.start(dj, "DJ")
	// Another DJ copies the session id (it is in the QR code) into its
	// own stream: the session stays the DJ's who stored it first.
	copycat := bus.NewDJID()
	e.addDJ(copycat)
	e.seq[sid] = 0
	e.publish(copycat, sid, bus.TypeSessionStarted, func(ev *bus.Event) { ev.Started = &bus.SessionStarted{DJName: "Copycat"} })
	e.publish(copycat, sid, bus.TypeSessionStarted, func(ev *bus.Event) { ev.Started = &bus.SessionStarted{DJName: "Copycat"} })
	gw, url := e.gateway(0, "gw-a")

	c := e.dialOn(url)
	unknown := bus.NewID(time.Now())
	for i := range 3 { // the first asks the cluster, the others the miss cache
		start := time.Now()
		wantError(t, "unknown session", c.ask(frame{"type": "subscribe", "sessionId": unknown, "clientId": "c-unknown"}), codeUnknownSession)
		t.Logf("unknown session answered in %v (lookup %d)", time.Since(start), i+1)
	}
	gw.hub.dir.mu.Lock()
	_, cached := gw.hub.dir.missed[unknown]
	gw.hub.dir.mu.Unlock()
	if !cached {
		t.Fatal("the miss is not remembered")
	}
	if snap := e.dialOn(url).subscribeAs("c-someone", sid, nil); snap["session"].(map[string]any)["djName"] != "DJ" {
		t.Fatalf("the copycat took the session: %v", snap["session"])
	}
	if code, _, body := testenv.Request(t, http.MethodGet, url+"/api/sessions/"+unknown, ""); code != http.StatusNotFound {
		t.Fatalf("unknown session over REST: %d %s", code, body)
	}

	r := c.ask(frame{"type": "subscribe", "sessionId": sid, "clientId": "c-console", "secret": "s3cret"})
	wantError(t, "console", r, codeForbidden)
	if !strings.Contains(r.str("reason"), "laptop") {
		t.Fatalf("console refusal %v does not say where the console is", r)
	}
	c.subscribeAs("c-dancer", sid, nil)
	wantError(t, "DJ command", c.ask(frame{"type": "dj", "sessionId": sid, "secret": "s3cret", "command": "announce", "text": "hi"}), codeForbidden)
	code, _, body := testenv.Request(t, http.MethodGet, url+"/api/sessions/"+sid+"/recap", "s3cret")
	if code != http.StatusForbidden || !strings.Contains(string(body), "laptop") {
		t.Fatalf("owner's recap: %d %s", code, body)
	}
}
