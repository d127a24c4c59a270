package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/deploy"
	"github.com/pika-dj/pika/internal/testenv"
)

// TestRollingDeploy is issue 8's must-show 3: the cloud as processes (the
// rig TestCloudEndToEnd uses), a DJ playing a track every second and a few
// hundred dancers liking them, while deploy.Plan and deploy.Run (the code
// `go tool task deploy` runs on the VPS) restart every process in the
// deploy order through processTarget. The "new version" is the same
// binary: what is tested is the order, the drains and the resumes, not a
// change of code. Afterwards: no play or like lost or doubled, every
// dancer that lost its socket resumed with recovered: true, the session
// never ended. Durations are logged, never asserted.
func TestRollingDeploy(t *testing.T) {
	bin := pikaBinary(t)
	start := time.Now()
	r := startCloudRig(t, bin)
	t.Logf("cloud and DJ up in %s", time.Since(start).Round(time.Millisecond))

	var titles []string // every play, in order
	playNext := func() {
		title := fmt.Sprintf("Deploy %03d", len(titles))
		titles = append(titles, title)
		r.play(t, "Deploy Band - "+title)
	}
	playNext()
	r.sid = liveSession(t, r.lan.base, titles[0]).ID
	testenv.Eventually(t, cloudWait, "both gateways serving the session", func() bool {
		return r.currentTitle(r.baseA) == titles[0] && r.currentTitle(r.baseB) == titles[0]
	})
	// The DJ's console view: its tallies count the crowd's likes.
	djPhone := dial(t, r.lan.base)
	djPhone.subscribe(r.sid, nil)
	djPhone.wait(e2eWait, "the DJ side's snapshot", isType("snapshot"))

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	const dancers = 300
	crowd := make([]*deployDancer, dancers)
	for i := range crowd {
		d := &deployDancer{client: fmt.Sprintf("c-deploy-%03d", i), sid: r.sid, bases: [2]string{r.baseA, r.baseB}, cur: i % 2,
			kick: make(chan struct{}, 1), bySeq: map[uint64]string{}, closeCodes: map[int]int{}, liked: map[string]bool{}}
		crowd[i] = d
		wg.Add(1)
		go func() { defer wg.Done(); d.run(ctx) }()
	}
	joined := time.Now()
	testenv.Eventually(t, cloudWait, fmt.Sprintf("%d dancers subscribed", dancers), func() bool {
		for _, d := range crowd {
			if !d.subscribed() {
				return false
			}
		}
		return true
	})
	t.Logf("%d dancers subscribed (half on A, half on B) in %s", dancers, time.Since(joined).Round(time.Millisecond))

	// The deploy runs beside the load; the load is driven from the test's
	// goroutine so that a failure there stops the test properly.
	target := newProcessTarget(r)
	steps, err := deploy.Plan(target.services())
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		results []deploy.StepResult
		err     error
		took    time.Duration
	}
	deployed := make(chan outcome, 1)
	deployStart := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
		res, err := deploy.Run(ctx, steps, target, deploy.Options{Poll: 250 * time.Millisecond, HealthTimeout: 90 * time.Second, Logger: log})
		deployed <- outcome{res, err, time.Since(deployStart)}
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var done outcome
	// A bound on the loop, not an assertion on time: Run's own health
	// timeouts end it well before.
	limit := time.After(4 * time.Minute)
