package accounts

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Limits slow password guessing down. Each login and each client address
// has a count of failed logins; past its free failures, every further
// failure blocks the next attempt for First, then twice as long each time,
// up to Max. A success resets the login's count (not the address's: one
// account of one's own must not reset the counter of guesses at others).
// Counts are forgotten Forget after their last failure.
//
// The counts live in PostgreSQL (accounts.login_throttle) because gateways
// are replicas: a guesser spreading attempts over them meets one counter.
type Limits struct {
	PerLogin int           // failures free of delay per login: 5
	PerIP    int           // per address (IPv6: per /64): 20, since a venue or a carrier puts many people behind one
	First    time.Duration // 1 s
	Max      time.Duration // 15 min
	Forget   time.Duration // 24 h
}

// DefaultLimits are the limits of a Store made with zero Limits.
func DefaultLimits() Limits {
	return Limits{PerLogin: 5, PerIP: 20, First: time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}
}

// ThrottledError is the answer to a login attempt made while its login or
// its address is blocked; RetryAfter says for how long.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("accounts: too many failed logins; try again in %s", e.RetryAfter.Round(time.Second))
}

// delay is how long an attempt is blocked after failures failures, free of
// which cost nothing.
func (l Limits) delay(failures, free int) time.Duration {
	if failures < free {
		return 0
	}
	d := l.First
	for i := free; i < failures && d < l.Max; i++ {
		d *= 2
	}
	return min(d, l.Max)
}

// throttleKey is one counter: a login or an address.
type throttleKey struct {
	key      string
	free     int
	failures int
	last     *time.Time
	blocked  *time.Time
}

// throttleKeys names the counters of an attempt, in the order they are
// locked (sorted, so two attempts never wait on each other's locks).
func (l Limits) throttleKeys(login, ip string) []*throttleKey {
	keys := []*throttleKey{{key: "login:" + login, free: l.PerLogin}}
	if a, err := netip.ParseAddr(ip); err == nil {
		a = a.Unmap().WithZone("")
		k := a.String()
		if a.Is6() {
			// One host holds a whole /64: count them as one address.
			k = netip.PrefixFrom(a, 64).Masked().String()
		}
		keys = append(keys, &throttleKey{key: "ip:" + k, free: l.PerIP})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].key < keys[j].key })
	return keys
}

// lockThrottle makes and locks the attempt's counters in tx until it
// ends, so concurrent guesses at one login are counted one after another
// instead of all passing the check at once.
func lockThrottle(ctx context.Context, tx pgx.Tx, keys []*throttleKey) error {
	for _, k := range keys {
		if _, err := tx.Exec(ctx, `INSERT INTO accounts.login_throttle (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, k.key); err != nil {
			return fmt.Errorf("accounts: make login counter: %w", err)
		}
		err := tx.QueryRow(ctx, `SELECT failures, last_failure_at, blocked_until FROM accounts.login_throttle WHERE key = $1 FOR UPDATE`,
			k.key).Scan(&k.failures, &k.last, &k.blocked)
		if err != nil {
			return fmt.Errorf("accounts: lock login counter: %w", err)
		}
	}
	return nil
}

// blockedFor is how long the attempt must still wait (0: go ahead).
func blockedFor(keys []*throttleKey, now time.Time) time.Duration {
	var wait time.Duration
	for _, k := range keys {
		if k.blocked != nil && k.blocked.After(now) {
			wait = max(wait, k.blocked.Sub(now))
		}
	}
	return wait
}

// recordFailure counts one more failure on every counter of the attempt.
func (l Limits) recordFailure(ctx context.Context, tx pgx.Tx, keys []*throttleKey, now time.Time) error {
	for _, k := range keys {
		n := k.failures + 1
		if k.last != nil && now.Sub(*k.last) > l.Forget {
			n = 1
		}
		var blocked *time.Time
		if d := l.delay(n, k.free); d > 0 {
			b := now.Add(d)
			blocked = &b
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts.login_throttle SET failures = $2, last_failure_at = $3, blocked_until = $4 WHERE key = $1`,
			k.key, n, now, blocked); err != nil {
			return fmt.Errorf("accounts: count failed login: %w", err)
		}
	}
	return nil
}

// recordSuccess resets the login's counter and drops the address's if it
// was only made for this attempt.
func recordSuccess(ctx context.Context, tx pgx.Tx, keys []*throttleKey) error {
	for _, k := range keys {
		if k.failures > 0 && !isLoginKey(k.key) {
			continue
		}
		if _, err := tx.Exec(ctx, `DELETE FROM accounts.login_throttle WHERE key = $1`, k.key); err != nil {
			return fmt.Errorf("accounts: reset login counter: %w", err)
		}
	}
	return nil
}

func isLoginKey(k string) bool { return strings.HasPrefix(k, "login:") }

// pruneThrottle forgets counters idle for longer than Forget, skipping any
// another attempt holds (so it never waits on, or deadlocks with, them).
func (l Limits) pruneThrottle(ctx context.Context, pool *pgxpool.Pool, now time.Time) error {
	_, err := pool.Exec(ctx, `DELETE FROM accounts.login_throttle WHERE key IN (
		SELECT key FROM accounts.login_throttle WHERE last_failure_at < $1 LIMIT 1000 FOR UPDATE SKIP LOCKED)`, now.Add(-l.Forget))
	if err != nil {
		return fmt.Errorf("accounts: forget old login counters: %w", err)
	}
	return nil
}
