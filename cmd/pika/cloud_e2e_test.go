package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/internal/testenv"
)

// The cloud end to end, every part its own process built from $PIKA_BIN:
// PostgreSQL (migrated with `pika migrate up`), three `pika nats` nodes
// checking DJ tokens and service passwords, two `pika gateway` processes
// (A and B), one `pika persister`, and a DJ's `pika lan --cloud` whose leaf
// link goes through a proxy the test cuts. Plays come from a watched
// history file, dancers are real WebSocket clients. Times are logged, never
// asserted.

// cloudOutage is how long the e2e test cuts the DJ's link:
// PIKA_CLOUD_OUTAGE (e.g. 60s for the figure), default 5 s.
func cloudOutage(t *testing.T) time.Duration {
	t.Helper()
	if s := os.Getenv("PIKA_CLOUD_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("PIKA_CLOUD_OUTAGE %q: %v", s, err)
		}
		return d
	}
	return 5 * time.Second
}

// cloudPhone is a dancer's phone on a cloud gateway with its own client id.
type cloudPhone struct {
	*dancer
	client string
	refs   int
	ids    map[string]string // action id by ref
}

func (r *cloudRig) phone(t *testing.T, base, client string, lastSeq *uint64) *cloudPhone {
	t.Helper()
	p := &cloudPhone{dancer: dial(t, base), client: client, ids: map[string]string{}}
	f := map[string]any{"type": "subscribe", "ref": "sub", "sessionId": r.sid, "clientId": client}
	if lastSeq != nil {
		f["lastSeq"] = *lastSeq
	}
	p.Send(f)
	return p
}

// like sends a like of playID and returns its ref.
func (p *cloudPhone) like(playID string) string {
	p.refs++
	ref := fmt.Sprintf("like-%d", p.refs)
	p.ids[ref] = bus.NewID(time.Now())
	p.Send(map[string]any{"type": "like", "ref": ref, "id": p.ids[ref], "playId": playID})
	return ref
}

// answered reports whether ref was answered, and whether with an ok that
// stored something new (not "duplicate": a play this phone liked already).
func (p *cloudPhone) answered(ref string) (done, stored bool) {
	for _, f := range p.Frames() {
		if f["ref"] == ref && f["type"] != "snapshot" {
			return true, f["type"] == "ok" && f["duplicate"] != true
		}
	}
	return false, false
}

// plays are the track.played frames a phone got, in order.
func plays(d *dancer) []map[string]any {
	var out []map[string]any
	for _, f := range d.Frames() {
		if f["type"] == string(bus.TypeTrackPlayed) {
			out = append(out, f)
		}
	}
	return out
}

func maxSeq(d *dancer) uint64 {
	var m uint64
	for _, f := range d.events() {
		if s, ok := f["seq"].(float64); ok && uint64(s) > m {
			m = uint64(s)
		}
	}
	return m
}

// TestCloudEndToEnd: the must-show, in order, on one shared cloud.
func TestCloudEndToEnd(t *testing.T) {
	bin := pikaBinary(t)
	t.Run("config", func(t *testing.T) { cloudConfigErrors(t, bin) })
	if t.Failed() {
		return
	}
	start := time.Now()
	r := startCloudRig(t, bin)
	t.Logf("cloud and DJ up in %s", time.Since(start).Round(time.Millisecond))
	for _, s := range []struct {
		name string
		fn   func(*testing.T, *cloudRig)
	}{
		{"live", cloudLive},
		{"outage", cloudOutageCatchUp},
		{"gateway-kill", cloudGatewayKill},
		{"nats-kill", cloudNATSKill},
		{"auth", cloudAuth},
	} {
		// Each scenario leaves the cloud running, so a failure does not
		// stop the next ones.
		t.Run(s.name, func(t *testing.T) { s.fn(t, r) })
	}
	t.Logf("whole test %s", time.Since(start).Round(time.Millisecond))
}