load:
	for k := 1; ; k++ {
		select {
		case done = <-deployed:
			break load
		case <-limit:
			t.Fatal("the deploy did not end within 4 minutes")
		case <-tick.C:
		}
		playNext()
		// Every fourth dancer likes the newest play it has, each tick a
		// different quarter: ~75 likes a second, 15 a minute per dancer
		// (the limit is 30).
		for i, d := range crowd {
			if (i+k)%4 == 0 {
				d.likeLatest()
			}
		}
	}
	if done.err != nil {
		t.Fatalf("deploy: %v\n%s", done.err, r.gatewayViews())
	}
	t.Logf("rolling deploy: %d steps in %s, %d plays and dancers' likes flowing meanwhile", len(done.results), done.took.Round(time.Millisecond), len(titles))
	for _, s := range done.results {
		t.Logf("  step %-10s (%s) took %s", s.Service.Name, s.Service.Role, s.Took.Round(time.Millisecond))
	}
	t.Logf("persister health: %s", target.persisterHealthHow())
	// The DJ's leaf link goes to n1 (through the proxy), so n1's restart
	// cuts it; plays meanwhile reach the cloud when it is back.
	t.Logf("the DJ's cloud link went down %d time(s) during the deploy", strings.Count(r.lan.out.String(), "cloud link: down"))

	// A final play after the deploy, then every dancer must have them all.
	playNext()
	final := time.Now()
	last := titles[len(titles)-1]
	testenv.Eventually(t, 2*cloudWait, "every dancer has the final play", func() bool {
		for _, d := range crowd {
			if lastOf(d.titles()) != last {
				return false
			}
		}
		return true
	})
	t.Logf("final play reached all %d dancers in %s", dancers, time.Since(final).Round(time.Millisecond))

	// Plays: each dancer has every play once, in order.
	for _, d := range crowd {
		if got := d.titles(); !slices.Equal(got, titles) {
			t.Errorf("dancer %s: %d plays, want %d once each in order; first difference at %d (%q)", d.client, len(got), len(titles),
				firstDiff(got, titles), got[min(firstDiff(got, titles), len(got)-1)])
		}
	}

	// Resumes: every dancer that lost its socket got recovered: true with a
	// complete resume; nobody saw the session end.
	var gaps []time.Duration
	var disconnected, closes1001, otherCloses, dupDelivered, seqGaps int
	for _, d := range crowd {
		d.mu.Lock()
		if d.closes > 0 {
			disconnected++
			gaps = append(gaps, d.longestGap)
		}
		closes1001 += d.closeCodes[websocket.CloseGoingAway]
		otherCloses += d.closes - d.closeCodes[websocket.CloseGoingAway]
		dupDelivered += d.dupDelivered
		seqGaps += d.seqGaps
		problems := slices.Clone(d.problems)
		d.mu.Unlock()
		for _, p := range problems {
			t.Errorf("dancer %s: %s", d.client, p)
		}
	}
	slices.Sort(gaps)
	if len(gaps) > 0 {
		t.Logf("dancers without a connection (socket closed → resumed snapshot): %d dancers, longest %s, p50 %s, p90 %s",
			len(gaps), gaps[len(gaps)-1].Round(time.Millisecond), gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)*9/10].Round(time.Millisecond))
	}
	t.Logf("sockets closed: %d with 1001, %d otherwise; %d dancers disconnected at least once; %d events delivered again after a resume (ignored by seq); %d seq gaps (resubscribed)",
		closes1001, otherCloses, disconnected, dupDelivered, seqGaps)
	if disconnected < dancers {
		t.Errorf("%d of %d dancers never lost their socket: both gateways were restarted, so each should have", dancers-disconnected, dancers)
	}

	// Likes: every like answered; every acknowledged one stored once.
	type likeKey struct{ play, client string }
	acked := map[likeKey]string{} // → action id
	perPlay := map[string]int{}
	var sent, refused, retried int
	testenv.Eventually(t, cloudWait, "every like answered", func() bool {
		for _, d := range crowd {
			if d.unanswered() > 0 {
				return false
			}
		}
		return true
	})
	for _, d := range crowd {
		d.mu.Lock()
		for _, l := range d.likes {
			sent++
			retried += l.sends - 1
			switch {
			case l.ok:
				acked[likeKey{l.playID, d.client}] = l.id
				perPlay[l.playID]++
			default:
				refused++
				t.Errorf("dancer %s: like of %s refused: %s", d.client, l.playID, l.code)
			}
		}
		d.mu.Unlock()
	}
	t.Logf("likes: %d sent, %d acknowledged, %d refused, %d resends (after a closed socket or unavailable)", sent, len(acked), refused, retried)

	pctx, pcancel := context.WithTimeout(context.Background(), time.Minute)
	defer pcancel()
	testenv.Eventually(t, cloudWait, "every acknowledged like in PostgreSQL", func() bool {
		var n int
		return r.pool.QueryRow(pctx, `SELECT count(*) FROM likes WHERE session_id = $1 AND liked`, r.sid).Scan(&n) == nil && n >= len(acked)
	})
	rows, err := r.pool.Query(pctx, `SELECT play_id, client_id, action_id FROM likes WHERE session_id = $1 AND liked`, r.sid)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for rows.Next() {
		var k likeKey
		var id string
		if err := rows.Scan(&k.play, &k.client, &id); err != nil {
			t.Fatal(err)
		}
		stored++
		if want, ok := acked[k]; !ok {
			t.Errorf("PostgreSQL has a like of %s by %s that no dancer had acknowledged", k.play, k.client)
		} else if id != want {
			t.Errorf("PostgreSQL: like of %s by %s is action %s, the dancer's was %s", k.play, k.client, id, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if stored != len(acked) {
		t.Errorf("PostgreSQL: %d likes, %d acknowledged", stored, len(acked))
	}
	// Stored at least once. A like resent with its id after an answer was
	// lost (a node restarting) can land in another group-commit message and
	// be stored twice (bus.PublishActions): every reader folds it once by
	// its id, which PostgreSQL above and the tallies below show.
	inStream := r.crowdActionIDs(t)
	twice := 0
	for k, id := range acked {
		switch n := inStream[id]; {
		case n == 0:
			t.Errorf("acknowledged like %s (%s by %s) is not in the crowd stream", id, k.play, k.client)
		case n > 1:
			twice++
		}
	}
	t.Logf("likes: %d acknowledged, %d of them stored in two messages (folded once)", len(acked), twice)
	// The DJ's tally counts each like once: its latest tally matches, and
	// no tally ever counted more than were acknowledged.
	tallyMatches := func() bool {
		var latest map[string]any
		for _, f := range djPhone.Frames() {
			if f["type"] == bus.TallyType {
				latest, _ = f["likes"].(map[string]any)
			}
		}
		for play, n := range perPlay {
			if latest[play] != float64(n) {
				return false
			}
		}
		return len(latest) == len(perPlay)
	}
	for deadline := time.Now().Add(cloudWait); !tallyMatches() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if !tallyMatches() {
		t.Errorf("the DJ's latest tally does not count the %d acknowledged likes on %d plays once each", len(acked), len(perPlay))
	}
	for _, f := range djPhone.Frames() {
		if f["type"] != bus.TallyType {
			continue
		}
		likes, _ := f["likes"].(map[string]any)
		for play, v := range likes {
			if n, _ := v.(float64); int(n) > perPlay[play] {
				t.Errorf("a DJ tally counted %v likes on %s, %d were acknowledged", v, play, perPlay[play])
			}
		}
	}

	// PostgreSQL: every play once, in order.
	testenv.Eventually(t, cloudWait, "every play in PostgreSQL", func() bool {
		var n int
		return r.pool.QueryRow(pctx, `SELECT count(*) FROM plays WHERE session_id = $1`, r.sid).Scan(&n) == nil && n >= len(titles)
	})
	prow, err := r.pool.Query(pctx, `SELECT title FROM plays WHERE session_id = $1 ORDER BY seq`, r.sid)
	if err != nil {
		t.Fatal(err)
	}
	var inDB []string
	for prow.Next() {
		var title string
		if err := prow.Scan(&title); err != nil {
			t.Fatal(err)
		}
		inDB = append(inDB, title)
	}
	if err := prow.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inDB, titles) {
		t.Errorf("PostgreSQL: %d plays, want %d once each in order; first difference at %d", len(inDB), len(titles), firstDiff(inDB, titles))
	}

	// The session: still live, same id, on the DJ's side and both gateways.
	if s := liveSession(t, r.lan.base, last); s.ID != r.sid {
		t.Errorf("the DJ side's live session is %s, was %s", s.ID, r.sid)
	}
	for _, base := range []string{r.baseA, r.baseB} {
		if got := r.currentTitle(base); got != last {
			t.Errorf("%s serves session %s playing %q, want %q", base, r.sid, got, last)
		}
	}
	cancel()
	wg.Wait()
	t.Logf("whole test %s", time.Since(start).Round(time.Millisecond))
}

// testWriter sends deploy.Run's progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// processTarget is deploy.Target on the rig's OS processes: what docker
// compose does on the VPS, done with signals. Replace stops a process with
// SIGTERM (a gateway drains, a node leaves cleanly, the persister finishes
// its batch) and starts the same binary again with the same flags,
// addresses and data folder.
type processTarget struct {
	r     *cloudRig
	procs map[string]*natsNode // by service name

	mu sync.Mutex
	// persisterVia says how the persister's health was judged (its
	// metrics port's /healthz, or, while it has none, its metrics
	// answering and its log saying it persists the streams).
	persisterVia string
}

func newProcessTarget(r *cloudRig) *processTarget {
	pt := &processTarget{r: r, procs: map[string]*natsNode{"persister": r.persister, "gateway-a": r.gwA, "gateway-b": r.gwB}}
	for _, n := range r.nodes {
		pt.procs[n.name] = n
	}
	return pt
}

// services is the inventory for deploy.Plan, as Compose.Services reads it
// from compose/prod.yml.
func (pt *processTarget) services() []deploy.Service {
	out := []deploy.Service{{Name: "migrate", Role: deploy.RoleMigrate}}
	for name, n := range pt.procs {
		role := map[string]deploy.Role{"persister": deploy.RolePersister, "gateway": deploy.RoleGateway, "nats": deploy.RoleNATS}[n.args[0]]
		out = append(out, deploy.Service{Name: name, Role: role})
	}
	return out
}

func (pt *processTarget) RunOnce(ctx context.Context, s deploy.Service) error {
	if s.Role != deploy.RoleMigrate {
		return fmt.Errorf("run %s once: only migrations run once", s.Name)
	}
	cmd := exec.CommandContext(ctx, pt.r.bin, "migrate", "up")
	cmd.Env = []string{"DATABASE_URL=" + pt.r.dsn}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pika migrate up: %w\n%s", err, out)
	}
	return nil
}

