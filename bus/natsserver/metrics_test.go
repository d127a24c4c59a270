package natsserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pika-dj/pika/bus/natsserver"
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
