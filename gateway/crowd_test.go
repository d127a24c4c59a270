package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/web"
)

// pollStart publishes a poll as the session's owner would.
func (e *env) pollStart(sid string, options ...string) bus.Event {
	e.t.Helper()
	return e.publish(sid, bus.TypePollStarted, func(ev *bus.Event) {
		ev.Poll = &bus.Poll{ID: bus.NewID(time.Now()), Question: "Which one?", Options: options}
	})
}

// ask sends one frame with a fresh ref and returns the reply to it.
func (c *client) ask(f frame) frame {
	c.t.Helper()
	ref := bus.NewID(time.Now())
	f["ref"] = ref
	c.send(f)
	r, err := c.next(5 * time.Second)
	if err != nil {
		c.t.Fatalf("%v: no reply: %v", f, err)
	}
	if r.str("ref") != ref || (r.str("type") != frameOK && r.str("type") != frameError) {
		c.t.Fatalf("%v: reply %v", f, r)
	}
	return r
}

// wantOK asserts r is ok, with duplicate as given.
func wantOK(t *testing.T, what string, r frame, duplicate bool) {
	t.Helper()
	if r.str("type") != frameOK || (r["duplicate"] == true) != duplicate {
		t.Fatalf("%s: got %v, want ok with duplicate=%v", what, r, duplicate)
	}
}

// wantError asserts r is an error with code and a reason.
func wantError(t *testing.T, what string, r frame, code string) {
	t.Helper()
	if r.str("type") != frameError || r.str("code") != code || r.str("reason") == "" {
		t.Fatalf("%s: got %v, want error %s with a reason", what, r, code)
	}
}

// storedActions reads every action stored for sid.
func (e *env) storedActions(sid string) []bus.Action {
	e.t.Helper()
	var out []bus.Action
	for _, m := range e.actionMessages() {
		for _, a := range m.actions {
			if a.Session == sid {
				out = append(out, a)
			}
		}
	}
	return out
}

// TestActionsAnswered: every dancer action, accepted, duplicate and
// refused, each with its documented answer; only what changed something
// is stored.
func TestActionsAnswered(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ")
	p1 := e.play(sid, "A", "One")
	poll := e.pollStart(sid, "Slower", "Perfect", "Faster")
	c := e.dial()
	c.subscribeAs("c-dancer-one", sid, nil)
	likeID := bus.NewID(time.Now())
	unknown := bus.NewID(time.Now())
	pid := poll.Poll.ID
	cases := []struct {
		name string
		f    frame
		code string // "" for ok
		dup  bool
	}{
		{"like", frame{"type": "like", "id": likeID, "playId": p1.ID}, "", false},
		{"like, same id (an offline retry)", frame{"type": "like", "id": likeID, "playId": p1.ID}, "", true},
		{"like again", frame{"type": "like", "playId": p1.ID}, "", true},
		{"unlike", frame{"type": "unlike", "playId": p1.ID}, "", false},
		{"unlike again", frame{"type": "unlike", "playId": p1.ID}, "", true},
		{"like, not a ULID id (replaced)", frame{"type": "like", "id": "not-an-id", "playId": p1.ID}, "", false},
		{"like an unknown play", frame{"type": "like", "playId": unknown}, bus.CodeUnknownPlay, false},
		{"like a malformed play", frame{"type": "like", "playId": "pika.a.>"}, codeBadRequest, false},
		{"like without a play", frame{"type": "like"}, codeBadRequest, false},
		{"tempo", frame{"type": "tempo", "playId": p1.ID, "tempo": "faster"}, "", false},
		{"tempo, same", frame{"type": "tempo", "playId": p1.ID, "tempo": "faster"}, "", true},
		{"tempo, changed", frame{"type": "tempo", "playId": p1.ID, "tempo": "slower"}, "", false},
		{"tempo clear", frame{"type": "tempo", "playId": p1.ID, "tempo": "clear"}, "", false},
		{"tempo clear again", frame{"type": "tempo", "playId": p1.ID, "tempo": "clear"}, "", true},
		{"tempo, bad choice", frame{"type": "tempo", "playId": p1.ID, "tempo": "fast"}, codeBadRequest, false},
		{"tempo, unknown play", frame{"type": "tempo", "playId": unknown, "tempo": "perfect"}, bus.CodeUnknownPlay, false},
		{"vote", frame{"type": "vote", "pollId": pid, "option": 1}, "", false},
		{"vote, same", frame{"type": "vote", "pollId": pid, "option": 1}, "", true},
		{"vote, changed", frame{"type": "vote", "pollId": pid, "option": 2}, bus.CodeVoted, false},
		{"vote, no such option", frame{"type": "vote", "pollId": pid, "option": 5}, bus.CodeBadOption, false},
		{"vote, option out of range", frame{"type": "vote", "pollId": pid, "option": 12}, codeBadRequest, false},
		{"vote, no option", frame{"type": "vote", "pollId": pid}, codeBadRequest, false},
		{"vote, unknown poll", frame{"type": "vote", "pollId": unknown, "option": 0}, bus.CodeUnknownPoll, false},
		{"vote, option not a number", frame{"type": "vote", "pollId": pid, "option": "1"}, codeBadRequest, false},
		{"thanks", frame{"type": "thanks"}, "", false},
		{"thanks again", frame{"type": "thanks"}, "", false},
	}
	for _, tc := range cases {
		r := c.ask(tc.f)
		if tc.code == "" {
			wantOK(t, tc.name, r, tc.dup)
		} else {
			wantError(t, tc.name, r, tc.code)
		}
	}
	// A closed poll refuses votes.
	e.publish(sid, bus.TypePollClosed, func(ev *bus.Event) {
		ev.PollResult = &bus.PollResult{ID: pid, Reason: bus.PollEnded, Counts: []int{0, 1, 0}, Total: 1, Winner: 1}
	})
	c.expect(string(bus.TypePollClosed))
	other := e.dial()
	other.subscribeAs("c-dancer-two", sid, nil)
	wantError(t, "vote on a closed poll", other.ask(frame{"type": "vote", "pollId": pid, "option": 0}), bus.CodePollClosed)

	got := e.storedActions(sid)
	var kinds []string
	for _, a := range got {
		kinds = append(kinds, string(a.Kind))
		if a.Client != "c-dancer-one" || a.At.IsZero() || time.Since(a.At) > time.Minute {
			t.Errorf("stored action %+v: wrong client or time", a)
		}
	}
	want := []string{"like", "unlike", "like", "tempo", "tempo", "tempo", "vote", "thanks", "thanks"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("stored %v, want %v", kinds, want)
	}
	if got[0].ID != likeID {
		t.Fatalf("the page's action id was not kept: %s", got[0].ID)
	}
}

