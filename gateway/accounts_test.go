package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/history"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/persister/pgstore"
	"github.com/pika-dj/pika/persister/pgstore/pgstoretest"
)

// TestMain stops the throwaway PostgreSQL the account tests start.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// testClock is a time the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// accountsEnv is a gateway with DJ accounts and history on a fresh
// database; the accounts' clock is moved by hand.
type accountsEnv struct {
	*env
	store *pgstore.Store
	clock *testClock
}

func newAccountsEnv(t *testing.T) *accountsEnv {
	t.Helper()
	store := pgstoretest.New(t)
	clk := &testClock{t: time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)}
	acc, err := accounts.New(store.Pool(), accounts.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Accounts = acc; c.History = store })
	return &accountsEnv{env: e, store: store, clock: clk}
}

// call sends one request with a raw body (nil: none) and a bearer token.
func call(t *testing.T, method, url, bearer string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = strings.NewReader(string(body))
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// want sends v as JSON and checks the status; an error answer must be a
// RESTError with code wantCode (when set) and a reason.
func (e *accountsEnv) want(method, path, bearer string, v any, status int, wantCode string, into any) http.Header {
	e.t.Helper()
	var body []byte
	switch v := v.(type) {
	case nil:
	case string:
		body = []byte(v)
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	code, hdr, got := call(e.t, method, e.url+path, bearer, body)
	if code != status {
		e.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, code, got, status)
	}
	if status >= 400 {
		var rerr RESTError
		if err := json.Unmarshal(got, &rerr); err != nil || rerr.Reason == "" || (wantCode != "" && rerr.Code != wantCode) {
			e.t.Fatalf("%s %s: error body %s, want a RESTError with code %q and a reason", method, path, got, wantCode)
		}
	}
	if into != nil {
		if err := json.Unmarshal(got, into); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, got)
		}
	}
	return hdr
}

func (e *accountsEnv) register(login, password, name string) string {
	e.t.Helper()
	var r registered
	e.want("POST", "/api/accounts", "", registerBody{Login: login, Password: password, Name: name}, 201, "", &r)
	if !bus.ValidDJID(r.DJID) {
		e.t.Fatalf("register: DJ id %q", r.DJID)
	}
	return r.DJID
}

func (e *accountsEnv) login(login, password string, days int) accounts.NewToken {
	e.t.Helper()
	var tok accounts.NewToken
	hdr := e.want("POST", "/api/login", "", loginBody{Login: login, Password: password, TokenName: "laptop", ExpiresInDays: days}, 200, "", &tok)
	if hdr.Get("Cache-Control") != "no-store" {
		e.t.Fatalf("login answered Cache-Control %q, want no-store", hdr.Get("Cache-Control"))
	}
	return tok
}

// TestAccountsLifeCycle: register, log in, list, make and revoke tokens
// over REST; a revoked or expired token is refused on its next use.
func TestAccountsLifeCycle(t *testing.T) {
	e := newAccountsEnv(t)
	dj := e.register("Nova", "correct horse battery", "DJ Nova")
	e.want("POST", "/api/accounts", "", registerBody{Login: "NOVA", Password: "another good password", Name: "Copy"}, 409, codeLoginTaken, nil)

	tok := e.login("nova", "correct horse battery", 0)
	if tok.DJID != dj || !strings.HasPrefix(tok.Token, "pika_") || tok.ExpiresAt != nil {
		t.Fatalf("login: %+v", tok)
	}
	e.want("POST", "/api/login", "", loginBody{Login: "nova", Password: "wrong horse battery"}, 401, codeBadCredentials, nil)

	var made accounts.NewToken
	e.want("POST", "/api/tokens", tok.Token, tokenBody{Name: "desktop", ExpiresInDays: 1}, 201, "", &made)
	if made.DJID != dj || made.ExpiresAt == nil || !made.ExpiresAt.Equal(e.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("new token %+v", made)
	}

	code, _, body := call(t, "GET", e.url+"/api/tokens", made.Token, nil)
	if code != 200 || strings.Contains(string(body), strings.TrimPrefix(tok.Token, "pika_")) || strings.Contains(string(body), strings.TrimPrefix(made.Token, "pika_")) {
		t.Fatalf("GET /api/tokens: %d %s: want the list without secrets", code, body)
	}
	var list []accounts.Token
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 2 || list[0].Name != "desktop" || list[1].LastUsedAt == nil {
		t.Fatalf("token list %s (%v)", body, err)
	}

	var revoked accounts.Token
	e.want("DELETE", "/api/tokens/"+strconv.FormatInt(tok.ID, 10), made.Token, nil, 200, "", &revoked)
	if revoked.RevokedAt == nil {
		t.Fatalf("revoked %+v", revoked)
	}
	e.want("GET", "/api/tokens", tok.Token, nil, 401, codeTokenRevoked, nil)
	e.want("GET", "/api/tokens", made.Token, nil, 200, "", nil)

	e.clock.Add(24 * time.Hour)
	hdr := e.want("GET", "/api/tokens", made.Token, nil, 401, codeTokenExpired, nil)
	if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate: %v", hdr)
	}
}

