package accounts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/persister/pgstore/pgstoretest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// clock is a time the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newStore is a store on a fresh migrated database, its pool, and its clock.
func newStore(t *testing.T) (*accounts.Store, *pgxpool.Pool, *clock) {
	t.Helper()
	pool := pgstoretest.New(t).Pool()
	clk := &clock{t: time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)}
	s, err := accounts.New(pool, accounts.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, pool, clk
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return c
}

func register(t *testing.T, s *accounts.Store, login, pw, name string) string {
	t.Helper()
	id, err := s.Register(ctx(t), login, pw, name)
	if err != nil {
		t.Fatalf("register %s: %v", login, err)
	}
	if !bus.ValidDJID(id) {
		t.Fatalf("register: DJ id %q", id)
	}
	return id
}

func TestLifeCycle(t *testing.T) {
	s, pool, clk := newStore(t)
	c := ctx(t)
	dj := register(t, s, "Nova@Example.com", "correct horse battery", "DJ Nova")

	var name string
	if err := pool.QueryRow(c, `SELECT name FROM djs WHERE id = $1`, dj).Scan(&name); err != nil || name != "DJ Nova" {
		t.Fatalf("djs row: %q, %v", name, err)
	}
	// The login is case-folded: the same login in other case is taken.
	if _, err := s.Register(c, "nova@EXAMPLE.com", "another long password", "Impostor"); !errors.Is(err, accounts.ErrLoginTaken) {
		t.Fatalf("second register of the login: %v, want ErrLoginTaken", err)
	}

	tok, err := s.Login(c, accounts.LoginRequest{Login: "NOVA@example.com", Password: "correct horse battery", IP: "127.0.0.1", TokenName: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.DJID != dj || !strings.HasPrefix(tok.Token, "pika_"+dj+"_") || len(tok.Token) != 67 || tok.ExpiresAt != nil || tok.Name != "laptop" {
		t.Fatalf("login token %+v", tok)
	}
	clk.Add(time.Minute)
	if got, err := s.Authenticate(c, tok.Token); err != nil || got != dj {
		t.Fatalf("authenticate: %q, %v; want %s", got, err, dj)
	}
	list, err := s.Tokens(c, dj)
	if err != nil || len(list) != 1 || list[0].ID != tok.ID || list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(clk.Now()) {
		t.Fatalf("tokens %+v, %v: want the login's, last used now", list, err)
	}

	second, err := s.CreateToken(c, dj, "desktop", 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if second.ExpiresAt == nil || !second.ExpiresAt.Equal(clk.Now().Add(30*24*time.Hour)) {
		t.Fatalf("second token expires %v", second.ExpiresAt)
	}
	if list, _ := s.Tokens(c, dj); len(list) != 2 || list[0].ID != second.ID {
		t.Fatalf("tokens after create: %+v", list)
	}

	revoked, err := s.Revoke(c, dj, tok.ID)
	if err != nil || revoked.RevokedAt == nil {
		t.Fatalf("revoke: %+v, %v", revoked, err)
	}
	if _, err := s.Authenticate(c, tok.Token); !errors.Is(err, accounts.ErrTokenRevoked) {
		t.Fatalf("revoked token: %v, want ErrTokenRevoked", err)
	}
	if got, err := s.Authenticate(c, second.Token); err != nil || got != dj {
		t.Fatalf("the other token after revoking one: %q, %v", got, err)
	}
	// Revoking again changes nothing.
	clk.Add(time.Hour)
	if again, err := s.Revoke(c, dj, tok.ID); err != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Fatalf("revoke again: %+v, %v", again, err)
	}
}

func TestRefusals(t *testing.T) {
	s, _, clk := newStore(t)
	c := ctx(t)
	register(t, s, "blues", "slow and low and sweet", "DJ Blues")

	for _, r := range []accounts.LoginRequest{
		{Login: "blues", Password: "slow and low and sour"}, // wrong password
		{Login: "nobody", Password: "slow and low and sweet"},
		{Login: "x", Password: "slow and low and sweet"}, // cannot be a login
		{Login: "blues", Password: ""},
	} {
		if _, err := s.Login(c, r); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Errorf("login %q/%q: %v, want ErrBadCredentials", r.Login, r.Password, err)
		}
	}
	for _, pw := range []string{"", "short", "123456789", strings.Repeat("x", accounts.MaxPasswordLen+1)} {
		if _, err := s.Register(c, "weak"+string(rune('a'+len(pw)%26)), pw, "DJ Weak"); !errors.Is(err, accounts.ErrWeakPassword) {
			t.Errorf("register with a %d-byte password: %v, want ErrWeakPassword", len(pw), err)
		}
	}
	if _, err := s.Register(c, "bad login!", "long enough password", "DJ"); !errors.Is(err, accounts.ErrBadLogin) {
		t.Errorf("bad login: %v", err)
	}
	if _, err := s.Register(c, "noname", "long enough password", "  \n "); !errors.Is(err, accounts.ErrBadName) {
		t.Errorf("empty name: %v", err)
	}

	tok, err := s.Login(c, accounts.LoginRequest{Login: "blues", Password: "slow and low and sweet", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(59 * time.Minute)
	if _, err := s.Authenticate(c, tok.Token); err != nil {
		t.Fatalf("token before expiry: %v", err)
	}
	clk.Add(time.Minute)
	if _, err := s.Authenticate(c, tok.Token); !errors.Is(err, accounts.ErrTokenExpired) {
		t.Fatalf("token at expiry: %v, want ErrTokenExpired", err)
	}

	// Tokens never made, or not tokens at all.
	fake := "pika_" + tok.DJID + "_" + strings.Repeat("A", 43)
	old := "pika_" + strings.Repeat("A", 43) // the first format, without the DJ id
	for _, bad := range []string{"", "pika_", fake, old, tok.Token + "x", strings.Replace(tok.Token, "pika_", "pikb_", 1), "Bearer " + tok.Token} {
		if _, err := s.Authenticate(c, bad); !errors.Is(err, accounts.ErrBadToken) {
			t.Errorf("authenticate %q: %v, want ErrBadToken", bad, err)
		}
	}
}

// TestThrottle: after five failures a login waits 1 s, then 2 s, 4 s …
// (the clock is moved by hand), even with the right password; a second
// store on the same database (another gateway) sees the same counters.
func TestThrottle(t *testing.T) {
	s, pool, clk := newStore(t)
	c := ctx(t)
	register(t, s, "swing", "right password here", "DJ Swing")
	other, err := accounts.New(pool, accounts.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	wrong := accounts.LoginRequest{Login: "swing", Password: "wrong password here", IP: "127.0.0.7"}
	right := accounts.LoginRequest{Login: "swing", Password: "right password here", IP: "127.0.0.8"}
	for i := range 5 {
		if _, err := s.Login(c, wrong); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	wantThrottled := func(st *accounts.Store, r accounts.LoginRequest, want time.Duration) {
		t.Helper()
		_, err := st.Login(c, r)
		var te *accounts.ThrottledError
		if !errors.As(err, &te) || te.RetryAfter != want {
			t.Fatalf("login while blocked: %v, want retry after %s", err, want)
		}
	}
	wantThrottled(s, right, time.Second)
	wantThrottled(other, right, time.Second)
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		clk.Add(d)
		if _, err := other.Login(c, wrong); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("after waiting %s: %v", d, err)
		}
		wantThrottled(s, right, 2*d)
	}
	// The right password once the delay is over: in, and the count resets.
	clk.Add(8 * time.Second)
	if _, err := s.Login(c, right); err != nil {
		t.Fatalf("right password after the delay: %v", err)
	}
	if _, err := s.Login(c, wrong); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("after a success the count restarts: %v", err)
	}

	// The delay never grows past 15 minutes.
	register(t, s, "lindy", "another right password", "DJ Lindy")
	guess := accounts.LoginRequest{Login: "lindy", Password: "guess guess guess", IP: "10.0.0.1"}
	for range 20 {
		if _, err := s.Login(c, guess); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatal(err)
		}
		clk.Add(15 * time.Minute)
	}
	if _, err := s.Login(c, guess); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatal(err)
	}
	wantThrottled(s, guess, 15*time.Minute)

	// One address guessing at many logins is slowed down too (after 20).
	for i := range 20 {
		r := accounts.LoginRequest{Login: "nobody" + string(rune('a'+i)), Password: "whatever it is", IP: "2001:db8::1"}
		if _, err := s.Login(c, r); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	// Another address of the same IPv6 /64 is the same counter.
	wantThrottled(s, accounts.LoginRequest{Login: "swing", Password: "right password here", IP: "2001:db8::2"}, time.Second)
}

// TestThrottleConcurrent: guesses sent all at once are counted one by one,
// so a burst cannot slip past the counter.
func TestThrottleConcurrent(t *testing.T) {
	s, pool, _ := newStore(t)
	c := ctx(t)
	register(t, s, "burst", "the right password", "DJ Burst")
	var wg sync.WaitGroup
	results := make([]error, 12)
	for i := range results {
		wg.Go(func() {
			_, results[i] = s.Login(c, accounts.LoginRequest{Login: "burst", Password: "not the password", IP: "127.0.0.9"})
		})
	}
	wg.Wait()
	var bad, throttled int
	for _, err := range results {
		var te *accounts.ThrottledError
		switch {
		case errors.Is(err, accounts.ErrBadCredentials):
			bad++
		case errors.As(err, &te):
			throttled++
		default:
			t.Fatalf("concurrent guess: %v", err)
		}
	}
	// The fifth failure blocks the rest (the clock does not move).
	if bad != 5 || throttled != 7 {
		t.Fatalf("%d wrong-password answers and %d throttled, want 5 and 7", bad, throttled)
	}
	var failures int
	if err := pool.QueryRow(c, `SELECT failures FROM accounts.login_throttle WHERE key = 'login:burst'`).Scan(&failures); err != nil || failures != 5 {
		t.Fatalf("failures counted %d, %v; want 5", failures, err)
	}
}

// TestTwoDJs: a DJ cannot list, revoke or use another DJ's tokens.
func TestTwoDJs(t *testing.T) {
	s, _, _ := newStore(t)
	c := ctx(t)
	a := register(t, s, "dj-a", "password of dj a", "Same Name")
	b := register(t, s, "dj-b", "password of dj b", "Same Name")
	ta, err := s.Login(c, accounts.LoginRequest{Login: "dj-a", Password: "password of dj a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(c, accounts.LoginRequest{Login: "dj-b", Password: "password of dj a"}); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("A's password for B: %v", err)
	}
	if list, err := s.Tokens(c, b); err != nil || len(list) != 0 {
		t.Fatalf("B's tokens: %+v, %v; want none", list, err)
	}
	if _, err := s.Revoke(c, b, ta.ID); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("B revoking A's token: %v, want ErrNotFound", err)
	}
	if got, err := s.Authenticate(c, ta.Token); err != nil || got != a {
		t.Fatalf("A's token after B's attempt: %q, %v", got, err)
	}
}

// TestNothingInTheClear: the tables hold an argon2id PHC hash and a
// SHA-256 of the token, never the password or the token.
func TestNothingInTheClear(t *testing.T) {
	s, pool, _ := newStore(t)
	c := ctx(t)
	const pw = "my very secret password"
	dj := register(t, s, "clear", pw, "DJ Clear")
	tok, err := s.Login(c, accounts.LoginRequest{Login: "clear", Password: pw, TokenName: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	var hash string
	if err := pool.QueryRow(c, `SELECT password_hash FROM accounts.dj_accounts WHERE dj_id = $1`, dj).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || len(strings.Split(hash, "$")) != 6 {
		t.Fatalf("password hash %q is not argon2id PHC", hash)
	}
	if ok, err := accounts.VerifyPassword(pw, hash); !ok || err != nil {
		t.Fatalf("stored hash does not verify: %v", err)
	}
	var tokenHash string
	if err := pool.QueryRow(c, `SELECT token_hash FROM dj_tokens WHERE id = $1`, tok.ID).Scan(&tokenHash); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(tok.Token))
	if tokenHash != hex.EncodeToString(sum[:]) {
		t.Fatalf("token_hash %q is not the token's SHA-256", tokenHash)
	}
	secret := tok.Token[len(tok.Token)-43:] // the random part; the DJ id in front is no secret
	for _, q := range []string{
		`SELECT row_to_json(t)::text FROM accounts.dj_accounts t`,
		`SELECT row_to_json(t)::text FROM dj_tokens t`,
		`SELECT row_to_json(t)::text FROM djs t`,
		`SELECT row_to_json(t)::text FROM accounts.login_throttle t`,
	} {
		rows, err := pool.Query(c, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(row, pw) || strings.Contains(row, secret) {
				t.Fatalf("%s: a secret in the clear: %s", q, row)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	p := accounts.HashParams{Memory: 64, Time: 1, Threads: 1} // cheap: this test is about the format
	h1, err := accounts.HashPassword("same password", p)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := accounts.HashPassword("same password", p)
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if ok, err := accounts.VerifyPassword("same password", h1); !ok || err != nil {
		t.Fatalf("verify: %v, %v", ok, err)
	}
	if ok, _ := accounts.VerifyPassword("same passwort", h1); ok {
		t.Fatal("a wrong password verifies")
	}
	for _, bad := range []string{"", "plain", strings.Replace(h1, "argon2id", "argon2i", 1), strings.Replace(h1, "v=19", "v=16", 1),
		strings.Replace(h1, "m=64", "m=99999999", 1), strings.Replace(h1, "t=1", "t=0", 1), h1 + "$"} {
		if ok, err := accounts.VerifyPassword("same password", bad); ok || err == nil {
			t.Errorf("hash %q: %v, %v; want an error", bad, ok, err)
		}
	}
}