// stopWait bounds how long a process may take to exit after SIGTERM: a
// gateway's drain notice (3 s) plus its 8 s to close the sockets, with room.
const stopWait = 30 * time.Second

func (pt *processTarget) Replace(ctx context.Context, s deploy.Service) error {
	n := pt.procs[s.Name]
	if n == nil {
		return fmt.Errorf("replace %s: no such process", s.Name)
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("replace %s: SIGTERM: %w", s.Name, err)
	}
	select {
	case <-n.done:
	case <-time.After(stopWait):
		_ = n.cmd.Process.Kill()
		<-n.done
		return fmt.Errorf("replace %s: still running %s after SIGTERM (killed)\n%s", s.Name, stopWait, n.out)
	case <-ctx.Done():
		return ctx.Err()
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("replace %s: exited with status %d on SIGTERM\n%s", s.Name, code, n.out)
	}
	return n.launch(pt.r.t, pt.r.bin)
}

func (pt *processTarget) Healthy(ctx context.Context, s deploy.Service) (bool, error) {
	n := pt.procs[s.Name]
	if n == nil {
		return false, fmt.Errorf("health of %s: no such process", s.Name)
	}
	if n.exited() {
		return false, fmt.Errorf("%s exited:\n%s", s.Name, n.out)
	}
	switch s.Role {
	case deploy.RoleNATS:
		return n.healthy(), nil
	case deploy.RoleGateway:
		base := pt.r.baseA
		if n == pt.r.gwB {
			base = pt.r.baseB
		}
		return healthz(base), nil
	case deploy.RolePersister:
		return pt.persisterHealthy(ctx, n)
	}
	return false, fmt.Errorf("health of %s: role %s has none", s.Name, s.Role)
}