// TestActionRateLimits: limits are per dancer (client id), shared by that
// dancer's sockets, and every refused action is answered.
func TestActionRateLimits(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ")
	p1 := e.play(sid, "A", "One")
	a, b, other := e.dial(), e.dial(), e.dial()
	a.subscribeAs("c-same-phone", sid, nil)
	b.subscribeAs("c-same-phone", sid, nil)
	other.subscribeAs("c-other-phone", sid, nil)
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wantOK(t, "thanks", s.ask(frame{"type": "thanks"}), false)
	}
	r := b.ask(frame{"type": "thanks"})
	wantError(t, "7th thanks in a minute", r, codeRateLimited)
	if !strings.Contains(r.str("reason"), "6 a minute") {
		t.Fatalf("reason %q does not say the limit", r.str("reason"))
	}
	wantError(t, "7th thanks, other socket", a.ask(frame{"type": "thanks"}), codeRateLimited)
	wantOK(t, "another dancer's thanks", other.ask(frame{"type": "thanks"}), false)

	// Likes: 30 a minute, duplicates included (they are asked for).
	for i := range 30 {
		kind := "like"
		if i%2 == 1 {
			kind = "unlike"
		}
		wantOK(t, kind, a.ask(frame{"type": kind, "playId": p1.ID}), false)
	}
	wantError(t, "31st like", b.ask(frame{"type": "like", "playId": p1.ID}), codeRateLimited)
	// Tempo has its own budget.
	wantOK(t, "tempo", a.ask(frame{"type": "tempo", "playId": p1.ID, "tempo": "perfect"}), false)
}

