package cloud_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
)

func TestCrowdSubjectRoundTrip(t *testing.T) {
	dj, sid := bus.NewDJID(), bus.NewID(time.Now())
	gotDJ, gotSid, kind, ok := cloud.ParseCrowdSubject(cloud.CrowdActionSubject(dj, sid, bus.ActTempo))
	if !ok || gotDJ != dj || gotSid != sid || kind != string(bus.ActTempo) {
		t.Fatalf("parse: %q %q %q %v", gotDJ, gotSid, kind, ok)
	}
	for _, s := range []string{"", "pika.crowd.", "pika.s." + sid + ".like", "pika.crowd." + dj + ".a." + sid,
		"pika.crowd." + dj + ".x." + sid + ".like", "pika.crowd.DJ.a." + sid + ".like", "pika.crowd." + dj + ".a.nope.like",
		"pika.crowd." + dj + ".a." + sid + ".like.more", "pika.crowd." + dj + ".a." + sid + "."} {
		if _, _, _, ok := cloud.ParseCrowdSubject(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}

// FuzzParseCrowdSubject: subjects come from the cloud; whatever parses must
// be made of well-formed ids and give the same subject back.
func FuzzParseCrowdSubject(f *testing.F) {
	f.Add("pika.crowd.djaaaaaaaaaaaaaaaa.a.01J0000000000000000000000A.like")
	f.Add("pika.crowd.dj.a..")
	f.Fuzz(func(t *testing.T, s string) {
		dj, sid, kind, ok := cloud.ParseCrowdSubject(s)
		if !ok {
			return
		}
		if !bus.ValidDJID(dj) || !bus.ValidID(sid) || kind == "" || strings.Contains(kind, ".") {
			t.Fatalf("%q parsed into %q %q %q", s, dj, sid, kind)
		}
		if back := cloud.CrowdActionSubject(dj, sid, bus.ActionKind(kind)); back != s {
			t.Fatalf("%q gave back %q", s, back)
		}
	})
}

func TestLeafRemote(t *testing.T) {
	for _, raw := range []string{"ws://127.0.0.1:8080", "wss://cloud.example:443/nats", "nats-leaf://u:p@127.0.0.1:7422"} {
		u, _ := url.Parse(raw)
		r, err := cloud.LeafRemote(u, "")
		if err != nil || len(r.URLs) != 1 || r.URLs[0] != u {
			t.Errorf("%s: %v %v", raw, r, err)
		}
	}
	for _, raw := range []string{"http://127.0.0.1:8080", "ws://", "tcp://127.0.0.1:7422"} {
		u, _ := url.Parse(raw)
		if _, err := cloud.LeafRemote(u, ""); err == nil {
			t.Errorf("%s accepted", raw)
		}
	}
	if _, err := cloud.LeafRemote(nil, ""); err == nil {
		t.Error("nil URL accepted")
	}
}