// persisterHealthy asks the persister's metrics port for /healthz. If it
// has none (404), the persister is healthy once its metrics answer and its
// log says it persists the streams again: it is running and connected.
func (pt *processTarget) persisterHealthy(ctx context.Context, n *natsNode) (bool, error) {
	get := func(path string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pt.r.persisterMetrics+path, nil)
		if err != nil {
			return 0, err
		}
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil // not listening yet
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	code, err := get("/healthz")
	if err != nil || code == 0 {
		return false, err
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if code != http.StatusNotFound {
		pt.persisterVia = "GET /healthz on its metrics port"
		return code == http.StatusOK, nil
	}
	pt.persisterVia = "no /healthz on its metrics port: /metrics answering and its log saying \"persisting stream\""
	code, err = get("/metrics")
	return err == nil && code == http.StatusOK && strings.Contains(n.out.String(), "persisting stream"), err
}

func (pt *processTarget) persisterHealthHow() string {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.persisterVia
}

// deployDancer is a dancer's phone as the page behaves: on a socket closed
// with 1001 (or lost) it reconnects at once to the other gateway (as the
// proxy in front would send it), resubscribes with its lastSeq, applies
// the resume's missed events, and sends again the likes not yet answered,
// with their ids. Events are applied by seq: one already applied is
// ignored (counted), a gap makes it resubscribe.
type deployDancer struct {
	client string
	sid    string
	bases  [2]string
	kick   chan struct{} // a like is waiting to be sent

	mu           sync.Mutex
	cur          int // index of the gateway in bases
	lastSeq      uint64
	playIDs      []string
	playTitles   []string
	bySeq        map[uint64]string // event id by seq, to tell a redelivery from a conflict
	snapshot     bool              // subscribed: the snapshot came
	resuming     bool              // the subscribe in flight carried lastSeq
	closedAt     time.Time         // when the socket went; zero while connected
	closes       int
	closeCodes   map[int]int
	longestGap   time.Duration
	dupDelivered int
	seqGaps      int
	likes        []*deployLike
	liked        map[string]bool // play ids
	refs         int
	problems     []string
}

type deployLike struct {
	id, playID string
	ref        string // of the latest send; "" while waiting to be sent
	sends      int
	answered   bool
	ok         bool
	code       string
}

func (d *deployDancer) subscribed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.snapshot
}

