package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop"
	"github.com/pika-dj/pika/gateway"
	"github.com/pika-dj/pika/internal/history"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/persister/pgstore"
	"github.com/pika-dj/pika/persister/pgstore/pgstoretest"
)

// pgstore is the gateway's history.
var _ gateway.History = (*pgstore.Store)(nil)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// newStore opens a store on a fresh, migrated database.
func newStore(t *testing.T) *pgstore.Store { return pgstoretest.New(t) }

// startHistoryGateway serves a gateway over b reading history from h (nil:
// none) until the test ends, and returns its base URL.
func startHistoryGateway(t *testing.T, b *testenv.Bus, id string, h gateway.History) string {
	t.Helper()
	cfg := gateway.Config{JS: b.JS, KV: b.KV, Conn: b.Conn, ID: id,
		Stream: bus.StreamName(b.DJ), ActionsStream: bus.ActionsStreamName(b.DJ)}
	if h != nil {
		cfg.History = h // a nil *Store in the interface would not be "no database"
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// streamContents reads every message stored in stream, decoded by decode.
func streamContents[T any](t *testing.T, js jetstream.JetStream, stream string, decode func([]byte) (T, error)) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("%s message %d: %v", stream, seq, err)
		}
		v, err := decode(m.Data)
		if err != nil {
			t.Fatalf("%s message %d: %v", stream, seq, err)
		}
		out = append(out, v)
	}
	return out
}

// command sends one DJ command to the session's owner, as the console's
// gateway does, and fails the test unless it is accepted.
func command(t *testing.T, b *testenv.Bus, c bus.Command) bus.CommandReply {
	t.Helper()
	c.V = bus.Version
	data, _ := json.Marshal(c)
	msg, err := b.Conn.Request(bus.CommandSubject(c.Session), data, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep bus.CommandReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil || !rep.OK {
		t.Fatalf("%s: %s %v", c.Kind, msg.Data, err)
	}
	return rep
}

// act sends a dancer frame and fails the test unless it is accepted.
func (p *phone) act(ref string, f map[string]any) {
	p.t.Helper()
	f["ref"] = ref
	p.send(f)
	if r := p.reply(ref); r["type"] != "ok" {
		p.t.Fatalf("%s: %v", ref, r)
	}
}

func getInto(t *testing.T, method, url, bearer string, status int, into any) []byte {
	t.Helper()
	code, _, body := testenv.Request(t, method, url, bearer)
	if code != status {
		t.Fatalf("%s %s: %d %s, want %d", method, url, code, body, status)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, body)
		}
	}
	return body
}

