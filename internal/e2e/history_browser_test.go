package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop"
	"github.com/pika-dj/pika/gateway"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/web"
)

// TestBrowserHistoryPages: two nights of one DJ, played on the real DJ
// side with real phones and written to PostgreSQL; Chromium at phone size
// opens the recap (public, then as the DJ with the CSV download), the
// journal of one of the phones (then deletes it) and the DJ's profile
// (web/e2e/history.mjs). Screenshots go to test-results/history/.
func TestBrowserHistoryPages(t *testing.T) {
	node := testenv.Need(t, "node")
	testenv.Need(t, "chromium")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "web/e2e/node_modules/playwright-core")); err != nil {
		if testenv.CI() {
			t.Fatalf("playwright-core is not installed (npm ci --prefix web/e2e): %v", err)
		}
		t.Skip("playwright-core not installed: npm ci --prefix web/e2e")
	}

	b := testenv.NATS(t)
	eng, own := djSide(t, b)
	store := newStore(t)
	live := startHistoryGateway(t, b, "gw-live", nil)
	const me = "c-browser-0001"
	ctx := context.Background()

	// Two nights. The browser's dancer likes a few tracks of each.
	night := func(tracks [][3]string, liked map[int]bool, crowd int, withPoll bool) (string, string) {
		var ids []string
		for i, tr := range tracks {
			track := bus.NewTrack(tr[0], tr[1])
			track.Key = tr[2]
			track.BPM = float64(88 + (i*7)%28)
			ev, _, err := eng.Play(ctx, desktop.Detected{Track: track, Source: "virtualdj"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ev.ID)
		}
		st, _ := eng.State()
		sid := st.ID
		var secret string
		testenv.Eventually(t, 5*time.Second, "the session's secret", func() bool {
			var ok bool
			secret, ok = own.Secret(sid)
			return ok
		})
		mine := dial(t, live)
		mine.subscribe(sid, me)
		for i, id := range ids {
			if liked[i] {
				mine.act("like-"+id, map[string]any{"type": "like", "playId": id})
			}
		}
		mine.act("tempo", map[string]any{"type": "tempo", "playId": ids[len(ids)-1], "tempo": "perfect"})
		for c := range crowd {
			p := dial(t, live)
			p.subscribe(sid, "c-crowd-"+string(rune('a'+c))+"-0001")
			for i, id := range ids {
				if (i+c)%3 != 0 || i == 4 {
					p.act("l"+id, map[string]any{"type": "like", "playId": id})
				}
				if (i*3+c)%4 != 3 {
					p.act("t"+id, map[string]any{"type": "tempo", "playId": id, "tempo": []string{"perfect", "slower", "perfect", "faster", "perfect"}[(i+2*c)%5]})
				}
			}
			p.act("th", map[string]any{"type": "thanks"})
		}
		if withPoll {
			rep := command(t, b, bus.Command{Kind: bus.CmdPollStart, Session: sid, Secret: secret, Question: "What next?", Options: []string{"Blues", "Contemporary", "Classic swing"}})
			mine.wait("the poll", func(f map[string]any) bool { return f["type"] == string(bus.TypePollStarted) })
			mine.act("vote", map[string]any{"type": "vote", "pollId": rep.ID, "option": 1})
			command(t, b, bus.Command{Kind: bus.CmdPollEnd, Session: sid, Secret: secret, PollID: rep.ID})
		}
		command(t, b, bus.Command{Kind: bus.CmdSessionEnd, Session: sid, Secret: secret})
		return sid, secret
	}
	night([][3]string{
		{"Marlow Reyes", "Slow Burn Sunday", "8A"},
		{"June Calloway", "Glass Porch Lights", "5B"},
		{"The Velvet Anchors", "Honey in the Static", "11A"},
	}, map[int]bool{1: true}, 3, false)
	sid, secret := night([][3]string{
		{"The Velvet Anchors", "Honey in the Static", "11A"},
		{"Ada Moreno", "Cardamom & Cold Brew", "4A"},
		{"Felix Oduya", "Lanterns Over Lake Street", "9B"},
		{"Marlow Reyes", "Slow Burn Sunday", "8A"},
		{"June Calloway", "Two Left Feet, One Right Song (Extended Mix)", "2A"},
		{"Nightjar Collective", "Anchor Point", "7A"},
		{"Sol & the Sideways", "Whip It Gently", "10B"},
		{"Priya Lake", "Low Tide Radio", "6A"},
	}, map[int]bool{0: true, 4: true, 6: true}, 5, true)

	events := streamContents(t, b.JS, bus.StreamName(b.DJ), bus.Decode)
	actions := streamContents(t, b.JS, bus.ActionsStreamName(b.DJ), bus.DecodeAction)
	if err := store.WriteBatch(ctx, events, actions); err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{JS: b.JS, KV: b.KV, Conn: b.Conn, ID: "gw-pages", Assets: web.Assets(), History: store,
		Stream: bus.StreamName(b.DJ), ActionsStream: bus.ActionsStreamName(b.DJ)})
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
	base := "http://" + ln.Addr().String()

	shots := filepath.Join(root, "test-results", "history")
	cctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, filepath.Join(root, "web/e2e/history.mjs"),
		"--base", base, "--session", sid, "--secret", secret, "--client", me, "--dj", b.DJ, "--shots", shots, "--timeout", "20000")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("history pages in Chromium: %v\n%s", err, out)
	}
	for _, png := range []string{"recap.png", "recap-dj.png", "me.png", "me-confirm.png", "me-deleted.png", "dj-profile.png", "lobby.png"} {
		if st, err := os.Stat(filepath.Join(shots, png)); err != nil || st.Size() < 1000 {
			t.Fatalf("no screenshot %s: %v", png, err)
		}
	}
	// The page's deletion reached PostgreSQL: nothing of that dancer is left.
	for _, table := range []string{"likes", "tempo_votes", "poll_votes", "reactions"} {
		var n int
		if err := store.Pool().QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE client_id = $1", me).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s still holds %d rows of the deleted journal (%v)", table, n, err)
		}
	}
	t.Logf("screenshots: %s", shots)
}