func (d *deployDancer) titles() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.playTitles)
}

func (d *deployDancer) unanswered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, l := range d.likes {
		if !l.answered {
			n++
		}
	}
	return n
}

// likeLatest likes the newest play the dancer has, once.
func (d *deployDancer) likeLatest() {
	d.mu.Lock()
	if len(d.playIDs) == 0 || d.liked[d.playIDs[len(d.playIDs)-1]] {
		d.mu.Unlock()
		return
	}
	play := d.playIDs[len(d.playIDs)-1]
	d.liked[play] = true
	d.likes = append(d.likes, &deployLike{id: bus.NewID(time.Now()), playID: play})
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *deployDancer) problem(format string, a ...any) {
	d.problems = append(d.problems, fmt.Sprintf(format, a...))
}

// run connects and reconnects until ctx ends.
func (d *deployDancer) run(ctx context.Context) {
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	for ctx.Err() == nil {
		d.mu.Lock()
		url := "ws" + strings.TrimPrefix(d.bases[d.cur], "http") + "/ws"
		d.mu.Unlock()
		ws, _, err := dialer.DialContext(ctx, url, nil)
		if err != nil {
			// The other gateway may be the one restarting: try the other
			// one after a short pause, as the proxy would.
			d.mu.Lock()
			d.cur = 1 - d.cur
			d.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		code := d.serve(ctx, ws)
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		d.closes++
		d.closeCodes[code]++
		d.closedAt = time.Now()
		d.snapshot = false
		d.cur = 1 - d.cur // at once, to the other gateway
		d.mu.Unlock()
	}
}

// serve runs one socket until it closes, and returns its close code (-1
// when it went without a close frame).
func (d *deployDancer) serve(ctx context.Context, ws *websocket.Conn) int {
	defer ws.Close()
	frames := make(chan []byte)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			select {
			case frames <- b:
			case <-stop:
				return
			}
		}
	}()
	d.mu.Lock()
	err := d.subscribe(ws)
	d.mu.Unlock()
	if err != nil {
		return -1
	}
	for {
		select {
		case <-ctx.Done():
			ws.Close() // ends the reader
			return 0
		case err := <-readErr:
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			return -1
		case <-d.kick:
			d.mu.Lock()
			err = d.flushLikes(ws)
			d.mu.Unlock()
		case b := <-frames:
			d.mu.Lock()
			err = d.handle(ws, b)
			d.mu.Unlock()
		}
		if err != nil {
			ws.Close() // a write failed: the socket is gone; the reader says how
		}
	}
}

// subscribe sends the subscribe, with lastSeq once the dancer has events.
// d.mu is held.
func (d *deployDancer) subscribe(ws *websocket.Conn) error {
	f := map[string]any{"type": "subscribe", "ref": "sub", "sessionId": d.sid, "clientId": d.client}
	d.resuming = d.lastSeq > 0
	if d.resuming {
		f["lastSeq"] = d.lastSeq
	}
	return ws.WriteJSON(f)
}

// flushLikes sends every like not yet sent on this socket. d.mu is held.
func (d *deployDancer) flushLikes(ws *websocket.Conn) error {
	if !d.snapshot {
		return nil // sent after the snapshot
	}
	for _, l := range d.likes {
		if l.answered || l.ref != "" {
			continue
		}
		d.refs++
		l.ref = fmt.Sprintf("like-%d", d.refs)
		l.sends++
		if err := ws.WriteJSON(map[string]any{"type": "like", "ref": l.ref, "id": l.id, "playId": l.playID}); err != nil {
			return err
		}
	}
	return nil
}

