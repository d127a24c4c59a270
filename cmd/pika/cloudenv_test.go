package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/internal/testenv"
)

// The cloud as processes, shared by TestCloudEndToEnd and TestRollingDeploy:
// PostgreSQL (migrated with `pika migrate up`), three `pika nats` nodes
// checking DJ tokens and service passwords, two `pika gateway` processes
// (A and B), one `pika persister`, and a DJ's `pika lan --cloud` whose leaf
// link goes through a proxy to the first node.

// Service passwords of the cloud nodes (at least 16 characters).
const (
	e2eGatewayPassword   = "gateway-password-for-e2e"
	e2ePersisterPassword = "persister-password-for-e2e"
)

// startService runs `pika args…` as a process (a gateway, the persister)
// with the same handling as a NATS node: output kept, killed at the end.
func startService(t *testing.T, bin, name string, args ...string) *natsNode {
	t.Helper()
	n := &natsNode{name: name, addrs: &nodeAddrs{}, args: args}
	n.start(t, bin)
	return n
}

// healthz reports whether base/healthz answers 200.
func healthz(base string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// cloudRig is the running cloud and the DJ.
type cloudRig struct {
	// t is the whole test's: processes restarted in a scenario outlive it.
	t          *testing.T
	bin        string
	dsn        string
	pool       *pgxpool.Pool
	accts      *accounts.Store
	dj, token  string
	tokenID    int64
	nodes      []*natsNode
	clientURLs []string
	gwA, gwB   *natsNode
	baseA      string
	baseB      string
	persister  *natsNode
	// persisterMetrics is the persister's --metrics-addr (host:port).
	persisterMetrics string
	proxy            *testenv.Proxy
	lan              *proc
	hist             *history
	// next is the origin time of the next play written to the history:
	// one second apart, close to now (the DJ side refuses plays from more
	// than 10 minutes ahead).
	next time.Time
	sid  string
}

// play appends titles to the history file in one write, as a DJ program
// that saves its history now and then does.
func (r *cloudRig) play(t *testing.T, titles ...string) {
	t.Helper()
	var b strings.Builder
	for _, title := range titles {
		if r.next.Before(time.Now().Add(-time.Minute)) {
			r.next = time.Now().Truncate(time.Second)
		}
		r.hist.at = r.next.Add(-3 * time.Minute) // entry adds its 3 minutes
		b.WriteString(r.hist.entry(title))
		r.next = r.next.Add(time.Second)
	}
	f, err := os.OpenFile(r.hist.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

// startCloudRig starts everything and waits until the DJ's link is up.
func startCloudRig(t *testing.T, bin string) *cloudRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := &cloudRig{t: t, bin: bin, dsn: testenv.Postgres(t)}
	cmd := exec.Command(bin, "migrate", "up")
	cmd.Env = []string{"DATABASE_URL=" + r.dsn}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pika migrate up: %v\n%s", err, out)
	}
	pool, err := pgxpool.New(ctx, r.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r.pool = pool
	if r.accts, err = accounts.New(pool, accounts.Options{}); err != nil {
		t.Fatal(err)
	}
	if r.dj, err = r.accts.Register(ctx, "e2e-dj", "correct horse battery staple", "E2E DJ"); err != nil {
		t.Fatal(err)
	}
	tok, err := r.accts.CreateToken(ctx, r.dj, "laptop", 0)
	if err != nil {
		t.Fatal(err)
	}
	r.token, r.tokenID = tok.Token, tok.ID

	// Three nodes checking who connects.
	var addrs []*nodeAddrs
	var routes []string
	for range 3 {
		a := newNodeAddrs(t)
		addrs = append(addrs, a)
		routes = append(routes, "nats://"+a.cluster)
	}
	for i, name := range []string{"n1", "n2", "n3"} {
		n := &natsNode{name: name, addrs: addrs[i], args: []string{"nats", "--name", name, "--data", t.TempDir(), "--routes", strings.Join(routes, ","),
			"--listen", addrs[i].client, "--cluster-listen", addrs[i].cluster, "--ws-listen", addrs[i].websocket, "--monitor-listen", addrs[i].monitor,
			"--sync", "interval", "--database-url", r.dsn, "--gateway-password", e2eGatewayPassword, "--persister-password", e2ePersisterPassword}}
		n.start(t, bin)
		r.nodes = append(r.nodes, n)
		r.clientURLs = append(r.clientURLs, "nats://"+addrs[i].client)
	}
	urls := strings.Join(r.clientURLs, ",")

	// Gateways and the persister start with the nodes, not after them, as
	// in a rolling deploy.
	r.baseA, r.baseB = "http://"+freeAddr(t), "http://"+freeAddr(t)
	gateway := func(name, base string) *natsNode {
		return startService(t, bin, name, "gateway", "--listen", strings.TrimPrefix(base, "http://"), "--nats-url", urls,
			"--nats-password", e2eGatewayPassword, "--database-url", r.dsn, "--id", name, "--public-url", base)
	}
	r.gwA, r.gwB = gateway("gateway-a", r.baseA), gateway("gateway-b", r.baseB)
	r.persisterMetrics = freeAddr(t)
	r.persister = startService(t, bin, "persister", "persister", "--nats-url", urls, "--nats-password", e2ePersisterPassword, "--database-url", r.dsn,
		"--metrics-addr", r.persisterMetrics)

	testenv.Eventually(t, cloudWait, "three healthy nodes", func() bool {
		return r.nodes[0].healthy() && r.nodes[1].healthy() && r.nodes[2].healthy()
	})
	testenv.Eventually(t, cloudWait, "both gateways ready (/healthz 200)", func() bool { return healthz(r.baseA) && healthz(r.baseB) })

	// The DJ's laptop: its DJ id is its account's (the token names it), its
	// link goes through the proxy to n1's WebSocket port.
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	idb, _ := json.Marshal(bus.Identity{DJ: r.dj, CreatedAt: time.Now().UTC()})
	if err := os.WriteFile(filepath.Join(data, "identity.json"), idb, 0o600); err != nil {
		t.Fatal(err)
	}
	r.hist = newHistory(t, filepath.Join(dir, "history.m3u"))
	r.proxy = testenv.StartProxy(t, addrs[0].websocket)
	r.lan = startProc(t, bin, "--data", data, "--watch", r.hist.path, "--cloud", "ws://"+r.proxy.Addr(), "--cloud-token", r.token)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pika lan output:\n%s", r.lan.out)
		}
	})
	testenv.Eventually(t, cloudWait, "the DJ's cloud link up", func() bool { return strings.Contains(r.lan.out.String(), "cloud link: up") })
	return r
}

