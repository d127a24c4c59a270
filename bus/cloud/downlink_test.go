package cloud_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/internal/testenv"
)

// downlinkRunsEnv lists the downlink catch-up runs, e.g.
// PIKA_DOWNLINK_RUNS=5s:other,20s:leader,60s:other: an outage, and whether
// the link returns through DJ_DOWN's leader or another node. Each run starts
// its own cluster. The default keeps the test short.
const downlinkRunsEnv = "PIKA_DOWNLINK_RUNS"

// TestDownlinkCatchUp (issue 7): cloud dancers' likes made while the venue's
// link is down reach the DJ's CROWD_<dj> soon after it returns, whichever
// cloud node the link returns through. It logs the time from restore to the
// first and the last of them; it fails only if they never all arrive.
func TestDownlinkCatchUp(t *testing.T) {
	runs := "5s:other"
	if v := os.Getenv(downlinkRunsEnv); v != "" {
		runs = v
	}
	for i, r := range strings.Split(runs, ",") {
		d, where, ok := strings.Cut(r, ":")
		outage, err := time.ParseDuration(d)
		if !ok || err != nil || (where != "leader" && where != "other") {
			t.Fatalf("%s: %q is not <outage>:leader or <outage>:other", downlinkRunsEnv, r)
		}
		t.Run(fmt.Sprintf("%d-%s-%s", i, d, where), func(t *testing.T) {
			downlinkCatchUp(t, outage, where == "leader")
		})
	}
}

func downlinkCatchUp(t *testing.T, outage time.Duration, viaLeader bool) {
	const likes = 20
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+outage)
	defer cancel()
	dj := bus.NewDJID()

	nodes, link, leaf, jsC, jsDJ, sid := startDownlink(ctx, t, dj)

	leader := consumerLeader(ctx, t, jsC, dj)
	target := slices.IndexFunc(nodes, func(n cloudNode) bool { return n.s.Name() == leader })
	if target < 0 {
		t.Fatalf("DJ_DOWN's leader %q is none of the nodes", leader)
	}
	if !viaLeader {
		target = (target + 1) % len(nodes)
	}

	link.Cut()
	testenv.Eventually(t, 30*time.Second, "leaf link down", func() bool { return leaf.NumLeafNodes() == 0 })
	cut := time.Now()
	link.Retarget(nodes[target].wsAddr)
	for i := range likes {
		if _, err := cloud.PublishCrowdAction(ctx, jsC, dj, like(sid, bus.NewID(time.Now()), time.Now().UTC(), 1+i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if remaining := outage - time.Since(cut); remaining > 0 {
		time.Sleep(remaining) // the outage itself: nothing to wait for
	}
	before := sourceState(ctx, jsDJ, dj)

	link.Restore()
	restored := time.Now()
	var relinked, first time.Duration
	deadline := restored.Add(90 * time.Second)
	for {
		if relinked == 0 && leaf.NumLeafNodes() == 1 {
			relinked = time.Since(restored)
		}
		n := testenv.StreamMsgs(context.Background(), jsDJ, cloud.DJCrowdStreamName(dj))
		if first == 0 && n > 1 {
			first = time.Since(restored)
		}
		if n >= 1+likes {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d likes on the DJ side %s after restore; source before restore: %s; now: %s",
				n-1, likes, time.Since(restored).Round(time.Millisecond), before, sourceState(ctx, jsDJ, dj))
		}
		time.Sleep(10 * time.Millisecond)
	}
	last := time.Since(restored)
	t.Logf("outage %s, DJ_DOWN leader %s, link back through %s (%s) after %s; likes: first %s, last %s after restore; source at restore: %s",
		outage, leader, nodes[target].s.Name(), map[bool]string{true: "leader", false: "other"}[nodes[target].s.Name() == leader],
		relinked.Round(time.Millisecond), first.Round(time.Millisecond), last.Round(time.Millisecond), before)
}

// consumerLeader is the cloud node leading DJ_DOWN.
func consumerLeader(ctx context.Context, t *testing.T, js jetstream.JetStream, dj string) string {
	t.Helper()
	var leader string
	testenv.Eventually(t, 30*time.Second, "DJ_DOWN's leader", func() bool {
		c, err := js.PushConsumer(ctx, cloud.CrowdStreamName(dj), cloud.DownlinkConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		if err != nil || info.Cluster == nil {
			return false
		}
		leader = info.Cluster.Leader
		return leader != ""
	})
	return leader
}

// sourceState describes the DJ's CROWD_<dj> source as its server reports it.
func sourceState(ctx context.Context, js jetstream.JetStream, dj string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, cloud.DJCrowdStreamName(dj))
	if err != nil {
		return err.Error()
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err.Error()
	}
	if len(info.Sources) == 0 {
		return "no source"
	}
	s := info.Sources[0]
	e := ""
	if s.Error != nil {
		e = " error " + s.Error.Description
	}
	return "active " + s.Active.Round(time.Millisecond).String() + " ago, lag " + strconv.FormatUint(s.Lag, 10) + e
}

// startDownlink runs a cloud, a DJ leaf linked to it over WebSocket through
// a proxy to every node, the DJ's streams and CROWD_<dj>, then the cloud's
// streams of the DJ (in that order, as a laptop that links for the first
// time), and returns once one cloud like has crossed to the DJ side, with
// the session it belongs to.
func startDownlink(ctx context.Context, t *testing.T, dj string) ([]cloudNode, *testenv.Proxy, *server.Server, jetstream.JetStream, jetstream.JetStream, string) {
	t.Helper()
	nodes := startCloud(t)
	var targets []string
	for _, n := range nodes {
		targets = append(targets, n.wsAddr)
	}
	link := testenv.StartProxy(t, targets...)
	leaf := startLeaf(t, dj, &url.URL{Scheme: "ws", Host: link.Addr()})
	_, jsC := testenv.Client(t, nodes[0].s.ClientURL())
	_, jsDJ := testenv.Client(t, leaf.ClientURL())
	if _, _, err := bus.EnsureDJ(ctx, jsDJ, dj); err != nil {
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
	if _, err := cloud.PublishCrowdAction(ctx, jsC, dj, like(sid, bus.NewID(time.Now()), time.Now().UTC(), 0), nil); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "the first like on the DJ side", func() bool {
		return testenv.StreamMsgs(context.Background(), jsDJ, cloud.DJCrowdStreamName(dj)) == 1
	})
	return nodes, link, leaf, jsC, jsDJ, sid
}
