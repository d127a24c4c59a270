package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPProfLoopbackOnly: --pprof/PIKA_PPROF refuses an address phones
// could reach, in one line; on a loopback address the profiler answers
// there and not on the dancers' port.
func TestPProfLoopbackOnly(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "192.168.1.20:6060", "[::]:6060", "localhost:6060", "127.0.0.1"} {
		_, err := parseLAN([]string{"--demo", "--pprof", addr}, noEnv, nil)
		if err == nil {
			t.Fatalf("--pprof %s accepted", addr)
		}
		var line string
		for _, l := range strings.Split(err.Error(), "\n") {
			if strings.Contains(l, "--pprof") {
				if line != "" {
					t.Fatalf("--pprof %s refused in more than one line:\n%s", addr, err)
				}
				line = l
			}
		}
		if !strings.Contains(line, "loopback") {
			t.Fatalf("--pprof %s: the refusal does not say why:\n%s", addr, err)
		}
	}
	if _, err := parseLAN([]string{"--demo"}, func(k string) string {
		return map[string]string{"PIKA_PPROF": "0.0.0.0:6060"}[k]
	}, nil); err == nil || !strings.Contains(err.Error(), "PIKA_PPROF") {
		t.Fatalf("PIKA_PPROF=0.0.0.0:6060: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060"} {
		if cfg, err := parseLAN([]string{"--demo", "--pprof", addr}, noEnv, nil); err != nil || cfg.PProf != addr {
			t.Fatalf("--pprof %s: %+v, %v", addr, cfg, err)
		}
	}

	base, r, _ := startLAN(t, "--demo", "--pprof", "127.0.0.1:0")
	if r.PProf == "" || r.PProf == strings.TrimPrefix(base, "http://") {
		t.Fatalf("profiler at %q, dancers at %s", r.PProf, base)
	}
	status, body := pprofGet(t, "http://"+r.PProf+"/debug/pprof/")
	if status != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("profiler port: %d\n%.300s", status, body)
	}
	if status, body := pprofGet(t, "http://"+r.PProf+"/debug/pprof/goroutine?debug=1"); status != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile: %d\n%.300s", status, body)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
		status, body := pprofGet(t, base+path)
		if strings.Contains(body, "goroutine profile:") || strings.Contains(body, "Types of profiles available") ||
			strings.Contains(body, "pika.test") {
			t.Fatalf("the dancers' port serves the profiler at %s (%d):\n%.300s", path, status, body)
		}
	}
}

func pprofGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
