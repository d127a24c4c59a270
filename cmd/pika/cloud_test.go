package main

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/internal/testenv"
)

// cloudWait bounds waits on the cloud: a 3-node cluster elects its leaders
// and places R3 streams in a few seconds, slower on a loaded CI machine.
const cloudWait = 45 * time.Second

// testToken has the shape of an API token. The cloud nodes here run without
// authentication (the cloud's auth is tested with it), so any well-formed
// token links.
var testToken = "pika_" + base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// startCloudNodes runs the cloud's three nodes in this process, on loopback,
// each with a WebSocket listener that takes DJs' leaf links.
func startCloudNodes(t *testing.T) []*natsserver.Server {
	t.Helper()
	return testenv.Cloud(t, func(_ int, cfg *natsserver.NodeConfig) { cfg.NoSyncAlways = true })
}

// TestLANCloudLink: `pika lan --cloud ws://… --cloud-token …` links the DJ's
// server to the cloud as a leaf; a play appended to the watched history
// reaches CLOUD_DJ_<dj> in the cloud, and a like made through the cloud
// reaches the DJ's tally, counted once even when the same like (same id)
// also comes in over the venue's Wi-Fi.
func TestLANCloudLink(t *testing.T) {
	nodes := startCloudNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*cloudWait)
	defer cancel()
	nc, err := nats.Connect(nodes[1].ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	jsC, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	hist := newHistory(t, filepath.Join(dir, "history.m3u"))
	base, r, out := startLAN(t, "--data", filepath.Join(dir, "data"), "--watch", hist.path,
		"--cloud", nodes[0].WebsocketURL(), "--cloud-token", testToken)
	if strings.Contains(out.String(), testToken) {
		t.Fatalf("the token was printed:\n%s", out)
	}
	testenv.Eventually(t, cloudWait, "the banner or the terminal saying the cloud link is up", func() bool {
		return strings.Contains(out.String(), "cloud link: up")
	})

	hist.append("Cloud Band - Up There")
	s := liveSession(t, base, "Up There")

	// The play in the cloud, under the DJ's cloud subject.
	var play bus.Event
	testenv.Eventually(t, cloudWait, "the play in "+cloud.StreamName(r.DJ), func() bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // one request lost while the cluster settles is not the end
		defer cancel()
		st, err := jsC.Stream(ctx, cloud.StreamName(r.DJ))
		if err != nil {
			return false
		}
		m, err := st.GetLastMsgForSubject(ctx, cloud.SessionSubject(r.DJ, s.ID, bus.TypeTrackPlayed))
		if err != nil {
			return false
		}
		play, err = bus.Decode(m.Data)
		return err == nil
	})
	if play.Play == nil || play.Play.Track.Title != "Up There" || play.Session != s.ID {
		t.Fatalf("cloud copy of the play = %+v", play)
	}

	phone := dial(t, base)
	phone.subscribe(s.ID, nil)
	phone.wait(e2eWait, "snapshot", isType("snapshot"))

	// A dancer in the cloud likes the play; the cloud's retry (same id) is
	// stored once there.
	like := bus.Action{V: bus.Version, ID: bus.NewID(time.Now()), Kind: bus.ActLike, Session: s.ID,
		Client: "c-e2e-test-client", At: time.Now().UTC(), PlayID: play.ID}
	for range 2 {
		if _, err := cloud.PublishCrowdAction(ctx, jsC, r.DJ, like, nil); err != nil {
			t.Fatal(err)
		}
	}
	likes := func(f map[string]any) float64 {
		l, _ := f["likes"].(map[string]any)
		n, _ := l[play.ID].(float64)
		return n
	}
	phone.wait(cloudWait, "a tally with the cloud's like", func(f map[string]any) bool {
		return f["type"] == bus.TallyType && likes(f) == 1
	})

	// The same like over the venue's Wi-Fi (a phone retrying its offline
	// queue after it moved networks), then a thank-you: once the tally
	// counts the thanks, the like before it has been folded too.
	phone.Send(map[string]any{"type": "like", "ref": "lan-like", "id": like.ID, "playId": play.ID})
	phone.wait(e2eWait, "the LAN like answered", func(f map[string]any) bool { return f["ref"] == "lan-like" })
	phone.Send(map[string]any{"type": "thanks", "ref": "lan-thanks"})
	tally := phone.wait(e2eWait, "a tally with the thanks", func(f map[string]any) bool {
		return f["type"] == bus.TallyType && f["thanks"] == float64(1)
	})
	if n := likes(tally); n != 1 {
		t.Fatalf("likes of the play = %v, want 1 (one like, from the cloud and the LAN): %v", n, tally)
	}
}

// TestLANCloudConfig: cloud settings that cannot work stop `pika lan` before
// anything starts, with one line naming the setting (exit status 2), and
// never echo the token.
func TestLANCloudConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"http scheme", []string{"--cloud", "https://cloud.example.com", "--cloud-token", testToken}, nil, "must start with wss://"},
		{"no token", []string{"--cloud", "wss://cloud.example.com"}, nil, "needs --cloud-token"},
		{"token from the environment, no cloud", nil, map[string]string{"PIKA_CLOUD_TOKEN": testToken}, "--cloud/PIKA_CLOUD_URL is not"},
		{"malformed token", []string{"--cloud", "wss://cloud.example.com", "--cloud-token", "pika_short"}, nil, "not a well-formed API token"},
		{"credentials in the URL", nil, map[string]string{"PIKA_CLOUD_URL": "wss://dj:" + testToken + "@cloud.example.com", "PIKA_CLOUD_TOKEN": testToken}, "put no user or password"},
		{"no host", []string{"--cloud", "wss:///path", "--cloud-token", testToken}, nil, "no host"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := &lockedBuffer{}
			env := map[string]string{"PIKA_DATA": t.TempDir()}
			for k, v := range c.env {
				env[k] = v
			}
			a := &app{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader(""), stdout: out, stderr: out}
			err := a.run(context.Background(), append([]string{"lan", "--addr", "127.0.0.1:0"}, c.args...))
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v (%T), want a usage error (exit status 2)", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("the error shows the token: %q", err)
			}
			if got := strings.Count(strings.TrimSpace(err.Error()), "\n"); got != 1 {
				t.Errorf("want the heading and one line, got %q", err)
			}
		})
	}
}
