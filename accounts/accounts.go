// Package accounts owns DJ accounts in PostgreSQL: registering (a login and
// an argon2id password hash per DJ id), logging in, the DJ's API tokens
// (random, shown once, stored as SHA-256 hashes, named, revocable, with an
// optional expiry) and the counters that slow password guessing down.
//
// The DJ side authenticates with a token, never a password: a password only
// ever buys a token (Login). Tables: djs and dj_tokens (migration 0001),
// accounts.dj_accounts and accounts.login_throttle (0004).
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pika-dj/pika/bus"
)

// Errors of the store; the gateway turns each into a REST answer.
var (
	ErrBadLogin       = errors.New("accounts: a login is 3 to 64 characters: letters a–z, digits and . _ - @ +")
	ErrBadName        = fmt.Errorf("accounts: a DJ name is 1 to %d characters", bus.MaxNameLen)
	ErrBadTokenName   = fmt.Errorf("accounts: a token name is at most %d characters", MaxTokenNameLen)
	ErrLoginTaken     = errors.New("accounts: that login is taken")
	ErrBadCredentials = errors.New("accounts: wrong login or password")
	ErrBadToken       = errors.New("accounts: not a valid API token")
	ErrTokenRevoked   = errors.New("accounts: this API token was revoked")
	ErrTokenExpired   = errors.New("accounts: this API token has expired")
	ErrNotFound       = errors.New("accounts: no such token of this DJ")
)

// MaxTokenNameLen bounds a token's name, in characters.
const MaxTokenNameLen = 64

// Options configure a Store; the zero value is production's.
type Options struct {
	Hash   HashParams       // zero: DefaultHashParams()
	Limits Limits           // zero: DefaultLimits()
	Now    func() time.Time // nil: time.Now; tests move it to cross the throttle's delays
	// MaxHashing bounds argon2id runs at once (each takes Hash.Memory):
	// a burst of logins waits rather than exhausting memory. 4.
	MaxHashing int
	Logger     *slog.Logger // nil discards
}

// Store is the accounts of one PostgreSQL database. Safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	hash   HashParams
	limits Limits
	now    func() time.Time
	log    *slog.Logger
	slots  chan struct{} // one per argon2id run allowed at once
	// dummy is a hash compared against when the login is unknown, so an
	// unknown login costs what a wrong password costs and timing does not
	// tell which logins exist.
	dummy string
}

// New makes a store over pool, whose database has migration 0004 applied.
func New(pool *pgxpool.Pool, opt Options) (*Store, error) {
	if opt.Hash == (HashParams{}) {
		opt.Hash = DefaultHashParams()
	}
	if opt.Limits == (Limits{}) {
		opt.Limits = DefaultLimits()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxHashing <= 0 {
		opt.MaxHashing = 4
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	dummy, err := HashPassword("not a password of anyone", opt.Hash)
	if err != nil {
		return nil, err
	}
	return &Store{pool: pool, hash: opt.Hash, limits: opt.Limits, now: opt.Now, log: opt.Logger,
		slots: make(chan struct{}, opt.MaxHashing), dummy: dummy}, nil
}

// NormalizeLogin case-folds a login and checks its shape. Logins are ASCII
// so two accounts can never differ only by look-alike letters.
func NormalizeLogin(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 3 || len(s) > 64 {
		return "", ErrBadLogin
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@+", r)) {
			return "", ErrBadLogin
		}
	}
	return s, nil
}

// CleanName checks a DJ's display name (as dancers see it).
func CleanName(s string) (string, error) {
	if n := bus.CleanText(s, bus.MaxNameLen+1); n != "" && len([]rune(n)) <= bus.MaxNameLen {
		return n, nil
	}
	return "", ErrBadName
}

// CleanTokenName checks a token's name ("" is allowed).
func CleanTokenName(s string) (string, error) {
	n := bus.CleanText(s, MaxTokenNameLen+1)
	if len([]rune(n)) > MaxTokenNameLen {
		return "", ErrBadTokenName
	}
	return n, nil
}

// withSlot runs f while holding one of the hashing slots.
func (s *Store) withSlot(ctx context.Context, f func()) error {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("accounts: wait to hash: %w", ctx.Err())
	}
	defer func() { <-s.slots }()
	f()
	return nil
}

