package persister_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/persister"
	"github.com/pika-dj/pika/persister/persistertest"
)

// TestPersister_CloudStreams: the cloud's copies are discovered and written
// like the DJ's own streams. A night's events are in DJ_<dj> (the DJ's own
// persister reads it) and in CLOUD_DJ_<dj>; half its actions were taken on
// the LAN, so they are in ACT_<dj> and in CLOUD_ACT_<dj>; the other half
// through cloud gateways, in CLOUD_CROWD_<dj> only. PostgreSQL holds every
// row exactly once: the writes are idempotent by event and action id.
func TestPersister_CloudStreams(t *testing.T) {
	js, dj := quietBus(t)
	db := newDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One server holds both sides here, so the cloud's streams capture the
	// cloud's subjects instead of sourcing over a leaf (bus/cloud tests that).
	for _, sc := range []jetstream.StreamConfig{
		{Name: cloud.StreamName(dj), Subjects: []string{"pika.dj." + dj + ".s.>"}},
		{Name: cloud.ActionsStreamName(dj), Subjects: []string{"pika.dj." + dj + ".a.>"}},
		{Name: cloud.CrowdStreamName(dj), Subjects: []string{"pika.crowd." + dj + ".a.>"}},
	} {
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	w := persistertest.Night(dj, 400)
	var lan []persistertest.Item
	var copies []persistertest.Item // with their subjects in the cloud
	var subjects []string
	actions := 0
	for _, it := range w.Items {
		m, err := it.Msg()
		if err != nil {
			t.Fatal(err)
		}
		rest := strings.TrimPrefix(m.Subject, "pika.") // s.<sid>.<type> or a.<sid>.<kind>
		switch {
		case it.Event != nil:
			lan = append(lan, it)
			copies, subjects = append(copies, it), append(subjects, "pika.dj."+dj+"."+rest)
		case actions%2 == 0:
			lan = append(lan, it)
			copies, subjects = append(copies, it), append(subjects, "pika.dj."+dj+"."+rest)
			actions++
		default:
			copies, subjects = append(copies, it), append(subjects, "pika.crowd."+dj+"."+rest)
			actions++
		}
	}
	if err := persistertest.Publish(ctx, js, lan); err != nil {
		t.Fatal(err)
	}
	for i, it := range copies {
		m, err := it.Msg()
		if err != nil {
			t.Fatal(err)
		}
		m.Subject = subjects[i]
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	stop := run(t, persister.Config{JS: js, Store: db.store, Discover: 200 * time.Millisecond})
	defer stop()
	db.waitRows(t, w, 30*time.Second)
	for _, s := range []string{cloud.StreamName(dj), cloud.ActionsStreamName(dj), cloud.CrowdStreamName(dj)} {
		testenv.Eventually(t, 15*time.Second, s+" consumed to its end", func() bool {
			info := consumerInfo(t, js, s, persister.DefaultDurable)
			return info != nil && info.NumPending == 0 && info.NumAckPending == 0
		})
	}
	// Once everything is acknowledged, the tables still hold each row once.
	if got := db.count(t, w); got != w.Want {
		t.Fatalf("rows %+v, want %+v", got, w.Want)
	}
}

// TestUnderstands: the stream names discovery picks.
func TestUnderstands(t *testing.T) {
	for name, want := range map[string]bool{
		"DJ_x": true, "ACT_x": true, "CLOUD_DJ_x": true, "CLOUD_ACT_x": true, "CLOUD_CROWD_x": true,
		"DJ_": false, "CLOUD_DJ_": false, "CROWD_x": false, "KV_sessions_x": false, "CLOUD_KILL": false,
	} {
		if got := persister.Understands(name); got != want {
			t.Errorf("Understands(%q) = %v, want %v", name, got, want)
		}
	}
}