// TestAccountsTwoDJs: a DJ's token reaches only that DJ's tokens.
func TestAccountsTwoDJs(t *testing.T) {
	e := newAccountsEnv(t)
	e.register("dj-a", "password of dj a", "DJ Same")
	e.register("dj-b", "password of dj b", "DJ Same")
	a := e.login("dj-a", "password of dj a", 0)
	b := e.login("dj-b", "password of dj b", 0)
	e.want("DELETE", "/api/tokens/"+strconv.FormatInt(a.ID, 10), b.Token, nil, 404, codeUnknownToken, nil)
	var list []accounts.Token
	e.want("GET", "/api/tokens", b.Token, nil, 200, "", &list)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("B's tokens: %+v", list)
	}
	e.want("GET", "/api/tokens", a.Token, nil, 200, "", &list)
	if len(list) != 1 || list[0].ID != a.ID || list[0].RevokedAt != nil {
		t.Fatalf("A's tokens after B's attempt: %+v", list)
	}
}

// TestLoginRateLimited: after five failures a login answers 429 with
// Retry-After, even with the right password, until the delay is over.
func TestLoginRateLimited(t *testing.T) {
	e := newAccountsEnv(t)
	e.register("swing", "right password here", "DJ Swing")
	wrong := loginBody{Login: "swing", Password: "wrong password here"}
	for range 5 {
		e.want("POST", "/api/login", "", wrong, 401, codeBadCredentials, nil)
	}
	right := loginBody{Login: "swing", Password: "right password here"}
	hdr := e.want("POST", "/api/login", "", right, 429, codeRateLimited, nil)
	if hdr.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1", hdr.Get("Retry-After"))
	}
	e.clock.Add(time.Second)
	e.want("POST", "/api/login", "", wrong, 401, codeBadCredentials, nil)
	hdr = e.want("POST", "/api/login", "", right, 429, codeRateLimited, nil)
	if hdr.Get("Retry-After") != "2" {
		t.Fatalf("Retry-After %q, want 2", hdr.Get("Retry-After"))
	}
	e.clock.Add(2 * time.Second)
	e.login("swing", "right password here", 0)
}