// TestLikesBatch: the offline queue in one frame, each item answered.
func TestLikesBatch(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ")
	p1 := e.play(sid, "A", "One")
	p2 := e.play(sid, "A", "Two")
	c := e.dial()
	wantError(t, "batch before subscribe", c.ask(frame{"type": "likes",
		"items": []frame{{"id": bus.NewID(time.Now()), "playId": p1.ID, "kind": "like"}}}), codeNotSubscribed)
	c.subscribeAs("c-offline", sid, nil)
	id := func() string { return bus.NewID(time.Now()) }
	i1, i2, i3, i5 := id(), id(), id(), id()
	items := []frame{
		{"id": i1, "playId": p1.ID, "kind": "like"},
		{"id": i1, "playId": p1.ID, "kind": "like"}, // the same item twice
		{"id": i2, "playId": p2.ID, "kind": "like"},
		{"id": i3, "playId": bus.NewID(time.Now()), "kind": "like"},
		{"id": "x", "playId": p1.ID, "kind": "like"},
		{"id": id(), "playId": p1.ID, "kind": "love"},
		{"id": i5, "playId": p1.ID, "kind": "unlike"},
	}
	type res struct {
		ID        string `json:"id"`
		OK        bool   `json:"ok"`
		Duplicate bool   `json:"duplicate"`
		Code      string `json:"code"`
		Reason    string `json:"reason"`
	}
	results := func(r frame) []res {
		t.Helper()
		if r.str("type") != frameOK {
			t.Fatalf("batch: %v", r)
		}
		b, _ := json.Marshal(r["results"])
		var out []res
		if err := json.Unmarshal(b, &out); err != nil || len(out) != len(items) {
			t.Fatalf("results %s", b)
		}
		for i, x := range out {
			if x.ID != items[i].str("id") || (!x.OK && (x.Code == "" || x.Reason == "")) {
				t.Fatalf("result %d = %+v for item %v", i, x, items[i])
			}
		}
		return out
	}
	got := results(c.ask(frame{"type": "likes", "items": items}))
	want := []struct {
		ok   bool
		dup  bool
		code string
	}{{true, false, ""}, {true, true, ""}, {true, false, ""}, {false, false, bus.CodeUnknownPlay},
		{false, false, codeBadRequest}, {false, false, codeBadRequest}, {true, false, ""}}
	for i, w := range want {
		if got[i].OK != w.ok || got[i].Duplicate != w.dup || got[i].Code != w.code {
			t.Errorf("item %d: %+v, want %+v", i, got[i], w)
		}
	}
	// Sent again (the page did not see the answer): nothing changes.
	got = results(c.ask(frame{"type": "likes", "items": items}))
	for _, i := range []int{0, 1, 2, 6} {
		if !got[i].OK || !got[i].Duplicate {
			t.Errorf("resent item %d: %+v, want a duplicate", i, got[i])
		}
	}
	if n := len(e.storedActions(sid)); n != 3 {
		t.Fatalf("%d actions stored, want 3", n)
	}
	mine := c2mine(t, e.dial().subscribeAs("c-offline", sid, nil))
	if !slices.Equal(mine.Likes, []string{p2.ID}) {
		t.Fatalf("mine.likes = %v, want only the second play", mine.Likes)
	}
	// A full queue is taken at once (it has its own budget, and fits in a
	// frame); past the budget its items are refused one by one.
	full := make([]frame, maxBatch)
	for i := range full {
		kind := "like"
		if i%2 == 1 {
			kind = "unlike"
		}
		full[i] = frame{"id": id(), "playId": p1.ID, "kind": kind}
	}
	c3 := e.dial()
	c3.subscribeAs("c-long-offline", sid, nil)
	items = full
	for i, x := range results(c3.ask(frame{"type": "likes", "items": full})) {
		if !x.OK || x.Duplicate {
			t.Fatalf("full queue item %d: %+v", i, x)
		}
	}
	items = []frame{{"id": id(), "playId": p1.ID, "kind": "like"}}
	if x := results(c3.ask(frame{"type": "likes", "items": items}))[0]; x.OK || x.Code != codeRateLimited {
		t.Fatalf("item past the budget: %+v", x)
	}
	big := make([]frame, maxBatch+1)
	for i := range big {
		big[i] = frame{"id": id(), "playId": p1.ID, "kind": "like"}
	}
	wantError(t, "too many items", c.ask(frame{"type": "likes", "items": big}), codeBadRequest)
}

// c2mine decodes a snapshot's mine.
func c2mine(t *testing.T, snap frame) bus.Mine {
	t.Helper()
	b, _ := json.Marshal(snap["mine"])
	var m bus.Mine
	if err := json.Unmarshal(b, &m); err != nil || m.Likes == nil || m.Tempo == nil || m.Votes == nil {
		t.Fatalf("snapshot mine = %s", b)
	}
	return m
}