// lanNight plays a night through the real DJ side and real phones: plays
// (one hidden, one corrected), likes and an unlike, tempo votes, a poll,
// thank-yous, the end. It returns the session id, its DJ secret and the
// play ids in order.
func lanNight(t *testing.T, b *testenv.Bus, eng *desktop.Engine, own *desktop.Owner, gw string) (string, string, []string) {
	t.Helper()
	ctx := context.Background()
	var plays []string
	play := func(artist, title string, bpm float64) string {
		tr := bus.NewTrack(artist, title)
		tr.BPM, tr.Key = bpm, "8A"
		ev, _, err := eng.Play(ctx, desktop.Detected{Track: tr, Source: "test"})
		if err != nil {
			t.Fatal(err)
		}
		plays = append(plays, ev.ID)
		return ev.ID
	}
	p1 := play("Example Band", "Slow Dance", 96)
	sid := ""
	if st, ok := eng.State(); ok {
		sid = st.ID
	}
	var secret string
	testenv.Eventually(t, 5*time.Second, "the session's secret", func() bool {
		var ok bool
		secret, ok = own.Secret(sid)
		return ok
	})
	p2 := play("Typo Artst", "Typo Titel", 102)
	command(t, b, bus.Command{Kind: bus.CmdPlayCorrect, Session: sid, Secret: secret, PlayID: p2, Title: "Fixed Title", Artist: "Fixed Artist"})
	p3 := play("Secret", "Unreleased Edit", 90)
	command(t, b, bus.Command{Kind: bus.CmdPlayHide, Session: sid, Secret: secret, PlayID: p3})
	p4 := play("Crowd", "Favourite", 100)
	// A play while the track list is paused is withheld like a hidden one,
	// in PostgreSQL as in the streams.
	command(t, b, bus.Command{Kind: bus.CmdBroadcastPause, Session: sid, Secret: secret})
	play("Private", "While Paused", 95)
	command(t, b, bus.Command{Kind: bus.CmdBroadcastResume, Session: sid, Secret: secret})

	alice, bob, carol := dial(t, gw), dial(t, gw), dial(t, gw)
	alice.subscribe(sid, "c-alice-01")
	bob.subscribe(sid, "c-bob-0002")
	carol.subscribe(sid, "c-carol-03")
	for i, ph := range []*phone{alice, bob, carol} {
		ph.act("like4", map[string]any{"type": "like", "playId": p4})
		if i < 2 {
			ph.act("like1", map[string]any{"type": "like", "playId": p1})
		}
	}
	bob.act("unlike1", map[string]any{"type": "unlike", "playId": p1})
	alice.act("like2", map[string]any{"type": "like", "playId": p2})
	alice.act("t1", map[string]any{"type": "tempo", "playId": p4, "tempo": "slower"})
	alice.act("t2", map[string]any{"type": "tempo", "playId": p4, "tempo": "perfect"})
	bob.act("t3", map[string]any{"type": "tempo", "playId": p4, "tempo": "faster"})
	carol.act("t4", map[string]any{"type": "tempo", "playId": p4, "tempo": "slower"})
	carol.act("t5", map[string]any{"type": "tempo", "playId": p4, "tempo": "clear"})
	bob.act("t6", map[string]any{"type": "tempo", "playId": p1, "tempo": "slower"})
	rep := command(t, b, bus.Command{Kind: bus.CmdPollStart, Session: sid, Secret: secret, Question: "Tempo check", Options: []string{"Slower", "Perfect", "Faster"}})
	for _, ph := range []*phone{alice, bob, carol} {
		ph.wait("the poll", func(f map[string]any) bool { return f["type"] == string(bus.TypePollStarted) })
	}
	alice.act("v1", map[string]any{"type": "vote", "pollId": rep.ID, "option": 1})
	bob.act("v2", map[string]any{"type": "vote", "pollId": rep.ID, "option": 1})
	carol.act("v3", map[string]any{"type": "vote", "pollId": rep.ID, "option": 2})
	command(t, b, bus.Command{Kind: bus.CmdPollEnd, Session: sid, Secret: secret, PollID: rep.ID})
	carol.act("th1", map[string]any{"type": "thanks"})
	carol.act("th2", map[string]any{"type": "thanks"})
	command(t, b, bus.Command{Kind: bus.CmdSessionEnd, Session: sid, Secret: secret})
	return sid, secret, plays
}

