package cloud_test

import (
	"context"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/internal/testenv"
)

// TestRestartStalledDownlink: a downlink that has heard from the cloud
// lately is left alone; one that has not (here: the link cut) is restarted,
// keeps its source, and once the link is back carries every like made
// meanwhile, each once.
func TestRestartStalledDownlink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dj := bus.NewDJID()
	_, link, leaf, jsC, jsDJ, sid := startDownlink(ctx, t, dj)
	if restarted, err := cloud.RestartStalledDownlink(ctx, jsDJ, dj, cloud.Domain, 5*time.Second); err != nil || restarted {
		t.Fatalf("a healthy downlink: restarted=%v err=%v, want left alone", restarted, err)
	}

	link.Cut()
	testenv.Eventually(t, 30*time.Second, "leaf link down", func() bool { return leaf.NumLeafNodes() == 0 })
	const likes = 10
	for i := range likes {
		if _, err := cloud.PublishCrowdAction(ctx, jsC, dj, like(sid, bus.NewID(time.Now()), time.Now().UTC(), 1+i), nil); err != nil {
			t.Fatal(err)
		}
	}
	var restarted bool
	testenv.Eventually(t, 30*time.Second, "the silent downlink restarted", func() bool {
		r, err := cloud.RestartStalledDownlink(ctx, jsDJ, dj, cloud.Domain, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		restarted = r
		return r
	})
	link.Restore()
	restoredAt := time.Now()
	testenv.Eventually(t, 60*time.Second, "every like on the DJ side after the restart", func() bool {
		return testenv.StreamMsgs(context.Background(), jsDJ, cloud.DJCrowdStreamName(dj)) >= 1+likes
	})
	t.Logf("restarted=%v; all %d likes on the DJ side %s after the link returned", restarted, likes, time.Since(restoredAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // a redelivery would land by now
	if n := testenv.StreamMsgs(context.Background(), jsDJ, cloud.DJCrowdStreamName(dj)); n != 1+likes {
		t.Fatalf("the DJ side holds %d likes, want %d: a restart must not double any", n, 1+likes)
	}
}