// TestTalliesReachOnlyTheirSession: a tally published on session A's
// subject reaches A's sockets as the owner's bytes, and nothing of A —
// action, tally, event — reaches a socket of B.
func TestTalliesReachOnlyTheirSession(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.startSession("DJ A"), e.startSession("DJ B")
	pa := e.play(a, "A", "One")
	pollA := e.pollStart(a, "Yes", "No")
	ca, cb := e.dial(), e.dial()
	ca.subscribeAs("c-phone-a", a, nil)
	cb.subscribeAs("c-phone-b", b, nil)

	tally := bus.Tally{Type: bus.TallyType, V: bus.Version, Session: a, At: time.Now().UTC(),
		Likes: map[string]int{pa.ID: 3}, Tempo: &bus.TempoTally{PlayID: pa.ID, Perfect: 2}, Thanks: 1, Listeners: 9}
	raw, _ := json.Marshal(tally)
	if err := e.bus.Conn.Publish(bus.TallySubject(a), raw); err != nil {
		t.Fatal(err)
	}
	got := ca.expect(bus.TallyType)
	var want frame
	_ = json.Unmarshal(raw, &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tally frame %v, want the owner's %v", got, want)
	}
	// A tally claiming another session on A's subject is dropped.
	forged := tally
	forged.Session, forged.At = b, time.Now().UTC()
	raw2, _ := json.Marshal(forged)
	_ = e.bus.Conn.Publish(bus.TallySubject(a), raw2)

	// B's phone cannot act on A's play or poll.
	wantError(t, "like of another session's play", cb.ask(frame{"type": "like", "playId": pa.ID}), bus.CodeUnknownPlay)
	wantError(t, "vote in another session's poll", cb.ask(frame{"type": "vote", "pollId": pollA.Poll.ID, "option": 0}), bus.CodeUnknownPoll)
	wantOK(t, "like on A", ca.ask(frame{"type": "like", "playId": pa.ID}), false)
	e.publish(a, bus.TypeBroadcastPaused, nil)
	ca.expect(string(bus.TypeBroadcastPaused))
	ca.quiet(300 * time.Millisecond)
	cb.quiet(300 * time.Millisecond)

	// A late joiner of A gets the latest tally in its snapshot, and the
	// listener count is the tally's.
	snap := e.dial().subscribeAs("c-late-a", a, nil)
	tb, _ := json.Marshal(snap["tally"])
	var st bus.Tally
	if err := json.Unmarshal(tb, &st); err != nil || st.Listeners != 9 || st.Likes[pa.ID] != 3 {
		t.Fatalf("snapshot tally = %s", tb)
	}
	if snap.num("listenerCount") != 9 {
		t.Fatalf("listenerCount %v, want the tally's 9", snap["listenerCount"])
	}
	if snap = e.dial().subscribeAs("c-late-b", b, nil); snap["tally"] != nil {
		t.Fatalf("B's snapshot tally = %v, want null", snap["tally"])
	}
}

// TestStoredTally: a feed that starts loads the session's latest tally
// from the bucket, and /api/sessions takes listener counts from it.
func TestStoredTally(t *testing.T) {
	e := newEnv(t, nil)
	followed, unfollowed := e.startSession("DJ One"), e.startSession("DJ Two")
	ctx := context.Background()
	kv, err := e.bus.JS.KeyValue(ctx, bus.TalliesBucket)
	if err != nil {
		t.Fatal(err)
	}
	for sid, n := range map[string]int{followed: 42, unfollowed: 17} {
		raw, _ := json.Marshal(bus.Tally{Type: bus.TallyType, V: bus.Version, Session: sid, At: time.Now().UTC(),
			Likes: map[string]int{}, Listeners: n})
		if _, err := kv.Put(ctx, sid, raw); err != nil {
			t.Fatal(err)
		}
	}
	snap := e.dial().subscribe(followed, nil)
	if tl, _ := snap["tally"].(map[string]any); tl == nil || tl["listeners"].(float64) != 42 || snap.num("listenerCount") != 42 {
		t.Fatalf("snapshot tally %v, listenerCount %v", snap["tally"], snap["listenerCount"])
	}
	var list []SessionInfo
	getJSON(t, e.url+"/api/sessions", 200, &list)
	counts := map[string]int{}
	for _, s := range list {
		counts[s.ID] = s.ListenerCount
	}
	if counts[followed] != 42 || counts[unfollowed] != 17 {
		t.Fatalf("listener counts %v", counts)
	}
	var one SessionInfo
	getJSON(t, e.url+"/api/sessions/"+unfollowed, 200, &one)
	if one.ListenerCount != 17 {
		t.Fatalf("/api/sessions/{id} listenerCount %d, want 17", one.ListenerCount)
	}
}

