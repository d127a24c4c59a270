package gateway

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/history"
	"github.com/pika-dj/pika/internal/testenv"
)

// wantREST checks a request answers status with a body decoding into into
// (a RESTError with a reason when status is an error and into is nil).
func wantREST(t *testing.T, method, url, bearer string, status int, into any) http.Header {
	t.Helper()
	code, hdr, body := testenv.Request(t, method, url, bearer)
	if code != status {
		t.Fatalf("%s %s: %d %s, want %d", method, url, code, body, status)
	}
	if into == nil && status >= 400 {
		var rerr RESTError
		if err := json.Unmarshal(body, &rerr); err != nil || rerr.Code == "" || rerr.Reason == "" {
			t.Fatalf("%s %s: error body %s is not a RESTError with a reason", method, url, body)
		}
		return hdr
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, body)
		}
	}
	return hdr
}

// fakeOwner answers the session's DJ commands as the DJ's side does: ok for
// the right secret, forbidden for any other. It counts what it was asked.
func fakeOwner(t *testing.T, e *env, sid, secret string) *atomic.Int32 {
	t.Helper()
	var asked atomic.Int32
	sub, err := e.bus.Conn.Subscribe(bus.CommandSubject(sid), func(m *nats.Msg) {
		asked.Add(1)
		var cmd bus.Command
		_ = json.Unmarshal(m.Data, &cmd)
		rep := bus.CommandReply{OK: true}
		if cmd.Kind != bus.CmdAuth || cmd.Secret != secret {
			rep = bus.CommandReply{Code: bus.CodeForbidden, Reason: "That is not this session's DJ secret."}
		}
		b, _ := json.Marshal(rep)
		_ = m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return &asked
}

// act stores a dancer action as a gateway does once it accepted it.
func (e *env) act(sid, client string, kind bus.ActionKind, fill func(*bus.Action)) bus.Action {
	e.t.Helper()
	now := time.Now().UTC()
	a := bus.Action{V: bus.Version, ID: bus.NewID(now), Kind: kind, Session: sid, Client: client, At: now}
	if fill != nil {
		fill(&a)
	}
	if _, err := bus.PublishAction(context.Background(), e.bus.JS, a, nil); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// night is a session with everything a recap shows: five plays (one hidden
// by the DJ, one played while the list was paused, one corrected), likes
// and an unlike, tempo votes changed and cleared, a closed poll and an open
// one, thank-yous, and its end.
type night struct {
	sid                                   string
	first, corrected, hidden, paused, top bus.Event
	closedPoll, openPoll                  bus.Event
}

func seedNight(e *env) night {
	n := night{sid: e.startSession("DJ Nova")}
	sid := n.sid
	n.first = e.play(sid, "Example Band", "Slow Dance")
	n.corrected = e.play(sid, "Typo Artst", "Typo Titel")
	e.publish(sid, bus.TypePlayCorrected, func(ev *bus.Event) {
		ev.Correction = &bus.Correction{PlayID: n.corrected.ID, Title: "Fixed Title", Artist: "Fixed Artist"}
	})
	n.hidden = e.play(sid, "Secret", "Unreleased Edit")
	e.publish(sid, bus.TypePlayHidden, func(ev *bus.Event) { ev.Ref = &bus.Ref{ID: n.hidden.ID} })
	e.publish(sid, bus.TypeBroadcastPaused, nil)
	n.paused = e.play(sid, "Private", "Played While Paused")
	e.publish(sid, bus.TypeBroadcastResumed, nil)
	n.top = e.play(sid, "Crowd", "Favourite")
	n.closedPoll = e.pollStart(sid, "Slower", "Perfect", "Faster")
	like := func(c string, p bus.Event) {
		e.act(sid, c, bus.ActLike, func(a *bus.Action) { a.PlayID = p.ID })
	}
	tempo := func(c string, p bus.Event, choice string) {
		e.act(sid, c, bus.ActTempo, func(a *bus.Action) { a.PlayID = p.ID; a.Tempo = choice })
	}
	vote := func(c string, p bus.Event, o int) {
		e.act(sid, c, bus.ActVote, func(a *bus.Action) { a.PollID = p.Poll.ID; a.Option = &o })
	}
	for _, c := range []string{"client-aaaa", "client-bbbb", "client-cccc"} {
		like(c, n.top)
	}
	like("client-aaaa", n.first)
	like("client-bbbb", n.first)
	e.act(sid, "client-bbbb", bus.ActUnlike, func(a *bus.Action) { a.PlayID = n.first.ID })
	like("client-aaaa", n.hidden)
	like("client-aaaa", n.corrected)
	tempo("client-aaaa", n.top, bus.TempoSlower)
	tempo("client-aaaa", n.top, bus.TempoPerfect) // changed: the latest wins
	tempo("client-bbbb", n.top, bus.TempoFaster)
	tempo("client-cccc", n.top, bus.TempoSlower)
	tempo("client-cccc", n.top, bus.TempoClear) // cleared: not counted
	tempo("client-bbbb", n.first, bus.TempoSlower)
	vote("client-aaaa", n.closedPoll, 1)
	vote("client-bbbb", n.closedPoll, 1)
	vote("client-cccc", n.closedPoll, 2)
	e.publish(sid, bus.TypePollClosed, func(ev *bus.Event) {
		ev.PollResult = &bus.PollResult{ID: n.closedPoll.Poll.ID, Reason: bus.PollEnded, Counts: []int{0, 2, 1}, Total: 3, Winner: 1}
	})
	n.openPoll = e.pollStart(sid, "West Coast", "Blues")
	vote("client-aaaa", n.openPoll, 0)
	vote("client-aaaa", n.openPoll, 1) // refused by the crowd at the time; only the first stands
	vote("client-bbbb", n.openPoll, 0)
	for range 3 {
		e.act(sid, "client-cccc", bus.ActThanks, nil)
	}
	e.publish(sid, bus.TypeSessionEnded, func(ev *bus.Event) { ev.Ended = &bus.SessionEnded{Reason: bus.EndByDJ} })
	return n
}

func playByID(r history.Recap, id string) *history.Play {
	for i := range r.Plays {
		if r.Plays[i].PlayID == id {
			return &r.Plays[i]
		}
	}
	return nil
}

// checkPublicRecap checks what anyone may see of the night.
func checkPublicRecap(t *testing.T, n night, r history.Recap) {
	t.Helper()
	if r.Owner || r.Polls != nil || r.Thanks != nil {
		t.Fatalf("public recap carries the DJ's part: owner %v, polls %v, thanks %v", r.Owner, r.Polls, r.Thanks)
	}
	if r.Session.ID != n.sid || r.Session.DJName != "DJ Nova" || r.Session.Status != "ended" || r.Session.EndReason != bus.EndByDJ {
		t.Fatalf("session %+v", r.Session)
	}
	if len(r.Plays) != 3 || r.TrackCount != 3 {
		t.Fatalf("public recap has %d plays (trackCount %d), want 3: %+v", len(r.Plays), r.TrackCount, r.Plays)
	}
	if playByID(r, n.hidden.ID) != nil || playByID(r, n.paused.ID) != nil {
		t.Fatal("the public recap shows a withheld play")
	}
	for i, want := range []string{n.first.ID, n.corrected.ID, n.top.ID} {
		if p := r.Plays[i]; p.PlayID != want || p.Position != i+1 {
			t.Fatalf("play %d is %s at position %d, want %s at %d", i, p.PlayID, p.Position, want, i+1)
		}
	}
	if c := playByID(r, n.corrected.ID); c.Title != "Fixed Title" || c.Artist != "Fixed Artist" || c.Likes != 1 {
		t.Fatalf("corrected play %+v", c)
	}
	f := playByID(r, n.first.ID)
	if f.Likes != 1 || f.Tempo != (history.Tempo{Slower: 1}) || f.BPM != 96 {
		t.Fatalf("first play %+v: want 1 like (one was taken back), 1 slower, 96 BPM", f)
	}
	top := playByID(r, n.top.ID)
	if top.Likes != 3 || top.Tempo != (history.Tempo{Perfect: 1, Faster: 1}) {
		t.Fatalf("top play %+v: want 3 likes, tempo perfect 1 faster 1", top)
	}
	if r.MostLiked != n.top.ID || r.TotalLikes != 5 || r.Tempo != (history.Tempo{Slower: 1, Perfect: 1, Faster: 1}) {
		t.Fatalf("totals: mostLiked %s, likes %d, tempo %+v", r.MostLiked, r.TotalLikes, r.Tempo)
	}
}

// checkOwnerRecap checks the DJ's part of the night.
func checkOwnerRecap(t *testing.T, n night, r history.Recap) {
	t.Helper()
	if !r.Owner || len(r.Plays) != 5 || r.TrackCount != 3 || r.TotalLikes != 5 {
		t.Fatalf("owner recap: owner %v, %d plays, trackCount %d, likes %d", r.Owner, len(r.Plays), r.TrackCount, r.TotalLikes)
	}
	if h := playByID(r, n.hidden.ID); h == nil || !h.Hidden || h.Likes != 1 {
		t.Fatalf("hidden play in the DJ's recap: %+v", h)
	}
	if p := playByID(r, n.paused.ID); p == nil || !p.Hidden {
		t.Fatalf("play while paused in the DJ's recap: %+v", p)
	}
	if r.Thanks == nil || *r.Thanks != 3 {
		t.Fatalf("thanks %v, want 3", r.Thanks)
	}
	if len(r.Polls) != 2 {
		t.Fatalf("polls %+v, want 2", r.Polls)
	}
	c, o := r.Polls[0], r.Polls[1]
	if c.ID != n.closedPoll.Poll.ID || c.ClosedAt == nil || c.CloseReason != bus.PollEnded || c.Total != 3 || c.Winner != 1 ||
		len(c.Counts) != 3 || c.Counts[1] != 2 || c.Question != "Which one?" || len(c.Options) != 3 {
		t.Fatalf("closed poll %+v", c)
	}
	if o.ID != n.openPoll.Poll.ID || o.Total != 2 || o.Counts[0] != 2 || o.Counts[1] != 0 || o.Winner != 0 {
		t.Fatalf("open poll %+v: want its first votes only, 2 for option 0", o)
	}
}

func TestRecapFromStreams(t *testing.T) {
	e := newEnv(t, nil)
	n := seedNight(e)
	asked := fakeOwner(t, e, n.sid, "the-right-secret")
	url := e.url + "/api/sessions/" + n.sid + "/recap"

	var pub history.Recap
	wantREST(t, "GET", url, "", 200, &pub)
	checkPublicRecap(t, n, pub)
	if asked.Load() != 0 {
		t.Fatal("a request without a secret asked the owner")
	}

	var own history.Recap
	hdr := wantREST(t, "GET", url, "the-right-secret", 200, &own)
	checkOwnerRecap(t, n, own)
	if !strings.Contains(hdr.Get("Cache-Control"), "no-store") {
		t.Fatalf("the DJ's recap may be cached: Cache-Control %q", hdr.Get("Cache-Control"))
	}

	// Refused: a wrong secret, a malformed header, a secret in the address.
	code, _, body := testenv.Request(t, "GET", url, "not-the-secret")
	var rerr RESTError
	if code != 403 || json.Unmarshal(body, &rerr) != nil || rerr.Code != codeForbidden || rerr.Reason != "That is not this session's DJ secret." {
		t.Fatalf("wrong secret: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("Basic auth: %v %v", resp, err)
	}
	wantREST(t, "GET", url+"?secret=the-right-secret", "", 400, nil)
	wantREST(t, "GET", url+"?k=the-right-secret", "the-right-secret", 400, nil)

	// The DJ's CSV.
	csvURL := e.url + "/api/sessions/" + n.sid + "/recap.csv"
	wantREST(t, "GET", csvURL, "", 403, nil)
	wantREST(t, "GET", csvURL, "not-the-secret", 403, nil)
	code, hdr, body = testenv.Request(t, "GET", csvURL, "the-right-secret")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(hdr.Get("Content-Disposition"), `attachment; filename="pika-dj-nova-`) {
		t.Fatalf("csv: %d %v %s", code, hdr, body)
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 || strings.Join(rows[0], ",") != "position,played_at,artist,title,bpm,key,likes,slower,perfect,faster,hidden" {
		t.Fatalf("csv rows %q", rows)
	}
	if got := strings.Join(rows[5], ","); !strings.HasSuffix(got, ",Crowd,Favourite,96,,3,0,1,1,false") || !strings.HasPrefix(got, "5,") {
		t.Fatalf("last csv row %q", got)
	}
	if rows[3][10] != "true" || rows[2][3] != "Fixed Title" {
		t.Fatalf("csv rows %q: want the hidden play marked and the correction shown", rows)
	}

	// Unknown and malformed sessions.
	wantREST(t, "GET", e.url+"/api/sessions/"+bus.NewID(time.Now())+"/recap", "", 404, nil)
	wantREST(t, "GET", e.url+"/api/sessions/nope/recap", "", 400, nil)
}

// Without the DJ's laptop answering, the secret cannot be checked: the DJ is
// told so, and the public recap still works.
func TestRecapOwnerUnreachable(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ Away")
	e.play(sid, "A", "B")
	url := e.url + "/api/sessions/" + sid + "/recap"
	wantREST(t, "GET", url, "some-secret", 503, nil)
	wantREST(t, "GET", url+".csv", "some-secret", 503, nil)
	var r history.Recap
	wantREST(t, "GET", url, "", 200, &r)
	if len(r.Plays) != 1 || r.Session.Status != "live" {
		t.Fatalf("recap of a live session: %+v", r)
	}
}

func TestHistoryWithoutDatabase(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/api/sessions/recent", "/api/djs/" + e.bus.DJ, "/api/clients/client-aaaa/likes", "/api/stats/top-tracks"} {
		code, _, body := testenv.Request(t, "GET", e.url+path, "")
		var rerr RESTError
		if code != 503 || json.Unmarshal(body, &rerr) != nil || rerr.Code != codeNoDatabase || rerr.Reason == "" {
			t.Fatalf("GET %s without a database: %d %s", path, code, body)
		}
	}
	wantREST(t, "DELETE", e.url+"/api/clients/client-aaaa/likes", "", 503, nil)
	// Malformed ids are refused before anything else.
	wantREST(t, "GET", e.url+"/api/djs/someone", "", 400, nil)
	wantREST(t, "GET", e.url+"/api/clients/x/likes", "", 400, nil)
	wantREST(t, "DELETE", e.url+"/api/clients/bad%20id!/likes", "", 400, nil)
}

// fakeHistory is a History in memory, to test the gateway's side of it.
type fakeHistory struct {
	plays   map[string][]bus.PlayedTrack
	recaps  map[string]history.Recap
	fail    error
	deleted []string
	topHits atomic.Int32
}

func (f *fakeHistory) SessionPlays(_ context.Context, sid string, limit int) ([]bus.PlayedTrack, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	p, ok := f.plays[sid]
	if !ok {
		return nil, history.ErrNotFound
	}
	return p[:min(limit, len(p))], nil
}

func (f *fakeHistory) SessionRecap(_ context.Context, sid string, owner bool) (history.Recap, error) {
	if f.fail != nil {
		return history.Recap{}, f.fail
	}
	r, ok := f.recaps[sid]
	if !ok {
		return r, history.ErrNotFound
	}
	if !owner {
		r.Polls = nil
	}
	return r, nil
}

func (f *fakeHistory) RecentSessions(_ context.Context, now time.Time, _ int) ([]history.Session, error) {
	return []history.Session{{ID: "s1", LastActivityAt: now.Add(-5 * time.Hour)}}, f.fail
}

func (f *fakeHistory) DJProfile(_ context.Context, djID string, _ int) (history.DJProfile, error) {
	if djID != "djaaaaaaaaaaaaaaaa" {
		return history.DJProfile{}, history.ErrNotFound
	}
	return history.DJProfile{ID: djID, Name: "DJ Fake"}, f.fail
}

func (f *fakeHistory) Journal(_ context.Context, clientID string, _ int) (history.Journal, error) {
	return history.Journal{Kept: history.Kept{Likes: 2, Reactions: 1}}, f.fail
}

func (f *fakeHistory) DeleteJournal(_ context.Context, clientID string) (int64, error) {
	f.deleted = append(f.deleted, clientID)
	return 3, f.fail
}

func (f *fakeHistory) TopTracks(context.Context, int) ([]history.TopTrack, error) {
	f.topHits.Add(1)
	return []history.TopTrack{{Track: bus.NewTrack("A", "B"), Likes: 4, Plays: 2}}, f.fail
}

// With a database, history and recaps come from it; a session it does not
// have yet (the persister runs behind the stream), or a database that
// fails, is read from the streams instead.
func TestHistoryFromDatabase(t *testing.T) {
	fh := &fakeHistory{plays: map[string][]bus.PlayedTrack{}, recaps: map[string]history.Recap{}}
	e := newEnv(t, func(c *Config) { c.History = fh })
	inDB := e.startSession("DJ DB")
	e.play(inDB, "Stream", "Only In The Stream")
	fh.plays[inDB] = []bus.PlayedTrack{{PlayID: bus.NewID(time.Now()), Track: bus.NewTrack("Db", "From PostgreSQL")}}
	fh.recaps[inDB] = history.Recap{Session: history.Session{ID: inDB, DJName: "DJ DB", LastActivityAt: time.Now()},
		Plays: []history.Play{{PlayedTrack: fh.plays[inDB][0], Likes: 2}},
		Polls: []history.Poll{{ID: "p", Question: "Q?", Options: []string{"a", "b"}, Counts: []int{1, 0}, Total: 1}}}
	onlyStream := e.startSession("DJ Stream")
	e.play(onlyStream, "Stream", "Not Persisted Yet")

	var plays []bus.PlayedTrack
	wantREST(t, "GET", e.url+"/api/sessions/"+inDB+"/history", "", 200, &plays)
	if len(plays) != 1 || plays[0].Title != "From PostgreSQL" {
		t.Fatalf("history with a database: %+v", plays)
	}
	wantREST(t, "GET", e.url+"/api/sessions/"+onlyStream+"/history", "", 200, &plays)
	if len(plays) != 1 || plays[0].Title != "Not Persisted Yet" {
		t.Fatalf("history of a session not in the database: %+v", plays)
	}
	var r history.Recap
	wantREST(t, "GET", e.url+"/api/sessions/"+inDB+"/recap", "", 200, &r)
	if len(r.Plays) != 1 || r.Plays[0].Title != "From PostgreSQL" || r.Plays[0].Position != 1 || r.TotalLikes != 2 ||
		r.MostLiked != r.Plays[0].PlayID || r.Session.Status != "live" || r.Polls != nil {
		t.Fatalf("recap from the database: %+v", r)
	}
	fakeOwner(t, e, inDB, "s3cret")
	wantREST(t, "GET", e.url+"/api/sessions/"+inDB+"/recap", "s3cret", 200, &r)
	if !r.Owner || len(r.Polls) != 1 {
		t.Fatalf("owner recap from the database: %+v", r)
	}
	wantREST(t, "GET", e.url+"/api/sessions/"+onlyStream+"/recap", "", 200, &r)
	if len(r.Plays) != 1 || r.Plays[0].Title != "Not Persisted Yet" {
		t.Fatalf("recap of a session not in the database: %+v", r)
	}

	var recent []history.Session
	wantREST(t, "GET", e.url+"/api/sessions/recent", "", 200, &recent)
	if len(recent) != 1 || recent[0].Status != "ended" || recent[0].EndReason != bus.EndByIdle {
		t.Fatalf("recent: %+v (an idle session is ended by idle)", recent)
	}
	var p history.DJProfile
	wantREST(t, "GET", e.url+"/api/djs/djaaaaaaaaaaaaaaaa", "", 200, &p)
	if p.Name != "DJ Fake" || p.Sessions == nil {
		t.Fatalf("profile %+v", p)
	}
	wantREST(t, "GET", e.url+"/api/djs/"+bus.NewDJID(), "", 404, nil)
	var j history.Journal
	hdr := wantREST(t, "GET", e.url+"/api/clients/client-aaaa/likes", "", 200, &j)
	if j.ClientID != "client-aaaa" || j.Likes == nil || j.Kept.Likes != 2 || !strings.Contains(hdr.Get("Cache-Control"), "no-store") {
		t.Fatalf("journal %+v, Cache-Control %q", j, hdr.Get("Cache-Control"))
	}
	var d deleted
	wantREST(t, "DELETE", e.url+"/api/clients/client-aaaa/likes", "", 200, &d)
	if d.Deleted != 3 || d.Kept.Reactions != 1 || len(fh.deleted) != 1 || fh.deleted[0] != "client-aaaa" {
		t.Fatalf("delete: %+v, deleted %v", d, fh.deleted)
	}
	var top []history.TopTrack
	for range 3 {
		wantREST(t, "GET", e.url+"/api/stats/top-tracks", "", 200, &top)
	}
	if len(top) != 1 || top[0].Likes != 4 || fh.topHits.Load() != 1 {
		t.Fatalf("top tracks %+v after %d queries (want 1: cached)", top, fh.topHits.Load())
	}

	// A failing database: history and recaps fall back to the streams,
	// the rest is 503 unavailable.
	fh.fail = errors.New("connection refused")
	wantREST(t, "GET", e.url+"/api/sessions/"+inDB+"/history", "", 200, &plays)
	if len(plays) != 1 || plays[0].Title != "Only In The Stream" {
		t.Fatalf("history with the database down: %+v", plays)
	}
	wantREST(t, "GET", e.url+"/api/sessions/"+inDB+"/recap", "", 200, &r)
	if len(r.Plays) != 1 || r.Plays[0].Title != "Only In The Stream" {
		t.Fatalf("recap with the database down: %+v", r)
	}
	wantREST(t, "GET", e.url+"/api/sessions/recent", "", 503, nil)
	wantREST(t, "GET", e.url+"/api/clients/client-aaaa/likes", "", 503, nil)
}