// cloudLive: a dancer on gateway B sees a track the DJ plays.
func cloudLive(t *testing.T, r *cloudRig) {
	r.play(t, "Opener - Track 1")
	r.sid = liveSession(t, r.lan.base, "Track 1").ID
	// The session reaches the cloud's lobby through the leaf link.
	testenv.Eventually(t, cloudWait, "the session listed by gateway B", func() bool {
		var list []map[string]any
		if getJSON(t, r.baseB+"/api/sessions", &list) != 200 {
			return false
		}
		for _, s := range list {
			if s["id"] == r.sid {
				return true
			}
		}
		return false
	})
	p := r.phone(t, r.baseB, "c-live-b", nil)
	p.wait(cloudWait, "the snapshot on B", isType("snapshot"))
	appended := time.Now()
	r.play(t, "Second Band - Track 2")
	p.wait(cloudWait, "Track 2 on B", played("Track 2"))
	t.Logf("history-file append → phone on gateway B: %s", time.Since(appended).Round(time.Millisecond))
}

// cloudOutageCatchUp: the link is cut; the DJ plays 200 tracks and cloud
// dancers send 50 likes; once restored, every play reaches the cloud
// phones and PostgreSQL once, in order, with its origin time, and every
// like reaches the DJ's tally once.
func cloudOutageCatchUp(t *testing.T, r *cloudRig) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var phones []*cloudPhone
	for i := range 10 {
		base := r.baseA
		if i%2 == 1 {
			base = r.baseB
		}
		p := r.phone(t, base, fmt.Sprintf("c-outage-%02d", i), nil)
		p.wait(cloudWait, "the snapshot", isType("snapshot"))
		phones = append(phones, p)
	}
	// Five plays every cloud phone sees live, to like during the outage.
	r.play(t, "Band - Track 3", "Band - Track 4", "Band - Track 5", "Band - Track 6", "Band - Track 7")
	for _, p := range phones {
		p.wait(cloudWait, "Track 7 on every cloud phone", played("Track 7"))
	}
	visible := plays(phones[0].dancer)
	if len(visible) != 5 {
		t.Fatalf("%d plays before the cut, want 5", len(visible))
	}
	lanPhone := dial(t, r.lan.base)
	lanPhone.subscribe(r.sid, nil)
	lanPhone.wait(e2eWait, "the DJ side's snapshot", isType("snapshot"))

	outage := cloudOutage(t)
	seen := len(r.lan.out.String())
	r.proxy.Cut()
	cut := time.Now()
	testenv.Eventually(t, cloudWait, "the DJ told the link is down", func() bool {
		return strings.Contains(r.lan.out.String()[seen:], "cloud link: down")
	})
	var titles []string
	for i := range 200 {
		titles = append(titles, fmt.Sprintf("Outage %03d", i+1))
	}
	for i := 0; i < len(titles); i += 20 {
		var chunk []string
		for _, title := range titles[i : i+20] {
			chunk = append(chunk, "Outage Band - "+title)
		}
		r.play(t, chunk...)
	}
	// 50 likes: each of 10 cloud phones likes the 5 plays it can see.
	var refs []string
	for _, p := range phones {
		for _, v := range visible {
			refs = append(refs, p.like(v["id"].(string)))
		}
	}
	sent := time.Now()
	testenv.Eventually(t, cloudWait, "the 50 likes acknowledged by the cloud gateways", func() bool {
		for i, ref := range refs {
			done, ok := phones[i/5].answered(ref)
			if !done {
				return false
			}
			if !ok {
				t.Fatalf("like %s refused or answered duplicate", ref)
			}
		}
		return true
	})
	t.Logf("outage: 50 cloud likes acknowledged in %s", time.Since(sent).Round(time.Millisecond))
	// The DJ side has every play meanwhile.
	liveSession(t, r.lan.base, "Outage 200")
	t.Logf("outage: the 200 plays stored on the DJ side %s after the cut", time.Since(cut).Round(time.Millisecond))
	if rest := outage - time.Since(cut); rest > 0 {
		time.Sleep(rest)
	}
	r.proxy.Restore()
	restored := time.Now()
	t.Logf("link cut for %s", restored.Sub(cut).Round(time.Millisecond))

	want := append([]string{"Track 3", "Track 4", "Track 5", "Track 6", "Track 7"}, titles...) // what the phones saw live
	testenv.Eventually(t, 2*cloudWait, "both gateways serving the last outage play", func() bool {
		return r.currentTitle(r.baseA) == "Outage 200" && r.currentTitle(r.baseB) == "Outage 200"
	})
	t.Logf("catch-up: link restored → both gateways serve the 200th outage play: %s", time.Since(restored).Round(time.Millisecond))
	// Not fatal: PostgreSQL is checked below either way.
	tallied := func() bool {
		for _, f := range lanPhone.Frames() {
			if f["type"] != bus.TallyType {
				continue
			}
			likes, _ := f["likes"].(map[string]any)
			all := true
			for _, v := range visible {
				if likes[v["id"].(string)] != float64(10) {
					all = false
				}
			}
			if all {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(cloudWait); !tallied() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if tallied() {
		t.Logf("catch-up: link restored → the DJ's tally with all 50 likes: %s", time.Since(restored).Round(time.Millisecond))
	} else {
		t.Errorf("after %s: the DJ's tally does not count the 50 cloud likes (10 on each of 5 plays)", cloudWait)
	}
	// Each phone has every play once, in order: live, or, if its socket
	// was closed during the burst, from resuming with its lastSeq on the
	// same gateway as a phone does.
	resumedPhones := 0
	for i, p := range phones {
		base := r.baseA
		if i%2 == 1 {
			base = r.baseB
		}
		for deadline := time.Now().Add(10 * time.Second); len(plays(p.dancer)) < len(want) && !p.Closed() && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		got := playedTitles(p.dancer)
		if len(got) < len(want) {
			resumedPhones++
			last := maxSeq(p.dancer)
			q := r.phone(t, base, p.client, &last)
			snap := q.wait(cloudWait, "the resumed snapshot", isType("snapshot"))
			if snap["recovered"] != true {
				t.Fatalf("phone %s resuming after seq %d: recovered = %v", p.client, last, snap["recovered"])
			}
			time.Sleep(200 * time.Millisecond) // anything live after the snapshot
			got = append(append(got, missedTitles(snap)...), playedTitles(q.dancer)...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("phone %s: %d plays, want %d once each in order; first difference at %d\n%s", p.client, len(got), len(want), firstDiff(got, want), r.gatewayViews())
		}
	}
	t.Logf("catch-up: every cloud phone has all %d plays once, in order (%d of %d had their socket closed in the burst and resumed)", len(want), resumedPhones, len(phones))
	time.Sleep(time.Second) // a doubled like would arrive by now
	stored := r.crowdActionIDs(t)
	for _, p := range phones {
		for ref, id := range p.ids {
			if stored[id] != 1 {
				t.Errorf("like %s of %s stored %d times in %s, want once", ref, p.client, stored[id], cloud.CrowdStreamName(r.dj))
			}
		}
	}
	for _, f := range lanPhone.Frames() {
		if f["type"] != bus.TallyType {
			continue
		}
		likes, _ := f["likes"].(map[string]any)
		for _, v := range visible {
			if n, _ := likes[v["id"].(string)].(float64); n > 10 {
				t.Fatalf("play %s counted %v likes, want 10", v["id"], n)
			}
		}
	}

	// PostgreSQL: every play once, in order, played_at the origin time.
	want = append([]string{"Track 1", "Track 2"}, want...)
	// The events' own times, read from the cloud's copy of the session.
	js := r.gatewayJS(t)
	byID := map[string]time.Time{}
	for _, e := range readEvents(t, ctx, js, cloud.StreamName(r.dj), 10000) {
		if e.Type == bus.TypeTrackPlayed {
			byID[e.ID] = e.At
		}
	}
	testenv.Eventually(t, cloudWait, "every play and like in PostgreSQL", func() bool {
		var n, l int
		if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM plays WHERE session_id = $1`, r.sid).Scan(&n); err != nil {
			return false
		}
		if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM likes WHERE session_id = $1 AND liked`, r.sid).Scan(&l); err != nil {
			return false
		}
		return n >= len(want) && l >= 50
	})
	t.Logf("catch-up: link restored → every play and like in PostgreSQL: %s", time.Since(restored).Round(time.Millisecond))
	rows, err := r.pool.Query(ctx, `SELECT id, title, played_at FROM plays WHERE session_id = $1 ORDER BY seq`, r.sid)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, title string
		var at time.Time
		if err := rows.Scan(&id, &title, &at); err != nil {
			t.Fatal(err)
		}
		got = append(got, title)
		origin, ok := byID[id]
		if !ok {
			t.Fatalf("PostgreSQL has play %s (%s), %s does not", id, title, cloud.StreamName(r.dj))
		}
		if !at.Equal(origin.Truncate(time.Microsecond)) {
			t.Fatalf("play %s: played_at %s, event time %s", title, at, origin)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("PostgreSQL: %d plays, want %d once each in order; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	var likes int
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM likes WHERE session_id = $1 AND liked`, r.sid).Scan(&likes); err != nil || likes != 50 {
		t.Fatalf("PostgreSQL: %d likes (%v), want 50", likes, err)
	}
}

func lastOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// missedTitles are the titles of the plays in a resumed snapshot's
// resume.missed.
func missedTitles(snap map[string]any) []string {
	var out []string
	res, _ := snap["resume"].(map[string]any)
	missed, _ := res["missed"].([]any)
	for _, m := range missed {
		if f, ok := m.(map[string]any); ok && f["type"] == string(bus.TypeTrackPlayed) {
			out = append(out, track(f)["title"].(string))
		}
	}
	return out
}

// cloudGatewayKill: gateway A is killed with SIGKILL; its dancers reconnect
// to B with their lastSeq and resume with recovered: true.
func cloudGatewayKill(t *testing.T, r *cloudRig) {
	var onA []*cloudPhone
	for i := range 3 {
		p := r.phone(t, r.baseA, fmt.Sprintf("c-gwkill-%d", i), nil)
		p.wait(cloudWait, "the snapshot on A", isType("snapshot"))
		onA = append(onA, p)
	}
	r.play(t, "Before Kill - Track K1")
	for _, p := range onA {
		p.wait(cloudWait, "K1 on A", played("Track K1"))
	}
	killed := time.Now()
	_ = r.gwA.cmd.Process.Kill()
	<-r.gwA.done
	r.play(t, "While Down - Track K2")
	for _, p := range onA {
		last := maxSeq(p.dancer)
		q := r.phone(t, r.baseB, p.client, &last)
		snap := q.wait(cloudWait, "the resumed snapshot on B", isType("snapshot"))
		if snap["recovered"] != true {
			t.Fatalf("resume on B after lastSeq %d: recovered = %v", last, snap["recovered"])
		}
		// What it missed comes in the snapshot's resume.missed, or live
		// after it if B had not stored it yet: K2 only, once.
		resumed := func() []string { return append(missedTitles(snap), playedTitles(q.dancer)...) }
		for deadline := time.Now().Add(cloudWait); len(resumed()) == 0 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // a doubled K2 would come now
		if got := resumed(); !slices.Equal(got, []string{"Track K2"}) {
			t.Fatalf("%s resumed on B with plays %q, want only K2 (it had the rest)\n%s", p.client, got, r.gatewayViews())
		}
	}
	t.Logf("gateway A killed → its 3 dancers resumed on B with the missed play: %s", time.Since(killed).Round(time.Millisecond))
	// A comes back, as a supervisor would restart it.
	r.gwA.start(r.t, r.bin)
	testenv.Eventually(t, cloudWait, "gateway A ready again", func() bool { return healthz(r.baseA) })
}

// cloudNATSKill: a node is killed with SIGKILL during a burst of plays and
// cloud likes; nothing acknowledged is lost or doubled, and the session
// goes on.
func cloudNATSKill(t *testing.T, r *cloudRig) {
	pa := r.phone(t, r.baseA, "c-natskill-a", nil)
	pb := r.phone(t, r.baseB, "c-natskill-b", nil)
	pa.wait(cloudWait, "snapshot on A", isType("snapshot"))
	pb.wait(cloudWait, "snapshot on B", isType("snapshot"))
	before := len(plays(pb.dancer))
	victim := r.nodes[2] // not the DJ's link target
	var titles []string
	var refs []string
	for i := range 30 {
		title := fmt.Sprintf("Burst %02d", i+1)
		titles = append(titles, title)
		r.play(t, "Burst Band - "+title)
		if i == 10 {
			killed := time.Now()
			proc := victim.cmd.Process
			go func() { _ = proc.Kill() }()
			t.Logf("killing %s with SIGKILL after 10 burst plays (%s)", victim.name, killed.Format(time.TimeOnly))
		}
		// Each phone likes the latest play it has.
		for _, p := range []*cloudPhone{pa, pb} {
			if ps := plays(p.dancer); len(ps) > 0 {
				refs = append(refs, p.client+"|"+p.like(ps[len(ps)-1]["id"].(string)))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	<-victim.done
	r.play(t, "After - Track After Kill")
	afterKill := time.Now()
	for _, p := range []*cloudPhone{pb, pa} {
		for deadline := time.Now().Add(2 * cloudWait); !slices.Contains(playedTitles(p.dancer), "Track After Kill") && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		if !slices.Contains(playedTitles(p.dancer), "Track After Kill") {
			t.Fatalf("%s: no play after the kill within %s (last %q)\n%s%s", p.client, 2*cloudWait, lastOf(playedTitles(p.dancer)), r.gatewayViews(), r.cloudStreamState(t))
		}
	}
	t.Logf("a play after the kill reached the phones in %s", time.Since(afterKill).Round(time.Millisecond))
	want := append(titles, "Track After Kill")
	for _, p := range []*cloudPhone{pa, pb} {
		got := playedTitles(p.dancer)
		if p == pb {
			got = got[before:]
		} else {
			got = got[len(got)-min(len(got), len(want)):]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: plays %v, want %v", p.client, got, want)
		}
	}
	// Every acknowledged like is in the cloud's crowd stream exactly once.
	acked := map[string]bool{}
	for _, pr := range refs {
		client, ref, _ := strings.Cut(pr, "|")
		p := pa
		if client == pb.client {
			p = pb
		}
		var done, ok bool
		testenv.Eventually(t, cloudWait, "like "+ref+" answered", func() bool { done, ok = p.answered(ref); return done })
		if ok {
			acked[pr] = true
		}
	}
	t.Logf("%d of %d burst likes acknowledged as new (the rest: the phone's latest play was liked already, or refused with a retry)", len(acked), len(refs))
	stored := r.crowdActionIDs(t)
	for pr := range acked {
		client, ref, _ := strings.Cut(pr, "|")
		p := pa
		if client == pb.client {
			p = pb
		}
		if n := stored[p.ids[ref]]; n != 1 {
			t.Errorf("acknowledged like %s of %s stored %d times in %s, want once", ref, client, n, cloud.CrowdStreamName(r.dj))
		}
	}

	victim.start(r.t, r.bin)
	restarted := time.Now()
	testenv.Eventually(t, 2*cloudWait, victim.name+" healthy again", victim.healthy)
	t.Logf("%s healthy %s after its restart", victim.name, time.Since(restarted).Round(time.Millisecond))
	r.play(t, "After - Track After Restart")
	pb.wait(cloudWait, "a play after the restart on B", played("Track After Restart"))
}

// cloudAuth: a DJ's token cannot reach another DJ's subjects or the
// JetStream API beyond its own; a revoked token is refused on its next
// connect; /api/login slows down password guessing.
func cloudAuth(t *testing.T, r *cloudRig) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	violations := make(chan error, 16)
	nc, err := nats.Connect(r.clientURLs[0], nats.UserInfo(cloudUser, r.token), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case violations <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("the DJ's token refused: %v", err)
	}
	defer nc.Close()
	other := bus.NewDJID()
	if err := nc.Publish(cloud.SessionSubject(other, bus.NewID(time.Now()), bus.TypeTrackPlayed), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		if !strings.Contains(strings.ToLower(err.Error()), "permission") {
			t.Fatalf("publishing into another DJ's session: %v, want a permission violation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("publishing into another DJ's session: no permission violation")
	}
	for _, subj := range []string{"$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO." + cloud.StreamName(other), "$JS.API.STREAM.DELETE." + cloud.StreamName(r.dj)} {
		if m, err := nc.Request(subj, nil, 2*time.Second); err == nil {
			t.Fatalf("%s answered the DJ's credentials: %s", subj, m.Data)
		}
	}

	if _, err := r.accts.Revoke(ctx, r.dj, r.tokenID); err != nil {
		t.Fatal(err)
	}
	if nc2, err := nats.Connect(r.clientURLs[1], nats.UserInfo(cloudUser, r.token)); err == nil {
		nc2.Close()
		t.Fatal("a revoked token connected")
	}

	var throttled bool
	var status int
	for i := range 30 {
		body := strings.NewReader(`{"login":"e2e-dj","password":"wrong guess ` + fmt.Sprint(i) + `"}`)
		resp, err := http.Post(r.baseB+"/api/login", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		if status == http.StatusTooManyRequests {
			throttled = true
			t.Logf("password guessing: 429 after %d failed logins (Retry-After %s)", i, resp.Header.Get("Retry-After"))
			break
		}
	}
	if !throttled {
		t.Fatalf("30 wrong passwords and no 429 (last status %d)", status)
	}
}

// cloudConfigErrors: configuration mistakes stop each cloud command with
// status 2 and one line per problem, no stack trace; an unreachable
// cluster keeps a gateway running, saying so, and not ready.
func cloudConfigErrors(t *testing.T, bin string) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"gateway bad URL", []string{"gateway", "--nats-url", "http://nats:4222", "--nats-password", e2eGatewayPassword}, "--nats-url/PIKA_NATS_URL"},
		{"gateway missing password", []string{"gateway", "--nats-url", "nats://127.0.0.1:4222"}, "--nats-password/PIKA_NATS_PASSWORD: required"},
		{"gateway bad Sentry DSN", []string{"gateway", "--nats-url", "nats://127.0.0.1:4222", "--nats-password", e2eGatewayPassword, "--sentry-dsn", "sentry"}, "--sentry-dsn/SENTRY_DSN"},
		{"persister missing credentials", []string{"persister", "--nats-url", "nats://127.0.0.1:4222", "--database-url", "postgres://pika@127.0.0.1/pika"}, "--nats-password/PIKA_NATS_PASSWORD: required"},
		{"lan bad cloud URL", []string{"lan", "--data", t.TempDir(), "--cloud", "https://cloud.example.com", "--cloud-token", "pika_x"}, "--cloud/PIKA_CLOUD_URL"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = []string{"HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s: exit %v, want status 2\n%s", c.name, err, out)
			continue
		}
		s := string(out)
		if n := strings.Count(s, "\n  "); n != 1 || !strings.Contains(s, c.want) || strings.Contains(s, "goroutine") || strings.Contains(s, "panic") {
			t.Errorf("%s: want one problem line naming %q and no stack trace:\n%s", c.name, c.want, s)
		}
		if strings.Contains(s, e2eGatewayPassword) {
			t.Errorf("%s: the password was printed:\n%s", c.name, s)
		}
	}

	// An unreachable cluster: running, saying so, not ready.
	base := "http://" + freeAddr(t)
	g := startService(t, bin, "gateway-unreachable", "gateway", "--listen", strings.TrimPrefix(base, "http://"),
		"--nats-url", "nats://127.0.0.1:1", "--nats-password", e2eGatewayPassword)
	testenv.Eventually(t, cloudWait, "the gateway saying the cluster is unreachable", func() bool {
		return strings.Contains(g.out.String(), "NATS cluster unreachable; retrying")
	})
	testenv.Eventually(t, cloudWait, "the gateway serving /healthz", func() bool {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("/healthz says ready while no NATS node answers")
		}
		return true
	})
	if g.exited() {
		t.Fatalf("the gateway exited over an unreachable cluster:\n%s", g.out)
	}
	if s := g.out.String(); strings.Contains(s, "goroutine") || strings.Contains(s, "panic") {
		t.Fatalf("a stack trace in the gateway's log:\n%s", s)
	}
	_ = g.cmd.Process.Signal(os.Interrupt)
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway did not stop on Ctrl-C while the cluster was unreachable")
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
