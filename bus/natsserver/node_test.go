package natsserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/internal/testenv"
)

func TestNodeOptions(t *testing.T) {
	dir := t.TempDir()
	good := natsserver.NodeConfig{Name: "c1", StoreDir: dir, Listen: "127.0.0.1:4222", ClusterListen: "127.0.0.1:6222",
		Routes: []string{"nats://127.0.0.2:6222", " nats://127.0.0.3:6222 ", ""}, WebsocketListen: "127.0.0.1:8080", MonitorListen: "127.0.0.1:8222"}
	o, err := natsserver.NodeOptions(good)
	if err != nil {
		t.Fatal(err)
	}
	if o.JetStreamDomain != "cloud" || o.Cluster.Name != "pika" || !o.SyncAlways || !o.JetStream {
		t.Errorf("defaults: domain %q cluster %q sync %v", o.JetStreamDomain, o.Cluster.Name, o.SyncAlways)
	}
	if !o.Cluster.NoAdvertise || !o.LeafNode.NoAdvertise {
		t.Error("internal addresses would be advertised")
	}
	if o.Websocket.Port != 8080 || !o.Websocket.NoTLS {
		t.Errorf("websocket %+v", o.Websocket)
	}
	// A WebSocket leaf endpoint needs a leaf listener: loopback by default.
	if o.LeafNode.Host != "127.0.0.1" || o.LeafNode.Port != server.RANDOM_PORT {
		t.Errorf("leaf listener %s:%d, want 127.0.0.1 and a random port", o.LeafNode.Host, o.LeafNode.Port)
	}
	if len(o.Routes) != 2 || o.Routes[1].Host != "127.0.0.3:6222" {
		t.Errorf("routes %v", o.Routes)
	}
	if o.HTTPHost != "127.0.0.1" || o.HTTPPort != 8222 {
		t.Errorf("monitor %s:%d", o.HTTPHost, o.HTTPPort)
	}

	lazy := good
	lazy.NoSyncAlways, lazy.Domain, lazy.WebsocketListen, lazy.Routes = true, "eu", "", []string{"nats://127.0.0.2:6222"}
	if o, err = natsserver.NodeOptions(lazy); err != nil {
		t.Fatal(err)
	}
	if o.SyncAlways || o.JetStreamDomain != "eu" || o.LeafNode.Port != 0 || o.Websocket.Port != 0 {
		t.Errorf("lazy node: sync %v domain %q leaf %d ws %d", o.SyncAlways, o.JetStreamDomain, o.LeafNode.Port, o.Websocket.Port)
	}

	_, err = natsserver.NodeOptions(natsserver.NodeConfig{Name: "a b", Domain: "x.y", Listen: "nope", ClusterListen: "127.0.0.1:x",
		Routes: []string{"http://h:1", "nats://nohost"}})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{`server name "a b"`, `domain "x.y"`, "no store folder", `client address "nope"`, `cluster address "127.0.0.1:x"`, `route "http://h:1"`, `route "nats://nohost"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// startCluster runs three cloud nodes in this process on loopback.
func startCluster(t testing.TB, noSync bool) []*natsserver.Server {
	t.Helper()
	return testenv.Cloud(t, func(_ int, cfg *natsserver.NodeConfig) {
		cfg.MonitorListen, cfg.NoSyncAlways = "127.0.0.1:0", noSync
	})
}

// createR3 creates an R3 stream, retrying while the cluster is still
// forming ("no suitable peers for placement" until every node reported).
func createR3(t testing.TB, js jetstream.JetStream, name string, subjects ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last string
	for {
		// A request made before the metadata leader is elected gets no
		// answer at all: a short timeout per attempt, not one long wait.
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.CreateOrUpdateStream(actx, jetstream.StreamConfig{Name: name, Subjects: subjects, Replicas: 3,
			Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
		acancel()
		if err == nil {
			return
		}
		if err.Error() != last {
			last = err.Error()
			t.Logf("create R3 stream %s: %v (retrying)", name, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("create R3 stream %s: %v", name, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestClusterAcceptsLeafOverWebsocket: a DJ's server links to a cloud node
// through its WebSocket listener (ws://…, the path /leafnode added by the
// leaf), and a client on the DJ's side reaches the cloud's JetStream
// through the domain; the node's /healthz answers 200.
func TestClusterAcceptsLeafOverWebsocket(t *testing.T) {
	nodes := startCluster(t, false)
	_, js := testenv.Client(t, nodes[0].ClientURL())
	createR3(t, js, "CLOUD_T", "pika.dj.t.>")

	wsURL, err := url.Parse(nodes[1].WebsocketURL())
	if err != nil || wsURL.Scheme != "ws" {
		t.Fatalf("websocket URL %q: %v", nodes[1].WebsocketURL(), err)
	}
	leaf, err := server.NewServer(&server.Options{ServerName: "dj-t", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, JetStreamDomain: "djt", StoreDir: t.TempDir(), NoSigs: true,
		LeafNode: server.LeafNodeOpts{ReconnectInterval: 200 * time.Millisecond,
			Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{wsURL}}}}})
	if err != nil {
		t.Fatal(err)
	}
	go leaf.Start()
	t.Cleanup(func() { leaf.Shutdown(); leaf.WaitForShutdown() })
	if !leaf.ReadyForConnections(10 * time.Second) {
		t.Fatal("leaf server not ready")
	}
	start := time.Now()
	for leaf.NumLeafNodes() == 0 {
		if time.Since(start) > 20*time.Second {
			t.Fatal("the leaf never linked over WebSocket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("leaf linked over WebSocket in %s", time.Since(start))

	nc, err := nats.Connect(leaf.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cloud, err := jetstream.NewWithDomain(nc, "cloud")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, err := cloud.Publish(ctx, "pika.dj.t.x", []byte("from the leaf"))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("publish from the leaf into the cloud stream: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := cloud.Stream(ctx, "CLOUD_T")
	if err != nil {
		t.Fatalf("cloud stream info from the leaf: %v", err)
	}
	if n := st.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("cloud stream holds %d messages, want 1", n)
	}

	for {
		resp, err := http.Get(nodes[2].MonitorURL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("/healthz never answered 200: %v", errors.Join(err, ctx.Err()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