// TestDJCommandRelay: commands go to the session's owner as requests and
// its answer comes back; the gateway itself only refuses a missing secret.
func TestDJCommandRelay(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ")
	pollID := bus.NewID(time.Now())
	var asked atomic.Int32
	cmds := make(chan map[string]any, 16)
	sub, err := e.bus.Conn.Subscribe(bus.CommandSubject(sid), func(m *nats.Msg) {
		asked.Add(1)
		var raw map[string]any
		_ = json.Unmarshal(m.Data, &raw)
		cmds <- raw
		var cmd bus.Command
		_ = json.Unmarshal(m.Data, &cmd)
		rep := bus.CommandReply{OK: true}
		switch {
		case cmd.Secret != "right":
			rep = bus.CommandReply{Code: bus.CodeForbidden, Reason: "That is not this session's DJ secret."}
		case cmd.Kind == bus.CmdPollStart:
			rep.ID = pollID
		case cmd.Kind == bus.CmdPlayHide:
			rep = bus.CommandReply{Code: bus.CodeNotFound, Reason: "No such play."}
		}
		b, _ := json.Marshal(rep)
		_ = m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	console := e.dial() // a DJ console need not subscribe

	r := console.ask(frame{"type": "dj", "sessionId": sid, "secret": "right", "command": "poll.start",
		"question": "Tempo check", "options": []string{"Slower", "Perfect", "Faster"}, "seconds": 60})
	wantOK(t, "poll.start", r, false)
	if r.str("id") != pollID {
		t.Fatalf("poll.start ok without the poll id: %v", r)
	}
	got := <-cmds
	if got["kind"] != "poll.start" || got["sessionId"] != sid || got["question"] != "Tempo check" ||
		got["seconds"].(float64) != 60 || len(got["options"].([]any)) != 3 || got["v"].(float64) != 1 {
		t.Fatalf("owner received %v", got)
	}
	wantOK(t, "poll.end", console.ask(frame{"type": "dj", "sessionId": sid, "secret": "right", "command": "poll.end",
		"pollId": pollID}), false)
	if got = <-cmds; got["pollId"] != pollID || got["kind"] != "poll.end" {
		t.Fatalf("owner received %v", got)
	}
	wantError(t, "wrong secret", console.ask(frame{"type": "dj", "sessionId": sid, "secret": "wrong", "command": "session.end"}), bus.CodeForbidden)
	r = console.ask(frame{"type": "dj", "sessionId": sid, "secret": "right", "command": "play.hide", "playId": bus.NewID(time.Now())})
	if wantError(t, "refused", r, bus.CodeNotFound); r.str("reason") != "No such play." {
		t.Fatalf("reason not relayed: %v", r)
	}
	before := asked.Load()
	wantError(t, "no secret", console.ask(frame{"type": "dj", "sessionId": sid, "command": "session.end"}), bus.CodeForbidden)
	wantError(t, "unknown command", console.ask(frame{"type": "dj", "sessionId": sid, "secret": "right", "command": "dance"}), codeBadRequest)
	wantError(t, "bad session", console.ask(frame{"type": "dj", "sessionId": "x", "secret": "right", "command": "session.end"}), codeBadRequest)
	if asked.Load() != before {
		t.Fatal("refused-at-the-gateway commands reached the owner")
	}
	// Nobody answers for this session: unavailable, at once.
	start := time.Now()
	r = console.ask(frame{"type": "dj", "sessionId": bus.NewID(time.Now()), "secret": "right", "command": "broadcast.pause"})
	if wantError(t, "no owner", r, codeUnavailable); r.str("reason") != "The DJ's laptop is not answering." {
		t.Fatalf("no-owner reason %q", r.str("reason"))
	}
	if time.Since(start) > bus.CommandTimeout {
		t.Fatalf("no responders took %v", time.Since(start))
	}
}

// presenceReader collects presence reports of one session.
func presenceReader(t *testing.T, e *env, sid string) func(cond func(bus.Presence) bool, what string) bus.Presence {
	sub, err := e.bus.Conn.SubscribeSync(bus.PresenceSubject(sid))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func(cond func(bus.Presence) bool, what string) bus.Presence {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			m, err := sub.NextMsg(time.Until(deadline))
			if err != nil {
				break
			}
			var p bus.Presence
			if err := json.Unmarshal(m.Data, &p); err != nil {
				t.Fatalf("presence %s: %v", m.Data, err)
			}
			if cond(p) {
				return p
			}
		}
		t.Fatalf("no presence report with %s", what)
		return bus.Presence{}
	}
}

// TestPresence: the gateway reports its phones of each session, keeps a
// phone whose socket closed for the grace period, then reports it gone.
func TestPresence(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ID, c.PresenceEvery, c.ListenerGrace = "gw-test-one", 100*time.Millisecond, 1500*time.Millisecond
	})
	sid := e.startSession("DJ")
	next := presenceReader(t, e, sid)
	c1, c2 := e.dial(), e.dial()
	c1.subscribeAs("c-phone-one", sid, nil)
	c2.subscribeAs("c-phone-two", sid, nil)
	both := func(p bus.Presence) bool {
		return slices.Equal(p.Clients, []string{"c-phone-one", "c-phone-two"})
	}
	p := next(both, "both phones")
	if p.Gateway != "gw-test-one" || p.Session != sid || p.V != bus.Version || p.At.IsZero() {
		t.Fatalf("presence = %+v", p)
	}
	c2.ws.Close()
	testenv.Eventually(t, 5*time.Second, "socket closed", func() bool { return e.gw.Sockets() == 1 })
	closedAt := time.Now()
	next(both, "the closed phone still counted")
	p = next(func(p bus.Presence) bool { return slices.Equal(p.Clients, []string{"c-phone-one"}) }, "only phone one")
	if time.Since(closedAt) < time.Second {
		t.Fatalf("phone dropped %v after its socket closed, before its grace", time.Since(closedAt))
	}
	c1.ws.Close()
	next(func(p bus.Presence) bool { return len(p.Clients) == 0 }, "a last, empty report")
}