// TestAccountsBadRequests: every malformed request gets a reason and
// changes nothing.
func TestAccountsBadRequests(t *testing.T) {
	e := newAccountsEnv(t)
	e.register("valid", "a good long password", "DJ Valid")
	tok := e.login("valid", "a good long password", 0)
	for _, c := range []struct {
		path, body string
		status     int
		code       string
	}{
		{"/api/accounts", ``, 400, codeBadRequest},
		{"/api/accounts", `[]`, 400, codeBadRequest},
		{"/api/accounts", `{"login":"x1y","password":"short","name":"DJ"}`, 400, codeBadRequest},
		{"/api/accounts", `{"login":"a b","password":"long enough now","name":"DJ"}`, 400, codeBadRequest},
		{"/api/accounts", `{"login":"abc","password":"long enough now","name":""}`, 400, codeBadRequest},
		{"/api/accounts", `{"login":"abc","password":"long enough now","name":"DJ","admin":true}`, 400, codeBadRequest},
		{"/api/accounts", `{"login":"abc","password":"long enough now","name":"DJ"}{}`, 400, codeBadRequest},
		{"/api/accounts", `{"login":123,"password":"long enough now","name":"DJ"}`, 400, codeBadRequest},
		{"/api/accounts", `{"login":"abc","password":"` + strings.Repeat("p", 5000) + `","name":"DJ"}`, 413, codeTooLarge},
		{"/api/login", `{"login":"valid"}`, 400, codeBadRequest},
		{"/api/login", `{"login":"valid","password":"a good long password","expiresInDays":-1}`, 400, codeBadRequest},
		{"/api/login", `{"login":"valid","password":"a good long password","expiresInDays":99999}`, 400, codeBadRequest},
		{"/api/login", `{"login":"valid","password":"a good long password","tokenName":"` + strings.Repeat("n", 65) + `"}`, 400, codeBadRequest},
	} {
		e.want("POST", c.path, "", c.body, c.status, c.code, nil)
	}
	e.want("GET", "/api/tokens", "", nil, 401, codeUnauthorized, nil)
	e.want("GET", "/api/tokens", "pika_not-a-token", nil, 401, codeUnauthorized, nil)
	e.want("GET", "/api/tokens?token="+tok.Token, "", nil, 400, codeBadRequest, nil)
	e.want("DELETE", "/api/tokens/abc", tok.Token, nil, 400, codeBadRequest, nil)
	e.want("DELETE", "/api/tokens/999999", tok.Token, nil, 404, codeUnknownToken, nil)
	e.want("POST", "/api/tokens", tok.Token, `{"name":"x","expiresInDays":"soon"}`, 400, codeBadRequest, nil)

	var list []accounts.Token
	e.want("GET", "/api/tokens", tok.Token, nil, 200, "", &list)
	if len(list) != 1 {
		t.Fatalf("tokens after bad requests: %+v", list)
	}
	var n int
	if err := e.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM accounts.dj_accounts`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("accounts after bad requests: %d, %v", n, err)
	}
}

// TestAccountsWithoutDatabase: a gateway without PostgreSQL answers 503.
func TestAccountsWithoutDatabase(t *testing.T) {
	e := &accountsEnv{env: newEnv(t, nil)}
	for _, r := range []struct{ method, path string }{
		{"POST", "/api/accounts"}, {"POST", "/api/login"}, {"GET", "/api/tokens"}, {"POST", "/api/tokens"}, {"DELETE", "/api/tokens/1"},
	} {
		e.want(r.method, r.path, "", `{}`, 503, codeNoDatabase, nil)
	}
}

// TestProfileOnlyFromOwnSessions: two DJs with the same display name have
// two profiles, each built from its own DJ id's sessions only (the old
// product merged sessions with a similar name: impersonation).
func TestProfileOnlyFromOwnSessions(t *testing.T) {
	e := newAccountsEnv(t)
	realDJ := e.register("real-nova", "the real nova password", "DJ Nova")
	fakeDJ := e.register("fake-nova", "the fake nova password", "DJ Nova")
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	night := func(dj string, at time.Time, title string) string {
		sid := bus.NewID(at)
		evs := []bus.Event{
			{V: bus.Version, ID: bus.NewID(at), Type: bus.TypeSessionStarted, Session: sid, Seq: 1, At: at, DJ: dj,
				Started: &bus.SessionStarted{DJName: "DJ Nova"}},
			{V: bus.Version, ID: bus.NewID(at.Add(time.Second)), Type: bus.TypeTrackPlayed, Session: sid, Seq: 2, At: at.Add(time.Second), DJ: dj,
				Play: &bus.Play{Track: bus.NewTrack("Artist", title), Source: "test"}},
		}
		if err := e.store.WriteBatch(context.Background(), evs, nil); err != nil {
			t.Fatal(err)
		}
		return sid
	}
	realSessions := map[string]bool{night(realDJ, start, "Real One"): true, night(realDJ, start.Add(time.Minute), "Real Two"): true}
	fakeSession := night(fakeDJ, start.Add(2*time.Minute), "Fake")

	var p history.DJProfile
	wantREST(t, "GET", e.url+"/api/djs/"+realDJ, "", 200, &p)
	if p.ID != realDJ || p.Name != "DJ Nova" || len(p.Sessions) != 2 || p.Totals.Sessions != 2 || p.Totals.Tracks != 2 {
		t.Fatalf("real DJ's profile: %+v", p)
	}
	for _, s := range p.Sessions {
		if !realSessions[s.ID] {
			t.Fatalf("real DJ's profile lists session %s (the other DJ's: %s)", s.ID, fakeSession)
		}
	}
	wantREST(t, "GET", e.url+"/api/djs/"+fakeDJ, "", 200, &p)
	if p.ID != fakeDJ || len(p.Sessions) != 1 || p.Sessions[0].ID != fakeSession || p.Totals.Tracks != 1 {
		t.Fatalf("other DJ's profile: %+v", p)
	}
}

// FuzzAccountBodies: whatever a client sends to the account endpoints,
// decoding and validating never panic, and what is accepted is what the
// store accepts.
func FuzzAccountBodies(f *testing.F) {
	for _, s := range []string{
		`{"login":"nova","password":"correct horse battery","name":"DJ Nova"}`,
		`{"login":"nova","password":"correct horse battery","tokenName":"laptop","expiresInDays":30}`,
		`{"name":"desktop","expiresInDays":0}`,
		`{"login":"nova","password":"x"}{}`,
		`{"login":1}`, `[]`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r registerBody
		if decodeAccountBody(body, &r) == nil && r.validate() == nil {
			if _, err := accounts.NormalizeLogin(r.Login); err != nil {
				t.Fatalf("accepted login %q: %v", r.Login, err)
			}
			if accounts.CheckPassword(r.Password) != nil {
				t.Fatalf("accepted password %q", r.Password)
			}
			if _, err := accounts.CleanName(r.Name); err != nil {
				t.Fatalf("accepted name %q", r.Name)
			}
		}
		var l loginBody
		if decodeAccountBody(body, &l) == nil && l.validate() == nil {
			if l.ExpiresInDays < 0 || l.ExpiresInDays > maxTokenDays || l.Login == "" || l.Password == "" {
				t.Fatalf("accepted login body %+v", l)
			}
		}
		var tb tokenBody
		if decodeAccountBody(body, &tb) == nil && tb.validate() == nil {
			if _, err := accounts.CleanTokenName(tb.Name); err != nil || tb.ExpiresInDays < 0 || tb.ExpiresInDays > maxTokenDays {
				t.Fatalf("accepted token body %+v", tb)
			}
		}
		if len(body) > maxAccountBody && decodeAccountBody(body, &tb) == nil {
			t.Fatalf("accepted a body of %d bytes", len(body))
		}
	})
}
