package obs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/getsentry/sentry-go"
)

func TestScrub(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain text stays", "store action: context deadline exceeded", "store action: context deadline exceeded"},
		{"session and play ids stay", "session 01JD2Z8Q3N4M5P6R7S8T9V0W1X play 01JD2Z8Q3N4M5P6R7S8T9V0W1Y", "session 01JD2Z8Q3N4M5P6R7S8T9V0W1X play 01JD2Z8Q3N4M5P6R7S8T9V0W1Y"},
		{"a time is not an IPv6 address", "at 07:14:23 on 2026-11-26", "at 07:14:23 on 2026-11-26"},
		{"a version is not an address", "pika v1.25.0", "pika v1.25.0"},
		{"API token", "bad token pika_dj01JD2Z8Q_abcDEF-123", "bad token [token]"},
		{"bearer", "Authorization: Bearer abc.def.ghi", "Authorization: [secret] [token]"},
		{"DJ secret after k=", "/dj#s=01JD2Z8Q3N4M5P6R7S8T9V0W1X&k=0123456789abcdef0123456789abcdef", "/dj#s=01JD2Z8Q3N4M5P6R7S8T9V0W1X&k=[secret]"},
		{"bare DJ secret", "secret 0123456789ABCDEF0123456789abcdef refused", "secret [secret] refused"},
		{"named secret", `{"secret":"hunter2"}`, `{"secret":"[secret]"}`},
		{"IPv4", "from 192.168.1.20:51234", "from [ip]:51234"},
		{"IPv6", "from 2001:db8::1 and fe80::1%eth0 and ::1", "from [ip] and [ip] and [ip]"},
		{"IPv4-mapped", "peer ::ffff:10.0.0.7", "peer [ip]"},
		{"clientId in JSON", `{"type":"subscribe","clientId":"anything-at-all-42"}`, `{"type":"subscribe","clientId":"[id]"}`},
		{"client in a log line", "client=c-0123456789abcdef0123 kind=like", "client=[id] kind=like"},
		{"client id by shape", "c-0123456789abcdef0123 and dj-0123456789abcdef0123", "[id] and [id]"},
		{"client in a path", "GET /api/clients/phone-7/likes", "GET /api/clients/[id]/likes"},
		{"UUID", "device 123e4567-e89b-12d3-a456-426614174000", "device [id]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Scrub(tc.in); got != tc.want {
				t.Errorf("Scrub(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestScrubEvent(t *testing.T) {
	const (
		client = "c-0123456789abcdef0123"
		ip     = "203.0.113.9"
		token  = "pika_dj01JD2Z8Q_secretpart"
	)
	e := &sentry.Event{
		EventID:     "0123456789abcdef0123456789abcdef",
		Message:     "panic for " + client + " from " + ip,
		User:        sentry.User{ID: client, IPAddress: ip},
		Request:     &sentry.Request{Method: "GET", URL: "http://pika.example/api/clients/" + client + "/likes?k=x#k=y", Headers: map[string]string{"X-Forwarded-For": ip, "Authorization": "Bearer " + token}, Cookies: "a=" + token, QueryString: "ip=" + ip, Data: "{}"},
		Exception:   []sentry.Exception{{Type: "*errors.errorString", Value: "token " + token + " refused", Stacktrace: &sentry.Stacktrace{Frames: []sentry.Frame{{Function: "f", Vars: map[string]any{"client": client}}}}}},
		Breadcrumbs: []*sentry.Breadcrumb{{Message: "ws from " + ip, Data: map[string]any{"clientId": client, "nested": map[string]any{"addr": ip}}}},
		Tags:        map[string]string{"route": "/api/clients/:id/likes", "peer": ip},
		Contexts:    map[string]sentry.Context{"conn": {"remote": ip + ":443", "client": client}},
		ServerName:  "gateway-1",
	}
	out := ScrubEvent(e)
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{client, ip, token, "secretpart"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("scrubbed event still holds %q:\n%s", leak, b)
		}
	}
	if out.Request.URL != "http://pika.example/api/clients/[id]/likes" || out.Request.Headers != nil || out.Request.Cookies != "" {
		t.Errorf("request = %+v", out.Request)
	}
	if out.ServerName != "gateway-1" || out.Tags["route"] != "/api/clients/:id/likes" || out.EventID != e.EventID {
		t.Errorf("scrubbed too much: %s", b)
	}
}