// gatewayJS is JetStream on the cloud as the gateway user, closed when the
// test ends: for reading what the cloud stored.
func (r *cloudRig) gatewayJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(strings.Join(r.clientURLs, ","), nats.UserInfo("gateway", e2eGatewayPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// crowdActionIDs counts each action id stored in the DJ's cloud crowd
// stream (a message may hold a batch of actions).
func (r *cloudRig) crowdActionIDs(t *testing.T) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js := r.gatewayJS(t)
	c, err := js.OrderedConsumer(ctx, cloud.CrowdStreamName(r.dj), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			as, err := bus.DecodeActions(m.Data())
			if err != nil {
				t.Fatalf("%s: %v", m.Subject(), err)
			}
			for _, a := range as {
				out[a.ID]++
			}
		}
		if n == 0 {
			return out
		}
	}
}

// cloudStreamState describes CLOUD_DJ_<dj> for failure messages: its
// leader, replicas, last sequence and how its source is doing.
func (r *cloudRig) cloudStreamState(t *testing.T) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(strings.Join(r.clientURLs, ","), nats.UserInfo("gateway", e2eGatewayPassword))
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err.Error()
	}
	st, err := js.Stream(ctx, cloud.StreamName(r.dj))
	if err != nil {
		return err.Error()
	}
	info := st.CachedInfo()
	var b strings.Builder
	fmt.Fprintf(&b, "  %s: last seq %d", info.Config.Name, info.State.LastSeq)
	if info.Cluster != nil {
		fmt.Fprintf(&b, ", leader %s", info.Cluster.Leader)
		for _, p := range info.Cluster.Replicas {
			fmt.Fprintf(&b, ", replica %s current %v lag %d", p.Name, p.Current, p.Lag)
		}
	}
	for _, src := range info.Sources {
		fmt.Fprintf(&b, "\n    source %s: lag %d, active %s ago", src.Name, src.Lag, src.Active)
		if src.Error != nil {
			fmt.Fprintf(&b, ", error %v", src.Error)
		}
	}
	return b.String() + "\n"
}

// currentTitle is the title a gateway's REST API gives as the session's
// current track ("" when it cannot say).
func (r *cloudRig) currentTitle(base string) string {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + "/api/sessions/" + r.sid)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var s struct {
		CurrentTrack *struct {
			Title string `json:"title"`
		} `json:"currentTrack"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&s) != nil || s.CurrentTrack == nil {
		return ""
	}
	return s.CurrentTrack.Title
}

// gatewayViews describes what each gateway serves of the session, for
// failure messages: its health (sockets) and the session's current track.
func (r *cloudRig) gatewayViews() string {
	get := func(url string) string {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 600))
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	var b strings.Builder
	for _, base := range []string{r.baseA, r.baseB} {
		fmt.Fprintf(&b, "  %s: /healthz %s\n    session: %s\n", base, get(base+"/healthz"), get(base+"/api/sessions/"+r.sid))
	}
	return b.String()
}