// TestHistoryREST plays a night on the real DJ side, writes the streams'
// events and actions to PostgreSQL with pgstore.WriteBatch, and checks
// every history endpoint: a recap from PostgreSQL is the recap folded from
// the streams, the DJ's part needs the DJ's secret, a profile holds only
// its own DJ's sessions, and a journal deletion leaves nothing behind.
func TestHistoryREST(t *testing.T) {
	b := testenv.NATS(t)
	eng, own := djSide(t, b)
	store := newStore(t)
	lan := startHistoryGateway(t, b, "gw-lan", nil)
	sid, secret, plays := lanNight(t, b, eng, own, lan)

	// Seed PostgreSQL with exactly what the streams hold.
	events := streamContents(t, b.JS, bus.StreamName(b.DJ), bus.Decode)
	actions := streamContents(t, b.JS, bus.ActionsStreamName(b.DJ), bus.DecodeAction)
	// A second DJ who calls themselves the same: their session must never
	// show on the first DJ's profile.
	other := bus.NewDJID()
	otherSID := bus.NewID(time.Now())
	at := time.Now().UTC().Add(-time.Hour)
	events = append(events,
		bus.Event{V: 1, ID: bus.NewID(at), Type: bus.TypeSessionStarted, Session: otherSID, Seq: 1, At: at, DJ: other,
			Started: &bus.SessionStarted{DJName: "DJ E2E"}},
		bus.Event{V: 1, ID: bus.NewID(at), Type: bus.TypeTrackPlayed, Session: otherSID, Seq: 2, At: at, DJ: other,
			Play: &bus.Play{Track: bus.NewTrack("Impostor", "Not Mine")}},
		bus.Event{V: 1, ID: bus.NewID(at), Type: bus.TypeSessionEnded, Session: otherSID, Seq: 3, At: at.Add(time.Minute), DJ: other,
			Ended: &bus.SessionEnded{Reason: bus.EndByDJ}})
	actions = append(actions, bus.Action{V: 1, ID: bus.NewID(at), Kind: bus.ActLike, Session: otherSID, Client: "c-alice-01",
		At: at.Add(30 * time.Second), PlayID: events[len(events)-2].ID})
	ctx := context.Background()
	if err := store.WriteBatch(ctx, events, actions); err != nil {
		t.Fatal(err)
	}
	db := startHistoryGateway(t, b, "gw-db", store)

	// The recap: from PostgreSQL, the same as folded from the streams.
	recapURL := "/api/sessions/" + sid + "/recap"
	for _, who := range []string{"", secret} {
		var fromStream, fromDB history.Recap
		getInto(t, "GET", lan+recapURL, who, 200, &fromStream)
		getInto(t, "GET", db+recapURL, who, 200, &fromDB)
		// The stream knows the last poll or end event; PostgreSQL the
		// session's end: both are "ended", which is what people read.
		fromStream.Session.LastActivityAt, fromDB.Session.LastActivityAt = time.Time{}, time.Time{}
		normalizeTimes(&fromStream)
		normalizeTimes(&fromDB)
		if !reflect.DeepEqual(fromStream, fromDB) {
			a, _ := json.Marshal(fromStream)
			b, _ := json.Marshal(fromDB)
			t.Fatalf("owner=%v: recap from the streams\n%s\nand from PostgreSQL\n%s\ndiffer", who != "", a, b)
		}
		r := fromDB
		if who == "" {
			if r.Owner || r.Polls != nil || r.Thanks != nil || len(r.Plays) != 3 {
				t.Fatalf("public recap: %s", mustJSON(r))
			}
		} else if !r.Owner || len(r.Polls) != 1 || r.Polls[0].Total != 3 || r.Polls[0].Winner != 1 || *r.Thanks != 2 || len(r.Plays) != 5 || !r.Plays[2].Hidden || !r.Plays[4].Hidden {
			t.Fatalf("DJ's recap: %s", mustJSON(r))
		}
		if r.TrackCount != 3 || r.TotalLikes != 5 || r.MostLiked != plays[3] || r.Session.Status != "ended" ||
			r.Plays[1].Title != "Fixed Title" || r.Plays[0].Likes != 1 || r.Plays[0].Tempo != (history.Tempo{Slower: 1}) {
			t.Fatalf("recap: %s", mustJSON(r))
		}
		var last history.Play
		for _, p := range r.Plays {
			if p.PlayID == plays[3] {
				last = p
			}
		}
		if last.PlayID != plays[3] || last.Likes != 3 || last.Tempo != (history.Tempo{Perfect: 1, Faster: 1}) || last.BPM != 100 || last.Key != "8A" {
			t.Fatalf("most liked play: %+v", last)
		}
	}
	// The DJ's part is refused with a wrong secret, on both gateways.
	for _, g := range []string{lan, db} {
		if code, _, body := testenv.Request(t, "GET", g+recapURL, bus.NewSecret()); code != 403 || !strings.Contains(string(body), `"forbidden"`) {
			t.Fatalf("wrong secret: %d %s", code, body)
		}
		for _, who := range []string{"", bus.NewSecret()} {
			if code, _, _ := testenv.Request(t, "GET", g+recapURL+".csv", who); code != 403 {
				t.Fatalf("csv with secret %q: %d", who, code)
			}
		}
		if code, _, _ := testenv.Request(t, "GET", g+recapURL+"?secret="+secret, ""); code != 400 {
			t.Fatalf("a secret in the query string: %d", code)
		}
	}
	// The CSV, from PostgreSQL and from the streams alike.
	var csvs []string
	for _, g := range []string{lan, db} {
		code, hdr, body := testenv.Request(t, "GET", g+recapURL+".csv", secret)
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Disposition"), "attachment;") {
			t.Fatalf("csv: %d %v %s", code, hdr, body)
		}
		csvs = append(csvs, string(body))
	}
	if csvs[0] != csvs[1] {
		t.Fatalf("csv from the streams\n%s\nfrom PostgreSQL\n%s", csvs[0], csvs[1])
	}
	rows, err := csv.NewReader(strings.NewReader(csvs[1])).ReadAll()
	if err != nil || len(rows) != 6 || strings.Join(rows[4][2:], ",") != "Crowd,Favourite,100,8A,3,0,1,1,false" ||
		strings.Join(rows[5][2:], ",") != "Private,While Paused,95,8A,0,0,0,0,true" {
		t.Fatalf("csv rows %q %v", rows, err)
	}

	// The session's history, from PostgreSQL: newest first, nothing hidden.
	var hist []bus.PlayedTrack
	getInto(t, "GET", db+"/api/sessions/"+sid+"/history", "", 200, &hist)
	if len(hist) != 3 || hist[0].PlayID != plays[3] || hist[1].Title != "Fixed Title" || hist[2].PlayID != plays[0] {
		t.Fatalf("history: %s", mustJSON(hist))
	}

	// Recent sessions: both ended nights, newest end first.
	var recent []history.Session
	getInto(t, "GET", db+"/api/sessions/recent", "", 200, &recent)
	if len(recent) != 2 || recent[0].ID != sid || recent[1].ID != otherSID || recent[0].TrackCount != 3 || recent[0].Likes != 5 ||
		recent[0].DJID != b.DJ || recent[0].Status != "ended" {
		t.Fatalf("recent: %s", mustJSON(recent))
	}

	// The DJ's profile: only this DJ id's sessions, never the namesake's.
	var prof history.DJProfile
	getInto(t, "GET", db+"/api/djs/"+b.DJ, "", 200, &prof)
	if prof.Name != "DJ E2E" || len(prof.Sessions) != 1 || prof.Sessions[0].ID != sid ||
		prof.Totals != (history.Totals{Sessions: 1, Tracks: 3, Likes: 5}) {
		t.Fatalf("profile: %s", mustJSON(prof))
	}
	getInto(t, "GET", db+"/api/djs/"+other, "", 200, &prof)
	if len(prof.Sessions) != 1 || prof.Sessions[0].ID != otherSID {
		t.Fatalf("the namesake's profile: %s", mustJSON(prof))
	}
	getInto(t, "GET", db+"/api/djs/"+bus.NewDJID(), "", 404, nil)

	// Top tracks.
	var top []history.TopTrack
	getInto(t, "GET", db+"/api/stats/top-tracks", "", 200, &top)
	if len(top) != 4 || top[0].Title != "Favourite" || top[0].Likes != 3 || top[0].Plays != 1 {
		t.Fatalf("top tracks: %s", mustJSON(top))
	}
	for _, tt := range top {
		if tt.Title == "Unreleased Edit" {
			t.Fatal("a hidden play is in the chart")
		}
	}

	// Alice's journal: her likes across both DJs' nights, newest first,
	// never the hidden play.
	var j history.Journal
	getInto(t, "GET", db+"/api/clients/c-alice-01/likes", "", 200, &j)
	if len(j.Likes) != 4 || j.Kept.Likes != 4 || j.Kept.TempoVotes != 1 || j.Kept.PollVotes != 1 || j.Kept.Reactions != 0 {
		t.Fatalf("journal: %s", mustJSON(j))
	}
	titles := []string{}
	for _, l := range j.Likes {
		titles = append(titles, l.Title+" / "+l.DJName)
		if l.Title == "Unreleased Edit" || l.SessionID == "" || l.DJID == "" {
			t.Fatalf("journal entry %+v", l)
		}
	}
	if titles[0] != "Fixed Title / DJ E2E" || j.Likes[0].DJID != b.DJ || titles[3] != "Not Mine / DJ E2E" || j.Likes[3].DJID != other {
		t.Fatalf("journal order %q", titles)
	}

	// Carol deletes her journal: nothing of her id is left in any table.
	var del struct {
		ClientID string       `json:"clientId"`
		Deleted  int64        `json:"deleted"`
		Before   history.Kept `json:"before"`
	}
	getInto(t, "DELETE", db+"/api/clients/c-carol-03/likes", "", 200, &del)
	// A like, a (cleared) tempo vote, a poll vote, two thank-yous.
	if del.Deleted != 5 || del.Before != (history.Kept{Likes: 1, TempoVotes: 1, PollVotes: 1, Reactions: 2}) {
		t.Fatalf("deletion: %+v", del)
	}
	leftOf := func(client string) map[string]int {
		left := map[string]int{}
		for _, table := range []string{"likes", "tempo_votes", "poll_votes", "reactions"} {
			var n int
			if err := store.Pool().QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE client_id = $1", client).Scan(&n); err != nil {
				t.Fatal(err)
			}
			left[table] = n
		}
		// No other table holds a client id: check that stays so.
		var cols []string
		r, err := store.Pool().Query(ctx, `SELECT table_name FROM information_schema.columns WHERE column_name = 'client_id' AND table_schema = 'public' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var c string
			_ = r.Scan(&c)
			cols = append(cols, c)
		}
		if r.Err() != nil || strings.Join(cols, ",") != "likes,poll_votes,reactions,tempo_votes" {
			t.Fatalf("tables with a client_id: %v %v", cols, r.Err())
		}
		return left
	}
	if left := leftOf("c-carol-03"); left["likes"]+left["tempo_votes"]+left["poll_votes"]+left["reactions"] != 0 {
		t.Fatalf("left of the deleted dancer: %v", left)
	}
	getInto(t, "GET", db+"/api/clients/c-carol-03/likes", "", 200, &j)
	if len(j.Likes) != 0 || j.Kept.Total() != 0 {
		t.Fatalf("journal after deletion: %s", mustJSON(j))
	}
	// Others keep theirs; the favourite lost one like.
	if left := leftOf("c-alice-01"); left["likes"] != 4 {
		t.Fatalf("alice's rows after carol's deletion: %v", left)
	}
	var after history.Recap
	getInto(t, "GET", db+recapURL, "", 200, &after)
	if after.Plays[2].Likes != 2 || after.TotalLikes != 4 {
		t.Fatalf("recap after the deletion: %s", mustJSON(after))
	}

	// Bad input.
	getInto(t, "GET", db+"/api/clients/no/likes", "", 400, nil)
	getInto(t, "GET", db+"/api/djs/nobody", "", 400, nil)
}

// normalizeTimes keeps what PostgreSQL keeps of a time (UTC, microseconds),
// so recaps read through different paths compare equal.
func normalizeTimes(r *history.Recap) {
	fix := func(t *time.Time) { *t = t.UTC().Truncate(time.Microsecond) }
	fixP := func(t *time.Time) {
		if t != nil {
			fix(t)
		}
	}
	fix(&r.Session.StartedAt)
	fixP(r.Session.EndedAt)
	for i := range r.Plays {
		fix(&r.Plays[i].PlayedAt)
	}
	for i := range r.Polls {
		fix(&r.Polls[i].StartedAt)
		fixP(r.Polls[i].EndsAt)
		fixP(r.Polls[i].ClosedAt)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
