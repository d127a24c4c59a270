package obs

import (
	"net"
	"regexp"
	"strings"

	"github.com/getsentry/sentry-go"
)

// What Scrub puts in place of what it removes.
const (
	redactedToken  = "[token]"
	redactedSecret = "[secret]"
	redactedIP     = "[ip]"
	redactedID     = "[id]"
)

// scrubRule replaces what re matches with repl (which may use $1), or,
// with keep, only the matches keep accepts.
type scrubRule struct {
	re   *regexp.Regexp
	repl string
	keep func(match string) bool // nil: replace every match
}

// scrubber holds the compiled rules; build one with newScrubber. It has no
// mutable state, so one value serves every goroutine.
type scrubber struct{ rules []scrubRule }

// The order matters: key-named values first (they name what follows, so a
// client id of any shape goes), then the shapes that identify by
// themselves.
func newScrubber() *scrubber {
	return &scrubber{rules: []scrubRule{
		// API tokens (accounts: "pika_" + random) and any bearer credential.
		{re: regexp.MustCompile(`pika_[A-Za-z0-9_-]+`), repl: redactedToken},
		{re: regexp.MustCompile(`(?i)(bearer\s+)[^\s"',;]+`), repl: "${1}" + redactedToken},
		// A value named as a secret, token, password, key or cookie.
		{re: regexp.MustCompile(`(?i)((?:secret|token|password|passwd|authorization|cookie|api_?key|\bk)"?\s*[:=]\s*"?)[^\s"&#,;}]+`), repl: "${1}" + redactedSecret},
		// Dancer and console ids by name: clientId, client_id, client,
		// consoleId, in JSON, query strings or log lines.
		{re: regexp.MustCompile(`(?i)((?:client_?id|client|console_?id)"?\s*[:=]\s*"?)[A-Za-z0-9_-]{4,64}`), repl: "${1}" + redactedID},
		// ... and in paths: /api/clients/<id>/likes (not a route's :id).
		{re: regexp.MustCompile(`(?i)(/clients/)[^:/?#\s"][^/?#\s"]*`), repl: "${1}" + redactedID},
		// The pages' own shapes: "c-" (dancer) or "dj-" (console) and 20 hex.
		{re: regexp.MustCompile(`\b(?:c|dj)-[0-9a-fA-F]{20}\b`), repl: redactedID},
		// UUIDs, whatever they name.
		{re: regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), repl: redactedID},
		// DJ console secrets: 32 hex characters (also after k= in a fragment).
		{re: regexp.MustCompile(`\b[0-9a-fA-F]{32}\b`), repl: redactedSecret},
		// IPv6 (checked: "07:14:23" is a time, not an address) and IPv4.
		{re: regexp.MustCompile(`(?i)(?:[0-9a-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4})(?:%[0-9a-z]+)?`), repl: redactedIP,
			keep: func(m string) bool {
				if i := strings.IndexByte(m, '%'); i >= 0 {
					m = m[:i]
				}
				return net.ParseIP(m) != nil
			}},
		{re: regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`), repl: redactedIP,
			keep: func(m string) bool { return net.ParseIP(m) != nil }},
	}}
}

// defaultScrubber is compiled once; it is immutable.
var defaultScrubber = newScrubber()

// Scrub returns s without API tokens, DJ secrets, IP addresses and dancer
// or console ids: each is replaced by a marker ([token], [secret], [ip],
// [id]) so a report still reads. Session and play ids (ULIDs) are kept:
// they name a night's music, not a person, and a report needs them.
func Scrub(s string) string {
	if s == "" {
		return s
	}
	for _, r := range defaultScrubber.rules {
		if r.keep == nil {
			s = r.re.ReplaceAllString(s, r.repl)
			continue
		}
		s = r.re.ReplaceAllStringFunc(s, func(m string) string {
			if r.keep(m) {
				return r.repl
			}
			return m
		})
	}
	return s
}

// scrubAny scrubs every string in a decoded JSON-like value, keys
// included, and drops any field named like a person's data (see
// dropKey).
func scrubAny(v any) any {
	switch x := v.(type) {
	case string:
		return Scrub(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			switch {
			case dropKey(k):
			case sentryID(k):
				out[k] = val // 32 hex like a DJ secret, but Sentry's own
			default:
				out[Scrub(k)] = scrubAny(val)
			}
		}
		return out
	case []any:
		for i := range x {
			x[i] = scrubAny(x[i])
		}
		return x
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, val := range x {
			if dropKey(k) {
				continue
			}
			out[Scrub(k)] = Scrub(val)
		}
		return out
	case []string:
		for i := range x {
			x[i] = Scrub(x[i])
		}
		return x
	}
	return v
}

// dropKey reports fields that are a person's data whatever their value:
// the user, request headers and cookies, addresses.
func dropKey(k string) bool {
	switch strings.ToLower(k) {
	case "user", "cookies", "cookie", "headers", "ip", "ip_address", "remote_addr", "x-forwarded-for", "authorization", "env", "query_string", "data":
		return true
	}
	return false
}

// sentryID reports the fields holding Sentry's own random ids, which are
// shaped like DJ secrets (32 hex) and must survive for Sentry to link
// events and traces.
func sentryID(k string) bool {
	switch k {
	case "event_id", "trace_id", "span_id", "parent_span_id", "replay_id":
		return true
	}
	return false
}

// ScrubEvent removes from an event everything that could name a dancer
// or a DJ, or let someone act as one: the user, the request's headers,
// cookies, query and body, and in every string left (message, exception
// values, breadcrumbs, tags, contexts, spans) tokens, secrets, IP
// addresses and client ids. It is BeforeSend and BeforeSendTransaction.
// server_name is kept: in compose it is the container's id.
func ScrubEvent(e *sentry.Event) *sentry.Event {
	if e == nil {
		return nil
	}
	e.User = sentry.User{}
	if e.Request != nil {
		e.Request = &sentry.Request{Method: e.Request.Method, URL: scrubURL(e.Request.URL)}
	}
	e.Message = Scrub(e.Message)
	e.Transaction = Scrub(e.Transaction)
	for i := range e.Exception {
		ex := &e.Exception[i]
		ex.Type, ex.Value = Scrub(ex.Type), Scrub(ex.Value)
		if ex.Stacktrace != nil {
			for j := range ex.Stacktrace.Frames {
				// Local variables can hold anything a handler saw.
				ex.Stacktrace.Frames[j].Vars = nil
			}
		}
	}
	for _, th := range e.Threads {
		if th.Stacktrace != nil {
			for j := range th.Stacktrace.Frames {
				th.Stacktrace.Frames[j].Vars = nil
			}
		}
	}
	for _, b := range e.Breadcrumbs {
		if b == nil {
			continue
		}
		b.Message = Scrub(b.Message)
		b.Data = scrubMap(b.Data)
	}
	e.Tags, _ = scrubAny(e.Tags).(map[string]string)
	for k, c := range e.Contexts {
		e.Contexts[k] = sentry.Context(scrubMap(c))
	}
	for _, s := range e.Spans {
		if s == nil {
			continue
		}
		s.Name, s.Description = Scrub(s.Name), Scrub(s.Description)
		s.Data = scrubMap(s.Data)
		s.Tags, _ = scrubAny(s.Tags).(map[string]string)
	}
	return e
}

func scrubMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out, _ := scrubAny(m).(map[string]any)
	return out
}

// scrubURL keeps a URL's path, scrubbed, without its query and fragment
// (the DJ console's secret rides in the fragment).
func scrubURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return Scrub(u)
}
