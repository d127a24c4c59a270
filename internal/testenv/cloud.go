package testenv

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus/natsserver"
)

// Cloud runs the cloud's three JetStream nodes (c1, c2, c3) in this process
// on loopback, each routing to all three cluster ports and with a
// WebSocket listener that takes DJs' leaf links, shut down when the test
// ends. tweak, if set, adjusts node i's configuration before it starts
// (sync, monitoring, an authenticator).
func Cloud(tb testing.TB, tweak func(i int, cfg *natsserver.NodeConfig)) []*natsserver.Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Hold each cluster port until its node starts, so that another node's
	// random port cannot take it meanwhile.
	var held []net.Listener
	var routes []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { l.Close() })
		held = append(held, l)
		routes = append(routes, "nats://"+l.Addr().String())
	}
	nodes := make([]*natsserver.Server, 0, 3)
	for i := range 3 {
		cfg := natsserver.NodeConfig{Name: fmt.Sprintf("c%d", i+1), StoreDir: tb.TempDir(), Listen: "127.0.0.1:0",
			ClusterListen: held[i].Addr().String(), Routes: routes, WebsocketListen: "127.0.0.1:0"}
		if tweak != nil {
			tweak(i, &cfg)
		}
		held[i].Close()
		s, err := natsserver.StartNode(ctx, cfg)
		if err != nil {
			tb.Fatalf("testenv: start cloud node %s: %v", cfg.Name, err)
		}
		tb.Cleanup(s.Shutdown)
		nodes = append(nodes, s)
	}
	return nodes
}
