package natsserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/internal/testenv"
)

// gather returns each gauge as "name{label=value,...}" → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestCollector(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := natsserver.Start(ctx, natsserver.Config{StoreDir: t.TempDir(), Domain: "metrics", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	reg := prometheus.NewRegistry()
	reg.MustRegister(natsserver.NewCollector(s))

	nc, err := s.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"ev.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := js.Publish(ctx, "ev.x", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "persister", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	// Three delivered, none acknowledged: 7 pending, 3 awaiting an ack.
	batch, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++
	}
	if n != 3 {
		t.Fatalf("fetched %d, want 3", n)
	}
	// A gateway's ordered consumer: counted, but not under its random name.
	if _, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{}); err != nil {
		t.Fatal(err)
	}

	got := gather(t, reg)
	for series, want := range map[string]float64{
		"pika_nats_consumer_pending{consumer=persister,stream=EVENTS}":     7,
		"pika_nats_consumer_ack_pending{consumer=persister,stream=EVENTS}": 3,
		"pika_nats_leafnodes{}":   0,
		"pika_nats_connections{}": 1,
		"pika_nats_jsz_errors{}":  0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	if _, ok := got["pika_nats_consumer_pending{consumer=(ephemeral),stream=EVENTS}"]; !ok || len(got) != 7 {
		t.Errorf("want the ordered consumer summed as (ephemeral), 7 series in all: %v", got)
	}
}

// TestCollectorCluster: in a three-node cluster with an R3 stream, each
// consumer is reported by its leader alone, so sum() over the nodes is
// the consumer's own count.
func TestCollectorCluster(t *testing.T) {
	nodes := testenv.Cloud(t, nil)
	regs := make([]*prometheus.Registry, len(nodes))
	for i, n := range nodes {
		regs[i] = prometheus.NewRegistry()
		regs[i].MustRegister(natsserver.NewCollector(n))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, js := testenv.Client(t, nodes[0].ClientURL())
	defer nc.Close()
	createR3(t, js, "R3", "r3.>")
	st, err := js.Stream(ctx, "R3")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := js.Publish(ctx, "r3.x", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "persister", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	const series = "pika_nats_consumer_pending{consumer=persister,stream=R3}"
	testenv.Eventually(t, 20*time.Second, "the consumer reported once across the nodes", func() bool {
		sum, reporters := 0.0, 0
		for _, reg := range regs {
			if v, ok := gather(t, reg)[series]; ok {
				sum += v
				reporters++
			}
		}
		return reporters == 1 && sum == 5
	})
	total := 0.0
	for _, reg := range regs {
		total += gather(t, reg)["pika_nats_connections{}"]
	}
	if total < 1 {
		t.Errorf("connections across the nodes: %v", total)
	}
}
