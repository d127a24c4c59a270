package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/internal/testenv"
)

// TestBrowserDancerPage: Debian's Chromium, driven through playwright-core,
// opens the dancer page at phone size; a track appended to the watched file
// appears on the page. The screenshot lands in test-results/.
func TestBrowserDancerPage(t *testing.T) {
	node, root := needBrowser(t)
	dir := t.TempDir()
	hist := newHistory(t, filepath.Join(dir, "history.m3u"))
	base, _, _ := startLAN(t, "--data", filepath.Join(dir, "data"), "--watch", hist.path, "--dj-name", "DJ Nova")
	for _, s := range []string{"The Velvet Anchors - Honey in the Static", "Marlow Reyes - Slow Burn Sunday"} {
		hist.append(s)
	}
	sess := liveSession(t, base, "Slow Burn Sunday")

	shot := filepath.Join(root, "test-results", "dancer-page.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "web/e2e/dancer.mjs"),
		"--url", base+"/s/"+sess.ID, "--expect", "Glass Porch Lights", "--screenshot", shot, "--timeout", "20000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	ready := false
	for lines.Scan() {
		if strings.TrimSpace(lines.Text()) == "READY" {
			ready = true
			break
		}
	}
	if !ready {
		_ = cmd.Wait()
		t.Fatalf("the page never said READY:\n%s", stderr.String())
	}
	// The page is live: now the DJ plays the next track.
	hist.append("June Calloway - Glass Porch Lights")
	rest := []string{}
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the page did not show the new track: %v\nstdout: %s\nstderr: %s", err, rest, stderr.String())
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 1000 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
}

// needBrowser returns node and the repository root, after checking that
// Chromium and playwright-core are there (skipping locally, failing in CI).
func needBrowser(t *testing.T) (node, root string) {
	t.Helper()
	node = testenv.Need(t, "node")
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
	return node, root
}

// TestBrowserCrowd: two dancer pages and the DJ console in Chromium. A like
// on phone 1 appears on the console; a poll started on the console appears
// on both phones, and their votes update the results everywhere.
// Screenshots go to test-results/crowd/.
func TestBrowserCrowd(t *testing.T) {
	node, root := needBrowser(t)
	dir := t.TempDir()
	hist := newHistory(t, filepath.Join(dir, "history.m3u"))
	base, r, _ := startLAN(t, "--data", filepath.Join(dir, "data"), "--watch", hist.path, "--dj-name", "DJ Nova")
	hist.append("The Velvet Anchors - Honey in the Static")
	hist.append("Marlow Reyes - Slow Burn Sunday")
	sess := liveSession(t, base, "Slow Burn Sunday")
	var secret string
	testenv.Eventually(t, 5*time.Second, "the session's DJ secret", func() bool {
		var ok bool
		secret, ok = r.Owner.Secret(sess.ID)
		return ok
	})
	shots := filepath.Join(root, "test-results", "crowd")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "web/e2e/crowd.mjs"),
		"--base", base, "--session", sess.ID, "--secret", secret, "--shots", shots, "--timeout", "30000")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("crowd round trip in Chromium: %v\n%s", err, out)
	}
	for _, png := range []string{"phone1.png", "phone2.png", "console.png"} {
		if st, err := os.Stat(filepath.Join(shots, png)); err != nil || st.Size() < 1000 {
			t.Fatalf("no screenshot %s: %v", png, err)
		}
	}
}