// TestWithheldPlays: a play stored while broadcasting is paused, or hidden
// by the DJ, reaches phones as a withheld track.played (live and in
// resume), and is left out of history; a corrected play shows its new
// title everywhere.
func TestWithheldPlays(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ")
	p1 := e.play(sid, "A", "Visible then hidden")
	c := e.dial()
	c.subscribe(sid, nil)
	e.publish(sid, bus.TypeBroadcastPaused, nil)
	c.expect(string(bus.TypeBroadcastPaused))
	p2 := e.play(sid, "Secret", "Private track")
	f := c.expect(string(bus.TypeTrackPlayed))
	withheld := func(f frame, seq uint64) {
		t.Helper()
		if f.str("type") != string(bus.TypeTrackPlayed) || f["hidden"] != true || f.num("seq") != float64(seq) ||
			f.str("sessionId") != sid || f["play"] != nil || f["id"] != nil {
			t.Fatalf("withheld play = %v, want seq %d without its track", f, seq)
		}
	}
	withheld(f, p2.Seq)
	// A phone joining now sees nothing playing, and paused.
	snap := e.dial().subscribe(sid, nil)
	if snap["nowPlaying"] != nil || snap["paused"] != true || len(snap["history"].([]any)) != 1 {
		t.Fatalf("paused snapshot: nowPlaying %v paused %v history %v", snap["nowPlaying"], snap["paused"], snap["history"])
	}
	e.publish(sid, bus.TypeBroadcastResumed, nil)
	c.expect(string(bus.TypeBroadcastResumed))
	p3 := e.play(sid, "A", "Tpyo")
	if f = c.expect(string(bus.TypeTrackPlayed)); f.str("id") != p3.ID || f["play"] == nil {
		t.Fatalf("play after resume = %v", f)
	}
	e.publish(sid, bus.TypePlayHidden, func(ev *bus.Event) { ev.Ref = &bus.Ref{ID: p1.ID} })
	if f = c.expect(string(bus.TypePlayHidden)); f["ref"].(map[string]any)["id"] != p1.ID {
		t.Fatalf("play.hidden = %v", f)
	}
	last := e.publish(sid, bus.TypePlayCorrected, func(ev *bus.Event) {
		ev.Correction = &bus.Correction{PlayID: p3.ID, Title: "Typo", Artist: "A"}
	})
	c.expect(string(bus.TypePlayCorrected))
	// Correcting a withheld play reveals nothing of it.
	last = e.publish(sid, bus.TypePlayCorrected, func(ev *bus.Event) {
		ev.Correction = &bus.Correction{PlayID: p2.ID, Title: "Still Secret", Artist: "Nobody"}
	})
	if f = c.expect(string(bus.TypePlayCorrected)); f["hidden"] != true || f["correction"] != nil || f.num("seq") != float64(last.Seq) {
		t.Fatalf("correction of a withheld play = %v", f)
	}
	e.caughtUp(sid, last.Seq)

	from := uint64(1) // after session.started
	snap = e.dial().subscribe(sid, &from)
	missed := snap["resume"].(map[string]any)["missed"].([]any)
	if len(missed) != int(last.Seq-1) || snap["recovered"] != true {
		t.Fatalf("missed %d events, recovered %v", len(missed), snap["recovered"])
	}
	if m := frame(missed[len(missed)-1].(map[string]any)); m["hidden"] != true || m["correction"] != nil {
		t.Fatalf("missed correction of a withheld play = %v", m)
	}
	withheld(frame(missed[0].(map[string]any)), p1.Seq) // hidden after it was sent
	withheld(frame(missed[2].(map[string]any)), p2.Seq) // played while paused
	if m := frame(missed[4].(map[string]any)); m.str("id") != p3.ID || m["play"] == nil {
		t.Fatalf("missed visible play = %v", m)
	}
	hist := snap["history"].([]any)
	np, _ := snap["nowPlaying"].(map[string]any)
	if len(hist) != 1 || hist[0].(map[string]any)["title"] != "Typo" || np == nil || np["title"] != "Typo" {
		t.Fatalf("history %v, nowPlaying %v: want only the corrected play", hist, np)
	}
	var rest []bus.PlayedTrack
	getJSON(t, e.url+"/api/sessions/"+sid+"/history", 200, &rest)
	if len(rest) != 1 || rest[0].PlayID != p3.ID || rest[0].Title != "Typo" {
		t.Fatalf("/history = %+v", rest)
	}
	var one SessionInfo
	getJSON(t, e.url+"/api/sessions/"+sid, 200, &one)
	if one.CurrentTrack == nil || one.CurrentTrack.Title != "Typo" {
		t.Fatalf("/api/sessions/{id} currentTrack = %+v", one.CurrentTrack)
	}
	// Liking a hidden play is refused like an unknown one.
	wantError(t, "like a hidden play", c.ask(frame{"type": "like", "playId": p1.ID}), bus.CodeUnknownPlay)
}