// Register makes a new DJ (a fresh DJ id and its djs row) with an account.
func (s *Store) Register(ctx context.Context, login, password, name string) (string, error) {
	login, err := NormalizeLogin(login)
	if err != nil {
		return "", err
	}
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	if name, err = CleanName(name); err != nil {
		return "", err
	}
	var hash string
	var hashErr error
	if err := s.withSlot(ctx, func() { hash, hashErr = HashPassword(password, s.hash) }); err != nil {
		return "", err
	}
	if hashErr != nil {
		return "", hashErr
	}
	djID := bus.NewDJID()
	now := s.now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// name_at stays NULL: the DJ's first session.started may rename them.
		if _, err := tx.Exec(ctx, `INSERT INTO djs (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)`, djID, name, now); err != nil {
			return fmt.Errorf("accounts: add DJ: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO accounts.dj_accounts (dj_id, login, password_hash, created_at) VALUES ($1, $2, $3, $4)`,
			djID, login, hash, now)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "dj_accounts_login_key" {
			return ErrLoginTaken
		}
		if err != nil {
			return fmt.Errorf("accounts: add account: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.log.Info("DJ account registered", "dj", djID)
	return djID, nil
}

// LoginRequest is one attempt to trade a password for a token.
type LoginRequest struct {
	Login, Password string
	IP              string        // the client's address, for the per-address counter; "" counts none
	TokenName       string        // the new token's name
	ExpiresIn       time.Duration // 0: the token never expires
}

// NewToken is a token just made: the only time its secret is seen.
type NewToken struct {
	ID        int64      `json:"id"`
	Token     string     `json:"token"`
	DJID      string     `json:"djId"`
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expiresAt"` // null: never
}

// Login checks the password and, when it matches, makes a token. Failed
// attempts are counted per login and per address; past the free ones it
// answers *ThrottledError until the delay is over, without looking at the
// password. A wrong password and an unknown login are the same error.
func (s *Store) Login(ctx context.Context, r LoginRequest) (NewToken, error) {
	login, err := NormalizeLogin(r.Login)
	if err != nil {
		return NewToken{}, ErrBadCredentials // a login that cannot exist cannot match
	}
	tokenName, err := CleanTokenName(r.TokenName)
	if err != nil {
		return NewToken{}, err
	}
	if r.ExpiresIn < 0 {
		return NewToken{}, errors.New("accounts: a token's lifetime cannot be negative")
	}
	keys := s.limits.throttleKeys(login, r.IP)
	var tok NewToken
	var failed bool
	// The hashing slot is taken first: a burst of logins then holds at most
	// MaxHashing connections and MaxHashing hashes' memory.
	slotErr := s.withSlot(ctx, func() {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := lockThrottle(ctx, tx, keys); err != nil {
				return err
			}
			now := s.now()
			if wait := blockedFor(keys, now); wait > 0 {
				return &ThrottledError{RetryAfter: wait}
			}
			var djID, hash string
			err := tx.QueryRow(ctx, `SELECT dj_id, password_hash FROM accounts.dj_accounts WHERE login = $1`, login).Scan(&djID, &hash)
			known := err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				hash = s.dummy
			} else if err != nil {
				return fmt.Errorf("accounts: find login: %w", err)
			}
			ok, err := VerifyPassword(r.Password, hash)
			if err != nil {
				s.log.Error("unreadable password hash", "dj", djID, "err", err)
			}
			if !ok || !known {
				failed = true
				return s.limits.recordFailure(ctx, tx, keys, now)
			}
			if err := recordSuccess(ctx, tx, keys); err != nil {
				return err
			}
			tok, err = insertToken(ctx, tx, djID, tokenName, r.ExpiresIn, now)
			return err
		})
	})
	if slotErr != nil {
		return NewToken{}, slotErr
	}
	if err != nil {
		return NewToken{}, err
	}
	if failed {
		if err := s.limits.pruneThrottle(ctx, s.pool, s.now()); err != nil {
			s.log.Warn("login counters", "err", err)
		}
		return NewToken{}, ErrBadCredentials
	}
	s.log.Info("DJ logged in", "dj", tok.DJID, "token", tok.ID)
	return tok, nil
}

