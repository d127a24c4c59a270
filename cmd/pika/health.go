package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// healthTimeout bounds `pika health`: a container health check that hangs
// says nothing.
const healthTimeout = 3 * time.Second

// health runs `pika health <url>`, the containers' health check (the image
// is distroless: no curl or wget): exit 0 when the URL answers 2xx within
// 3 s, else exit 1 with one line saying what it answered.
func (a *app) health(ctx context.Context, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageError{"pika health: say which URL to check, e.g. pika health http://127.0.0.1:3000/healthz"}
	}
	if u, err := url.Parse(args[0]); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Sprintf("pika health %q: must be an http:// or https:// URL", args[0])}
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := checkHealth(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "ok")
	return nil
}

// checkHealth GETs target and fails unless it answers 2xx, saying the
// status and the first line of the body (the reason a /healthz gives).
func checkHealth(ctx context.Context, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("health %s: %w", target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // it would repeat the URL
	}
	if err != nil {
		return fmt.Errorf("health %s: %w", target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<10))
	line := ""
	if sc.Scan() {
		line = strings.TrimSpace(sc.Text())
	}
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	if line != "" {
		return fmt.Errorf("health %s: %s: %s", target, resp.Status, line)
	}
	return fmt.Errorf("health %s: %s", target, resp.Status)
}
