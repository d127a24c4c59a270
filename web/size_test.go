package web

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

// budget is the most the dancer page may cost on first load, gzip-compressed:
// phones on a hotel's bad Wi-Fi must get the track on screen fast.
const budget = 60 << 10

var (
	htmlRef   = regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["'](/assets/[^"'?#]+)`)
	jsImport  = regexp.MustCompile(`(?m)(?:^|[;\s])import\s*(?:[\w*{}\s,$]+\s*from\s*)?["']([^"']+)["']`)
	jsDynamic = regexp.MustCompile(`import\(\s*["']([^"']+)["']\s*\)`)
	cssRef    = regexp.MustCompile(`(?:url\(\s*["']?|@import\s+["'])([^"')]+)`)
)

// firstLoad returns every file a page loads, as paths inside Assets(): the
// page itself, the /assets files its HTML names, and what those import.
func firstLoad(t *testing.T, fsys fs.FS, page string) []string {
	t.Helper()
	seen := map[string]bool{page: true}
	order := []string{page}
	queue := []string{page}
	add := func(from, ref string) {
		if strings.HasPrefix(ref, "data:") || strings.Contains(ref, "://") {
			return
		}
		var p string
		if strings.HasPrefix(ref, "/") {
			p = strings.TrimPrefix(ref, "/")
		} else {
			p = path.Join(path.Dir(from), ref)
		}
		if !seen[p] {
			seen[p] = true
			order = append(order, p)
			queue = append(queue, p)
		}
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var refs [][][]byte
		switch path.Ext(name) {
		case ".html":
			refs = htmlRef.FindAllSubmatch(data, -1)
		case ".js":
			refs = append(jsImport.FindAllSubmatch(data, -1), jsDynamic.FindAllSubmatch(data, -1)...)
		case ".css":
			refs = cssRef.FindAllSubmatch(data, -1)
		}
		for _, m := range refs {
			add(name, string(m[1]))
		}
	}
	return order
}

func gzipSize(t *testing.T, data []byte) int {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

func TestDancerPageFirstLoadBudget(t *testing.T) {
	checkBudget(t, "dancer page", "session.html", "assets/session.js", "assets/outbox.js", "assets/conn.js", "assets/util.js", "assets/app.css")
}

// The DJ console runs on the DJ's laptop, often on the same venue Wi-Fi: it
// gets the same budget.
func TestConsoleFirstLoadBudget(t *testing.T) {
	checkBudget(t, "DJ console", "dj.html", "assets/console.js", "assets/conn.js", "assets/util.js", "assets/console.css")
}

// The history pages (issue 4) are opened on the same phones, often on
// the way home: the same budget each.
func TestHistoryPagesFirstLoadBudget(t *testing.T) {
	checkBudget(t, "recap page", "recap.html", "assets/recap.js", "assets/pages.js", "assets/util.js", "assets/app.css", "assets/history.css")
	checkBudget(t, "journal page", "me.html", "assets/me.js", "assets/pages.js", "assets/util.js", "assets/app.css", "assets/history.css")
	checkBudget(t, "DJ profile page", "dj-profile.html", "assets/djprofile.js", "assets/pages.js", "assets/util.js", "assets/app.css", "assets/history.css")
}

func checkBudget(t *testing.T, what, page string, want ...string) {
	t.Helper()
	fsys := Assets()
	files := firstLoad(t, fsys, page)
	for _, w := range want {
		if !contains(files, w) {
			t.Errorf("the %s does not load %s (found %v)", what, w, files)
		}
	}
	total, raw := 0, 0
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			t.Fatal(err)
		}
		n := gzipSize(t, data)
		total += n
		raw += len(data)
		t.Logf("%-32s %6d bytes, %6d gzipped", f, len(data), n)
	}
	t.Logf("%s first load: %d files, %d bytes, %d bytes gzipped (budget %d)", what, len(files), raw, total, budget)
	if total > budget {
		t.Fatalf("%s first load is %d bytes gzipped, over the %d-byte budget", what, total, budget)
	}
}

func TestPagesAndTheirAssetsExist(t *testing.T) {
	fsys := Assets()
	for _, page := range []string{"index.html", "session.html", "dj.html", "recap.html", "me.html", "dj-profile.html"} {
		files := firstLoad(t, fsys, page) // fails on a missing file
		if len(files) < 3 {
			t.Errorf("%s loads only %v", page, files)
		}
	}
	if _, err := fs.Stat(fsys, "assets/manifest.webmanifest"); err != nil {
		t.Error(err)
	}
}

// TestConsoleSecretStaysInTheFragment guards the rule that the DJ secret is
// read from the URL fragment and sessionStorage only, and never written into
// a request URL or a cookie.
func TestConsoleSecretStaysInTheFragment(t *testing.T) {
	data, err := fs.ReadFile(Assets(), "assets/console.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"document.cookie", "localStorage.setItem('pika.dj", "fetch(", "XMLHttpRequest", "sendBeacon"} {
		if bytes.Contains(data, []byte(bad)) {
			t.Errorf("console.js contains %q: the DJ secret must stay in the fragment and sessionStorage", bad)
		}
	}
	if !bytes.Contains(data, []byte("location.hash")) || !bytes.Contains(data, []byte("sessionStorage")) {
		t.Error("console.js no longer reads the secret from location.hash and sessionStorage")
	}
}

// TestRecapSecretStaysOutOfURLs guards the same rule on the recap page: the
// DJ secret comes from the fragment, is kept in sessionStorage, leaves the
// address bar, and travels only in an Authorization header.
func TestRecapSecretStaysOutOfURLs(t *testing.T) {
	data, err := fs.ReadFile(Assets(), "assets/recap.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"document.cookie", "localStorage", "sendBeacon", "?secret", "&secret", "?k=", "'k=' + secret"} {
		if bytes.Contains(data, []byte(bad)) {
			t.Errorf("recap.js contains %q: the DJ secret must stay out of URLs, cookies and localStorage", bad)
		}
	}
	for _, want := range []string{"location.hash", "sessionStorage", "history.replaceState", "Authorization: 'Bearer ' + secret"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("recap.js no longer has %q", want)
		}
	}
}

// TestNoHTMLFromData guards the rule that track titles, DJ names and every
// other string from the network reach the page as text, never as markup.
func TestNoHTMLFromData(t *testing.T) {
	fsys := Assets()
	scripts, err := fs.Glob(fsys, "assets/*.js")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, name := range scripts {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if bytes.Contains(data, []byte(bad)) {
				t.Errorf("%s uses %s: put network strings in with textContent", name, bad)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