// insertToken makes a token of djID and stores its hash.
func insertToken(ctx context.Context, tx pgx.Tx, djID, name string, expiresIn time.Duration, now time.Time) (NewToken, error) {
	token, hash, err := newToken(djID)
	if err != nil {
		return NewToken{}, err
	}
	t := NewToken{Token: token, DJID: djID, Name: name}
	if expiresIn > 0 {
		at := now.Add(expiresIn).UTC().Truncate(time.Microsecond)
		t.ExpiresAt = &at
	}
	err = tx.QueryRow(ctx, `INSERT INTO dj_tokens (dj_id, token_hash, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		djID, hash, name, now, t.ExpiresAt).Scan(&t.ID)
	if err != nil {
		return NewToken{}, fmt.Errorf("accounts: store token: %w", err)
	}
	return t, nil
}

// CreateToken makes another token for djID (already authenticated).
func (s *Store) CreateToken(ctx context.Context, djID, name string, expiresIn time.Duration) (NewToken, error) {
	name, err := CleanTokenName(name)
	if err != nil {
		return NewToken{}, err
	}
	if expiresIn < 0 {
		return NewToken{}, errors.New("accounts: a token's lifetime cannot be negative")
	}
	var t NewToken
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err = insertToken(ctx, tx, djID, name, expiresIn, s.now())
		return err
	})
	return t, err
}

// Token is what a DJ sees of their tokens: never the secret.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
}

const tokenColumns = `id, name, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row pgx.Row) (Token, error) {
	var t Token
	err := row.Scan(&t.ID, &t.Name, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	return t, err
}

// Tokens lists djID's tokens, newest first, revoked ones included.
func (s *Store) Tokens(ctx context.Context, djID string) ([]Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM dj_tokens WHERE dj_id = $1 ORDER BY id DESC`, djID)
	if err != nil {
		return nil, fmt.Errorf("accounts: list tokens: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("accounts: read tokens: %w", err)
	}
	return list, nil
}

// Revoke revokes djID's token id (again: nothing changes). Another DJ's
// token is ErrNotFound, as if it did not exist.
func (s *Store) Revoke(ctx context.Context, djID string, id int64) (Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `UPDATE dj_tokens SET revoked_at = coalesce(revoked_at, $3)
		WHERE id = $1 AND dj_id = $2 RETURNING `+tokenColumns, id, djID, s.now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, ErrNotFound
	}
	if err != nil {
		return Token{}, fmt.Errorf("accounts: revoke token: %w", err)
	}
	s.log.Info("API token revoked", "dj", djID, "token", id)
	return t, nil
}

// Authenticate returns the DJ id a token belongs to and records its use.
// A malformed or unknown token is ErrBadToken; a revoked or expired one,
// ErrTokenRevoked or ErrTokenExpired: refused from the next use on.
//
// The token is found by its hash through the index: comparing hashes of a
// 256-bit secret leaks nothing useful through timing.
func (s *Store) Authenticate(ctx context.Context, token string) (string, error) {
	if !WellFormedToken(token) {
		return "", ErrBadToken
	}
	hash := hashToken(token)
	now := s.now()
	var djID string
	err := s.pool.QueryRow(ctx, `UPDATE dj_tokens SET last_used_at = $2
		WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		RETURNING dj_id`, hash, now).Scan(&djID)
	if err == nil {
		return djID, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("accounts: check token: %w", err)
	}
	// Refused: say why, for the DJ who has to make a new one.
	var revoked, expires *time.Time
	err = s.pool.QueryRow(ctx, `SELECT revoked_at, expires_at FROM dj_tokens WHERE token_hash = $1`, hash).Scan(&revoked, &expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", ErrBadToken
	case err != nil:
		return "", fmt.Errorf("accounts: check token: %w", err)
	case revoked != nil:
		return "", ErrTokenRevoked
	default:
		return "", ErrTokenExpired
	}
}
