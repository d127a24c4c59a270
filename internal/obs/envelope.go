package obs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ScrubEnvelope rewrites a Sentry envelope sent by a page before it is
// forwarded to dsn: the envelope header is replaced (only dsn, event_id
// and sent_at), only "event" items are kept (a page has nothing else to
// send; attachments, replays and sessions could carry anything), and each
// event is scrubbed like ScrubEvent: no user, no request but its method
// and path, every string scrubbed, release and environment forced to ours
// when given. It fails on a malformed envelope or one with no event.
func ScrubEnvelope(data []byte, dsn, release, environment string) ([]byte, error) {
	r := bufio.NewReader(bytes.NewReader(data))
	line, err := readLine(r)
	if err != nil {
		return nil, fmt.Errorf("obs: envelope header: %w", err)
	}
	var head struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return nil, fmt.Errorf("obs: envelope header: %w", err)
	}
	var out bytes.Buffer
	h, _ := json.Marshal(map[string]string{"event_id": hexOnly(head.EventID), "dsn": dsn, "sent_at": time.Now().UTC().Format(time.RFC3339)})
	out.Write(h)
	out.WriteByte('\n')
	events := 0
	for {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("obs: envelope item header: %w", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ih struct {
			Type   string `json:"type"`
			Length *int   `json:"length"`
		}
		if err := json.Unmarshal(line, &ih); err != nil {
			return nil, fmt.Errorf("obs: envelope item header: %w", err)
		}
		var payload []byte
		if ih.Length != nil {
			if *ih.Length < 0 || *ih.Length > len(data) {
				return nil, errors.New("obs: envelope item length out of range")
			}
			payload = make([]byte, *ih.Length)
			if _, err := io.ReadFull(r, payload); err != nil {
				return nil, fmt.Errorf("obs: envelope item: %w", err)
			}
			_, _ = r.ReadByte() // the newline after it, if any
		} else if payload, err = readLine(r); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("obs: envelope item: %w", err)
		}
		if ih.Type != "event" {
			continue
		}
		ev, err := scrubEventJSON(payload, release, environment)
		if err != nil {
			return nil, err
		}
		ihOut, _ := json.Marshal(map[string]any{"type": "event", "length": len(ev), "content_type": "application/json"})
		out.Write(ihOut)
		out.WriteByte('\n')
		out.Write(ev)
		out.WriteByte('\n')
		events++
	}
	if events == 0 {
		return nil, errors.New("obs: envelope holds no event")
	}
	return out.Bytes(), nil
}

func scrubEventJSON(payload []byte, release, environment string) ([]byte, error) {
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("obs: envelope event: %w", err)
	}
	// The request is kept only as method and path: its headers, cookies,
	// query and body never leave.
	var req map[string]any
	if rq, ok := ev["request"].(map[string]any); ok {
		req = map[string]any{}
		if u, ok := rq["url"].(string); ok {
			req["url"] = scrubURL(u)
		}
		if m, ok := rq["method"].(string); ok {
			req["method"] = Scrub(m)
		}
	}
	clean, _ := scrubAny(ev).(map[string]any)
	delete(clean, "user")
	delete(clean, "request")
	delete(clean, "server_name") // a phone's name, from a page
	if req != nil {
		clean["request"] = req
	}
	if release != "" {
		clean["release"] = release
	}
	if environment != "" {
		clean["environment"] = environment
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return nil, fmt.Errorf("obs: envelope event: %w", err)
	}
	return b, nil
}

// readLine reads up to and without the next newline.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	return bytes.TrimSuffix(line, []byte("\n")), err
}

// hexOnly keeps an event id only if it is one (32 hex digits), else makes
// none: Sentry assigns one.
func hexOnly(s string) string {
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return ""
	}
	if _, err := strconv.ParseUint(s[:16], 16, 64); err != nil {
		return ""
	}
	if _, err := strconv.ParseUint(s[16:], 16, 64); err != nil {
		return ""
	}
	return s
}