// TestSnapshotCrowd: a snapshot carries the open poll, the announcement
// while it lasts, the phone's own likes, tempo votes and poll votes, and
// whether a resume is complete.
func TestSnapshotCrowd(t *testing.T) {
	e := newEnv(t, nil)
	e.gw.hub.ringLen = 4
	sid := e.startSession("DJ")
	p1 := e.play(sid, "A", "One")
	poll := e.pollStart(sid, "Yes", "No", "Maybe")
	e.publish(sid, bus.TypeAnnouncementMade, func(ev *bus.Event) {
		ev.Announcement = &bus.Announcement{ID: bus.NewID(time.Now()), Text: "Over", EndsAt: time.Now().Add(-time.Minute)}
	})
	c := e.dial()
	snap := c.subscribeAs("c-mine-test", sid, nil)
	if snap["announcement"] != nil || snap["recovered"] != false || snap["paused"] != false {
		t.Fatalf("snapshot announcement %v (ended: want null), recovered %v, paused %v", snap["announcement"], snap["recovered"], snap["paused"])
	}
	if pl, _ := snap["poll"].(map[string]any); pl == nil || pl["id"] != poll.Poll.ID || len(pl["options"].([]any)) != 3 {
		t.Fatalf("snapshot poll = %v", snap["poll"])
	}
	ann := e.publish(sid, bus.TypeAnnouncementMade, func(ev *bus.Event) {
		ev.Announcement = &bus.Announcement{ID: bus.NewID(time.Now()), Text: "Last dance soon", EndsAt: time.Now().Add(10 * time.Minute)}
	})
	c.expect(string(bus.TypeAnnouncementMade))
	wantOK(t, "like", c.ask(frame{"type": "like", "playId": p1.ID}), false)
	wantOK(t, "tempo", c.ask(frame{"type": "tempo", "playId": p1.ID, "tempo": "perfect"}), false)
	wantOK(t, "vote", c.ask(frame{"type": "vote", "pollId": poll.Poll.ID, "option": 2}), false)

	seq := ann.Seq - 1
	snap = e.dial().subscribeAs("c-mine-test", sid, &seq)
	m := c2mine(t, snap)
	if !slices.Equal(m.Likes, []string{p1.ID}) || m.Tempo[p1.ID] != "perfect" || m.Votes[poll.Poll.ID] != 2 {
		t.Fatalf("mine = %+v", m)
	}
	if a, _ := snap["announcement"].(map[string]any); a == nil || a["text"] != "Last dance soon" {
		t.Fatalf("snapshot announcement = %v", snap["announcement"])
	}
	if snap["recovered"] != true || len(snap["resume"].(map[string]any)["missed"].([]any)) != 1 {
		t.Fatalf("recovered %v, resume %v", snap["recovered"], snap["resume"])
	}
	// Another dancer has nothing of their own.
	if m = c2mine(t, e.dial().subscribeAs("c-someone-else", sid, nil)); len(m.Likes)+len(m.Tempo)+len(m.Votes) != 0 {
		t.Fatalf("another dancer's mine = %+v", m)
	}
	// Older than the ring: recovered false, and the snapshot is whole.
	for range 4 {
		e.play(sid, "A", "More")
	}
	e.caughtUp(sid, ann.Seq+4)
	snap = e.dial().subscribeAs("c-mine-test", sid, &seq)
	if snap["recovered"] != false || snap["resume"].(map[string]any)["complete"] != false {
		t.Fatalf("long gap: recovered %v resume %v", snap["recovered"], snap["resume"])
	}
	if m = c2mine(t, snap); !slices.Equal(m.Likes, []string{p1.ID}) {
		t.Fatalf("mine after a long gap = %+v", m)
	}
}

