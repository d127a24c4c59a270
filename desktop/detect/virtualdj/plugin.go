package virtualdj

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxReply bounds one answer of the plugin: a title or a path is well under.
const maxReply = 64 << 10

// vdjError is a VDJScript error the plugin answers with ("error:-2147467259"
// for a verb this VirtualDJ does not know): the plugin is there, the
// question is not understood.
type vdjError struct{ code string }

func (e *vdjError) Error() string { return "VirtualDJ answered error:" + e.code }

// parseReply reads one /query answer: trimmed, one pair of surrounding
// quotes removed, and a VDJScript error turned into a *vdjError.
func parseReply(b []byte) (string, error) {
	s := strings.TrimPrefix(string(b), "\uFEFF")
	s = strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "error:"); ok {
		if _, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64); err == nil {
			return "", &vdjError{code: strings.TrimSpace(rest)}
		}
	}
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		s = s[1 : len(s)-1]
	}
	// Control characters never belong in a title or path.
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)), nil
}

// parseBool reads "yes"/"no" (loaded, is_audible), "true"/"false", "on",
// "1"/"0".
func parseBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "on", "1":
		return true
	}
	return false
}

// parseDuration reads get_time total: seconds ("243.5"), a clock ("4:03",
// "1:04:03"), or milliseconds (a number above two hours' worth of seconds;
// which one a VirtualDJ version answers is unverified).
func parseDuration(s string) float64 {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f > 2*3600 {
			f /= 1000
		}
		if f <= 0 || f > 24*3600 || f != f {
			return 0
		}
		return f
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0
	}
	total := 0.0
	for i, p := range parts {
		// The leading part may run past 59 ("75:00"); the others may not.
		n, err := strconv.ParseFloat(p, 64)
		if err != nil || n < 0 || n != n || (i > 0 && n >= 60) {
			return 0
		}
		total = total*60 + n
	}
	if total > 24*3600 {
		return 0
	}
	return total
}

// client asks the Network Control plugin VDJScript questions over HTTP.
type client struct {
	base  string // "http://127.0.0.1:8080"
	addr  string // as the DJ set it, for messages
	token string
	http  *http.Client
}

func newClient(addr, token string, timeout time.Duration) *client {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	// Its own transport, never a proxy (the plugin is on this computer or
	// the DJ's LAN), so Run can close its idle connections when it ends.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &client{
		base:  strings.TrimRight(base, "/"),
		addr:  addr,
		token: token,
		http:  &http.Client{Timeout: timeout, Transport: tr},
	}
}

// errUnauthorized says the plugin wants a password Pika! does not have.
var errUnauthorized = errors.New("unauthorized")

// query asks one VDJScript question. Its error is a *vdjError when the
// plugin answered with one, errUnauthorized, or a transport failure.
func (c *client) query(ctx context.Context, script string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/query?script="+url.QueryEscape(script), nil)
	if err != nil {
		return "", err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return "", err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", errUnauthorized
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return parseReply(body)
}

// djError words a failed question for the DJ's status line.
func (c *client) djError(err error) error {
	var ve *vdjError
	switch {
	case errors.Is(err, errUnauthorized):
		return fmt.Errorf("VirtualDJ's Network Control plugin at %s refused Pika!'s password: set the plugin's password in Pika! too (%s)", c.addr, EnvToken)
	case errors.As(err, &ve):
		return fmt.Errorf("VirtualDJ's Network Control plugin at %s did not understand Pika!'s question (%v)", c.addr, err)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("VirtualDJ's Network Control plugin at %s is too slow to answer", c.addr)
	}
	return fmt.Errorf("VirtualDJ's Network Control plugin is not answering at %s: is VirtualDJ running with the plugin enabled? (%v)", c.addr, err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
