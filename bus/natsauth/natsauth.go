// Package natsauth owns who may connect to the cloud's NATS cluster and what
// each may do there. It is a nats-server Authentication
// (Options.CustomClientAuthentication), so it decides for client and leaf
// connections alike:
//
//   - user "dj" with an API token (pika_…) as password: a DJ, checked
//     against the accounts in PostgreSQL, limited to that DJ's own subjects
//     (DJPermissions), as a client or as the leaf link of the DJ's server;
//   - users "gateway" and "persister" with the passwords in the node's
//     settings: the cloud services, with only what they need;
//   - user "admin", optional: operators, everything;
//   - user "pika-internal" with a random password that never leaves the
//     process: the node's own connection that creates each DJ's cloud
//     streams when the DJ first connects (Run), so DJs need no right to.
//
// Connections of a token found revoked or expired are closed by Run's
// periodic re-check. Why this design rather than operator JWTs, accounts or
// an auth callout: docs/cloud.md, "Authorization".
package natsauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/bus"
)

// User names in CONNECT.
const (
	UserDJ        = "dj"
	UserGateway   = "gateway"
	UserPersister = "persister"
	UserAdmin     = "admin"
	// UserInternal is the node's own connection (Run); its password is
	// made at random by New and known to this process only.
	UserInternal = "pika-internal"
)

// Tokens checks a DJ's API token: accounts.Store is one. A refused token
// is one of accounts.ErrBadToken, ErrTokenRevoked or ErrTokenExpired; any
// other error means the check itself failed (the database is unreachable).
type Tokens interface {
	Authenticate(ctx context.Context, token string) (djID string, err error)
}

// Connections is the node's view of its open connections, for the re-check
// that closes those of a revoked token. natsserver.Server is one.
type Connections interface {
	// Connected reports whether the client or leaf connection id is open.
	Connected(id uint64) bool
	// Disconnect closes the client or leaf connection id.
	Disconnect(id uint64) error
}

