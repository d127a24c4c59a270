package natsserver_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/internal/testenv"
)

// BenchmarkClusterPublish measures what the cloud's sync choice costs: an
// R3 stream on three in-process nodes, each acknowledged publish waiting
// for a majority of replicas, with every node syncing each write before it
// acknowledges (sync-always, the default of `pika nats`) or syncing every
// two minutes (interval, JetStream's default). One publisher shows the
// latency-bound rate of a single writer; 64 show what concurrent writers
// (gateways storing batches, DJs' sourced streams) get together.
//
//	go test -run '^$' -bench ClusterPublish -benchtime 5000x ./bus/natsserver/
func BenchmarkClusterPublish(b *testing.B) {
	for _, sync := range []struct {
		name   string
		noSync bool
	}{{"sync-always", false}, {"interval-2m", true}} {
		for _, publishers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/publishers-%d", sync.name, publishers), func(b *testing.B) {
				benchCluster(b, sync.noSync, publishers)
			})
		}
	}
}

func benchCluster(b *testing.B, noSync bool, publishers int) {
	nodes := startCluster(b, noSync)
	_, js := testenv.Client(b, nodes[0].ClientURL())
	createR3(b, js, "BENCH", "bench.>")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	payload := make([]byte, 300) // about one encoded play event
	var next, failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				if k >= int64(b.N) {
					return
				}
				msg := nats.NewMsg("bench.s")
				msg.Data = payload
				msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("m-%d", k))
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
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
}