// handle applies one frame. d.mu is held.
func (d *deployDancer) handle(ws *websocket.Conn, b []byte) error {
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		d.problem("frame %q: %v", b, err)
		return nil
	}
	typ, _ := f["type"].(string)
	switch typ {
	case "snapshot":
		return d.onSnapshot(ws, f)
	case "ok", "error":
		ref, _ := f["ref"].(string)
		if ref == "sub" {
			if typ == "error" {
				d.problem("subscribe refused: %v %v", f["code"], f["reason"])
			}
			return nil
		}
		for _, l := range d.likes {
			if l.ref != ref || l.answered {
				continue
			}
			if code, _ := f["code"].(string); typ == "error" && (code == "unavailable" || code == "rate_limited") {
				// Send it again, same id, a moment later, as the page does.
				l.ref = ""
				time.AfterFunc(500*time.Millisecond, func() {
					select {
					case d.kick <- struct{}{}:
					default:
					}
				})
				return nil
			}
			l.answered, l.ok = true, typ == "ok"
			l.code, _ = f["code"].(string)
		}
		return nil
	}
	if _, ok := f["seq"]; ok {
		return d.apply(ws, f)
	}
	return nil // tallies, pongs
}

func (d *deployDancer) onSnapshot(ws *websocket.Conn, f map[string]any) error {
	seq, _ := f["seq"].(float64)
	if s, _ := f["session"].(map[string]any); s["status"] != "live" || s["id"] != d.sid {
		d.problem("snapshot of session %v, status %v", s["id"], s["status"])
	}
	if !d.resuming {
		// The first snapshot: the history so far, oldest first.
		hist, _ := f["history"].([]any)
		for i := len(hist) - 1; i >= 0; i-- {
			p, _ := hist[i].(map[string]any)
			id, _ := p["playId"].(string)
			title, _ := p["title"].(string)
			d.playIDs, d.playTitles = append(d.playIDs, id), append(d.playTitles, title)
		}
		d.lastSeq = uint64(seq)
	} else {
		res, _ := f["resume"].(map[string]any)
		if f["recovered"] != true || res["complete"] != true {
			d.problem("resumed after seq %d on %s: recovered %v, resume.complete %v (snapshot seq %v)",
				d.lastSeq, d.bases[d.cur], f["recovered"], res["complete"], f["seq"])
		}
		missed, _ := res["missed"].([]any)
		next := d.lastSeq + 1
		for _, m := range missed {
			if e, ok := m.(map[string]any); ok {
				if s, _ := e["seq"].(float64); uint64(s) != next {
					d.problem("resume after seq %d: missed holds seq %v where %d was due", d.lastSeq, e["seq"], next)
				}
				next++
				if err := d.apply(ws, e); err != nil {
					return err
				}
			}
		}
	}
	if !d.closedAt.IsZero() {
		d.longestGap = max(d.longestGap, time.Since(d.closedAt))
		d.closedAt = time.Time{}
	}
	d.snapshot = true
	// Likes sent on the socket that went were maybe never answered: send
	// them again with the same id (the gateway answers duplicate if stored).
	for _, l := range d.likes {
		if !l.answered {
			l.ref = ""
		}
	}
	return d.flushLikes(ws)
}

// apply applies one event by its seq.
func (d *deployDancer) apply(ws *websocket.Conn, e map[string]any) error {
	s, _ := e["seq"].(float64)
	seq := uint64(s)
	id, _ := e["id"].(string)
	switch {
	case seq <= d.lastSeq:
		if prev, ok := d.bySeq[seq]; ok && prev != id {
			d.problem("seq %d is event %s, was %s", seq, id, prev)
		}
		d.dupDelivered++
		return nil
	case seq > d.lastSeq+1:
		if !d.snapshot {
			return nil // the resume in flight brings it
		}
		d.seqGaps++
		d.snapshot = false
		return d.subscribe(ws)
	}
	d.lastSeq = seq
	d.bySeq[seq] = id
	switch e["type"] {
	case string(bus.TypeTrackPlayed):
		d.playIDs = append(d.playIDs, id)
		d.playTitles = append(d.playTitles, track(e)["title"].(string))
	case string(bus.TypeSessionEnded):
		d.problem("session.ended at seq %d", seq)
	}
	return nil
}
