package natsserver_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/natsserver"
)

// BenchmarkActionStore measures where the crowd-action rate is capped: a
// DJ's server syncs every write before it acknowledges (SyncAlways), and
// JetStream's file store syncs once per message, so one action per message
// runs at the disk's sync rate however many dancers send at once. The
// sub-benchmarks show that rate, the same load without syncing (what a
// faster disk would allow), and what batching would change: several
// actions in one stored message share one sync.
//
//	go test -run '^$' -bench ActionStore -benchtime 20000x ./bus/natsserver/
func BenchmarkActionStore(b *testing.B) {
	for _, bc := range []struct {
		name    string
		noSync  bool
		perMsg  int
		senders int
	}{
		{"sync/1-per-message", false, 1, 256},
		{"nosync/1-per-message", true, 1, 256},
		{"sync/4-per-message", false, 4, 256},
		{"sync/16-per-message", false, 16, 256},
	} {
		b.Run(bc.name, func(b *testing.B) { benchActions(b, bc.noSync, bc.perMsg, bc.senders) })
	}
}

func benchActions(b *testing.B, noSync bool, perMsg, senders int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := natsserver.Start(ctx, natsserver.Config{StoreDir: b.TempDir(), Domain: "djbench", NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown()
	nc, err := s.Connect("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	dj := "djbench"
	if _, _, err := bus.EnsureDJ(ctx, js, dj); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	sid := bus.NewID(now)
	action := func(i int) bus.Action {
		return bus.Action{V: bus.Version, ID: bus.NewID(now), Kind: bus.ActThanks, Session: sid, Client: "bench-client-" + string(rune('a'+i%26)), At: now}
	}
	// b.N counts actions; each sender stores messages of perMsg actions.
	msgs := (b.N + perMsg - 1) / perMsg
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= msgs {
					return
				}
				batch := make([]bus.Action, perMsg)
				for i := range batch {
					batch[i] = action(k*perMsg + i)
				}
				var data []byte
				if perMsg == 1 {
					data, _ = json.Marshal(batch[0])
				} else {
					data, _ = json.Marshal(batch)
				}
				msg := nats.NewMsg(bus.ActionSubject(sid, bus.ActThanks))
				msg.Data = data
				msg.Header.Set(jetstream.MsgIDHeader, batch[0].ID)
				if _, err := js.PublishMsg(ctx, msg); err != nil {
					if failed.Add(1) == 1 {
						b.Logf("publish: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
	b.ReportMetric(float64(msgs*perMsg)/b.Elapsed().Seconds(), "actions/s")
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "syncs/s")
}