// Config says who may connect. The zero value of each optional field is its
// documented default.
type Config struct {
	// Tokens checks DJs' API tokens; nil: no DJ can connect.
	Tokens Tokens
	// Passwords of the service users; "" disables that user.
	GatewayPassword, PersisterPassword, AdminPassword string
	// CloudDomain is the cloud's JetStream domain; default "cloud".
	CloudDomain string
	// CheckTimeout bounds one token check; default 2 s. A check that
	// cannot finish in time refuses the connection (unless it is in the
	// grace cache) rather than hold the server's connection handling.
	CheckTimeout time.Duration
	// Grace is how long a token's last positive answer still admits it when
	// the database cannot answer; default 30 s (and never more).
	Grace time.Duration
	// RecheckEvery is how often Run checks the tokens of open DJ
	// connections again; default 15 s.
	RecheckEvery time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Authenticator decides each connection; safe for concurrent use.
type Authenticator struct {
	cfg      Config
	log      *slog.Logger
	services map[string]service
	now      func() time.Time

	// internalPassword is UserInternal's, random per Authenticator.
	internalPassword string
	wantCh           chan string // DJs whose cloud streams Run should ensure

	mu      sync.Mutex
	ensured map[string]int       // DJ → provisionPending or provisionDone
	good    map[string]goodToken // token → last positive answer
	conns   map[uint64]djConn    // open (or recently opened) DJ connections
	logged  map[string]time.Time // address → last failure logged
}

type service struct {
	hash  [sha256.Size]byte // of the password: compared in constant time, whatever its length
	perms *server.Permissions
}

type goodToken struct {
	dj string
	at time.Time
}

type djConn struct {
	token, dj string
	since     time.Time
}

// New makes an Authenticator for cfg.
func New(cfg Config) *Authenticator {
	if cfg.CloudDomain == "" {
		cfg.CloudDomain = "cloud"
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 2 * time.Second
	}
	if cfg.Grace <= 0 || cfg.Grace > 30*time.Second {
		cfg.Grace = 30 * time.Second
	}
	if cfg.RecheckEvery <= 0 {
		cfg.RecheckEvery = 15 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pw := make([]byte, 32)
	_, _ = rand.Read(pw) // crypto/rand never fails (Go ≥ 1.24: it crashes the program instead)
	a := &Authenticator{cfg: cfg, log: log, now: time.Now, services: map[string]service{},
		internalPassword: hex.EncodeToString(pw), wantCh: make(chan string, provisionQueue), ensured: map[string]int{},
		good: map[string]goodToken{}, conns: map[uint64]djConn{}, logged: map[string]time.Time{}}
	add := func(user, password string, perms *server.Permissions) {
		if password != "" {
			a.services[user] = service{hash: sha256.Sum256([]byte(password)), perms: perms}
		}
	}
	add(UserGateway, cfg.GatewayPassword, GatewayPermissions())
	add(UserPersister, cfg.PersisterPassword, PersisterPermissions())
	add(UserAdmin, cfg.AdminPassword, nil) // nil permissions: everything
	add(UserInternal, a.internalPassword, nil)
	return a
}

// AcceptsDJs reports whether DJs can connect at all (a token checker is set).
func (a *Authenticator) AcceptsDJs() bool { return a.cfg.Tokens != nil }

// Check is server.Authentication's: it runs for every client and leaf
// connection and registers the user with its permissions when it accepts.
func (a *Authenticator) Check(c server.ClientAuthentication) bool {
	opts := c.GetOpts()
	if opts == nil {
		return false
	}
	kind := c.Kind()
	if kind != server.CLIENT && kind != server.LEAF {
		return false
	}
	user, pass := opts.Username, opts.Password
	if user == UserDJ {
		dj, err := a.checkToken(pass)
		if err != nil {
			a.refused(c, user, err)
			return false
		}
		a.mu.Lock()
		a.conns[c.GetID()] = djConn{token: pass, dj: dj, since: a.now()}
		a.mu.Unlock()
		c.RegisterUser(&server.User{Username: UserDJ + ":" + dj, Permissions: DJPermissions(dj, a.cfg.CloudDomain)})
		a.want(dj) // its cloud streams, made by this node in the background
		return true
	}
	svc, ok := a.services[user]
	h := sha256.Sum256([]byte(pass))
	if !ok || subtle.ConstantTimeCompare(h[:], svc.hash[:]) != 1 {
		a.refused(c, user, errors.New("wrong user or password"))
		return false
	}
	if kind != server.CLIENT {
		// A service is a client; a leaf link with its password would get
		// its permissions reversed (the leaf's point of view).
		a.refused(c, user, errors.New("a service user cannot link as a leaf"))
		return false
	}
	c.RegisterUser(&server.User{Username: user, Permissions: svc.perms})
	return true
}

// errNoTokens refuses DJs on a node without a database.
var errNoTokens = errors.New("this node checks no DJ tokens (no database configured)")

// refusal reports whether err is the accounts' answer that a token is not
// (or no longer) valid, as opposed to the check failing.
func refusal(err error) bool {
	return errors.Is(err, accounts.ErrBadToken) || errors.Is(err, accounts.ErrTokenRevoked) || errors.Is(err, accounts.ErrTokenExpired)
}

// checkToken asks the database, bounded by CheckTimeout. When the database
// cannot answer, a positive answer at most Grace old still admits the
// token, so a reconnect storm during a database blip does not cut every DJ
// off; a refusal is never cached, so a revoked token is refused on its
// next connect.
func (a *Authenticator) checkToken(token string) (string, error) {
	if a.cfg.Tokens == nil {
		return "", errNoTokens
	}
	claimed, ok := accounts.TokenDJ(token)
	if !ok {
		if err := accounts.CheckTokenFormat(token); errors.Is(err, accounts.ErrOldToken) {
			return "", fmt.Errorf("%w: %w", accounts.ErrBadToken, err) // says what to do, in the node's log
		}
		return "", accounts.ErrBadToken // no query for what cannot be a token
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CheckTimeout)
	defer cancel()
	dj, err := a.cfg.Tokens.Authenticate(ctx, token)
	if err == nil && (!bus.ValidDJID(dj) || dj != claimed) {
		// The token's DJ id is covered by its hash, so this cannot happen
		// unless the database was edited by hand: refuse rather than guess.
		err = fmt.Errorf("%w: the token names DJ %s, the accounts say %q", accounts.ErrBadToken, claimed, dj)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case err == nil:
		a.good[token] = goodToken{dj: dj, at: a.now()}
		return dj, nil
	case refusal(err):
		delete(a.good, token)
		return "", err
	}
	if g, ok := a.good[token]; ok && a.now().Sub(g.at) <= a.cfg.Grace {
		a.log.Warn("DJ token check failed; admitting on its answer of moments ago", "dj", g.dj, "err", err)
		return g.dj, nil
	}
	return "", fmt.Errorf("natsauth: check token: %w", err)
}

// refused logs a failed authentication, at most once a second per address:
// a client retrying in a loop must not flood the log. Guessing gains
// nothing: tokens carry 256 random bits, service passwords are the
// operator's, and DJ passwords are never accepted here (only the accounts'
// login, which is throttled, turns a password into a token).
func (a *Authenticator) refused(c server.ClientAuthentication, user string, why error) {
	addr := "unknown"
	if ra := c.RemoteAddress(); ra != nil {
		addr = ra.String()
		if h, _, err := net.SplitHostPort(addr); err == nil {
			addr = h
		}
	}
	now := a.now()
	a.mu.Lock()
	last, seen := a.logged[addr]
	quiet := seen && now.Sub(last) < time.Second
	if !quiet {
		if len(a.logged) > 10_000 { // forget addresses not seen for a second
			for k, t := range a.logged {
				if now.Sub(t) >= time.Second {
					delete(a.logged, k)
				}
			}
		}
		a.logged[addr] = now
	}
	a.mu.Unlock()
	if !quiet {
		a.log.Warn("NATS connection refused", "addr", addr, "user", user, "leaf", c.Kind() == server.LEAF, "why", why.Error())
	}
}

// Run serves node until ctx ends: it creates the cloud streams of each DJ
// that connects (cloud.EnsureCloudDJ, through an in-process connection of
// the node as UserInternal, once per DJ per process, retried with backoff),
// and checks the tokens of open DJ connections every RecheckEvery, closing
// the connections of a token found revoked, expired or deleted. So a
// revoked token loses its link within RecheckEvery plus one check (at most
// about 17 s by default), not only at its next connect.
func (a *Authenticator) Run(ctx context.Context, node Node) error {
	errc := make(chan error, 1)
	go func() {
		err := a.provision(ctx, node)
		if err != nil {
			a.log.Error("DJs' cloud streams cannot be set up by this node", "err", err)
		}
		errc <- err
	}()
	a.recheckLoop(ctx, node)
	return <-errc
}

func (a *Authenticator) recheckLoop(ctx context.Context, conns Connections) {
	t := time.NewTicker(a.cfg.RecheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Recheck(ctx, conns)
		}
	}
}

// Recheck is one pass of Run.
func (a *Authenticator) Recheck(ctx context.Context, conns Connections) {
	if a.cfg.Tokens == nil {
		return
	}
	now := a.now()
	byToken := map[string][]uint64{}
	a.mu.Lock()
	for id, dc := range a.conns {
		// A leaf is listed as connected only once its handshake is done,
		// after Check: give a new connection a minute before forgetting it.
		if !conns.Connected(id) && now.Sub(dc.since) > time.Minute {
			delete(a.conns, id)
			continue
		}
		byToken[dc.token] = append(byToken[dc.token], id)
	}
	for tok, g := range a.good {
		if now.Sub(g.at) > a.cfg.Grace {
			delete(a.good, tok)
		}
	}
	a.mu.Unlock()

	for token, ids := range byToken {
		if ctx.Err() != nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, a.cfg.CheckTimeout)
		dj, err := a.cfg.Tokens.Authenticate(cctx, token)
		cancel()
		if err == nil || !refusal(err) {
			if err != nil {
				a.log.Warn("DJ token re-check failed; keeping its connections until the next one", "err", err)
			}
			continue
		}
		a.mu.Lock()
		delete(a.good, token)
		for _, id := range ids {
			dj = a.conns[id].dj
			delete(a.conns, id)
		}
		a.mu.Unlock()
		for _, id := range ids {
			_ = conns.Disconnect(id) // an error: it closed meanwhile
		}
		a.log.Info("DJ token no longer valid; its connections are closed", "dj", dj, "connections", len(ids), "why", err.Error())
	}
}