// TestTwoGateways: two gateways on one bus share what dancers do: a like
// through one is in the other's fold, and each reports its own phones.
func TestTwoGateways(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ID, c.PresenceEvery = "gw-one", 100*time.Millisecond })
	gw2, url2 := startGateway(t, e.bus, func(c *Config) { c.ID, c.PresenceEvery = "gw-two", 100*time.Millisecond })
	sid := e.startSession("DJ")
	p1 := e.play(sid, "A", "One")
	p2 := e.play(sid, "A", "Two")
	next := presenceReader(t, e, sid)

	// Gateway 2 already follows the session when the like arrives.
	watcher := e.dialURL(url2)
	watcher.subscribeAs("c-watcher", sid, nil)
	c1 := e.dial()
	c1.subscribeAs("c-two-gw", sid, nil)
	wantOK(t, "like via gateway 1", c1.ask(frame{"type": "like", "playId": p1.ID}), false)
	testenv.Eventually(t, 5*time.Second, "gateway 2 folded the like", func() bool {
		f := gw2.hub.followed(sid)
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Equal(f.crowd.Mine("c-two-gw").Likes, []string{p1.ID})
	})
	c2 := e.dialURL(url2)
	if m := c2mine(t, c2.subscribeAs("c-two-gw", sid, nil)); !slices.Equal(m.Likes, []string{p1.ID}) {
		t.Fatalf("mine through gateway 2 = %+v", m)
	}
	wantOK(t, "the same like via gateway 2", c2.ask(frame{"type": "like", "playId": p1.ID}), true)
	wantOK(t, "another like via gateway 2", c2.ask(frame{"type": "like", "playId": p2.ID}), false)

	// A gateway that starts later replays the actions after the events.
	_, url3 := startGateway(t, e.bus, nil)
	if m := c2mine(t, e.dialURL(url3).subscribeAs("c-two-gw", sid, nil)); !slices.Equal(m.Likes, slices.Sorted(slices.Values([]string{p1.ID, p2.ID}))) {
		t.Fatalf("mine through a fresh gateway = %+v", m)
	}

	seen := map[string][]string{}
	next(func(p bus.Presence) bool {
		seen[p.Gateway] = p.Clients
		return slices.Equal(seen["gw-one"], []string{"c-two-gw"}) && slices.Equal(seen["gw-two"], []string{"c-two-gw", "c-watcher"})
	}, "both gateways' phones")
}

// TestActionStoreDown: when the action cannot be stored the dancer is told
// to retry, and nothing is folded.
func TestActionStoreDown(t *testing.T) {
	// PublishAction retries until its deadline; keep the test short.
	e := newEnv(t, func(c *Config) { c.PublishTimeout = 300 * time.Millisecond })
	sid := e.startSession("DJ")
	p1 := e.play(sid, "A", "One")
	c := e.dial()
	c.subscribeAs("c-store-down", sid, nil)
	ctx := context.Background()
	if err := e.bus.JS.DeleteStream(ctx, bus.ActionsStreamName(e.bus.DJ)); err != nil {
		t.Fatal(err)
	}
	wantError(t, "like with no store", c.ask(frame{"type": "like", "playId": p1.ID}), codeUnavailable)
	f := e.gw.hub.followed(sid)
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.crowd.Mine("c-store-down"); len(m.Likes) != 0 {
		t.Fatalf("unstored like folded: %+v", m)
	}
}

// TestConsolePage: the DJ console page is served at /dj (its session and
// secret ride in the fragment, which the request never carries).
func TestConsolePage(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Assets = web.Assets() })
	resp, err := http.Get(e.url + "/dj")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "html") || !strings.Contains(string(body), "<") {
		t.Fatalf("/dj: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
