package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id's costs. The defaults are OWASP's minimum for
// argon2id (19 MiB, 2 passes, 1 lane): a login costs tens of milliseconds
// and 19 MiB, and Store bounds how many run at once, so a burst of logins
// cannot exhaust a gateway's memory.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
}

// DefaultHashParams are the costs new hashes are made with.
func DefaultHashParams() HashParams { return HashParams{Memory: 19 * 1024, Time: 2, Threads: 1} }

const (
	saltLen = 16
	keyLen  = 32

	// MinPasswordLen is the shortest password accepted, in characters.
	MinPasswordLen = 10
	// MaxPasswordLen bounds the input of a hash, in bytes.
	MaxPasswordLen = 1024

	// Bounds on what a stored hash may ask for, so a corrupt or hostile row
	// cannot make a login allocate gigabytes or loop for minutes.
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 16
	maxThreads = 16
)

// ErrWeakPassword is returned for a password too short or too long.
var ErrWeakPassword = fmt.Errorf("accounts: a password needs at least %d characters (and at most %d bytes)", MinPasswordLen, MaxPasswordLen)

// CheckPassword tells whether pw is acceptable as a new password.
func CheckPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return ErrWeakPassword
	}
	return nil
}

// b64 is PHC's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// HashPassword hashes pw with argon2id and a fresh random salt, encoded
// PHC-style: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>. The parameters
// travel with the hash, so raising them later leaves old hashes readable.
func HashPassword(pw string, p HashParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("accounts: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// decodedHash is a parsed PHC argon2id string.
type decodedHash struct {
	params HashParams
	salt   []byte
	key    []byte
}

var errBadHash = errors.New("accounts: not an argon2id hash this version can read")

// decodeHash parses what HashPassword makes, refusing anything else
// (other algorithms, versions, absurd costs, empty salt or key).
func decodeHash(s string) (decodedHash, error) {
	var d decodedHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return d, errBadHash
	}
	costs := strings.Split(parts[3], ",")
	if len(costs) != 3 {
		return d, errBadHash
	}
	m, okM := cost(costs[0], "m")
	t, okT := cost(costs[1], "t")
	p, okP := cost(costs[2], "p")
	if !okM || !okT || !okP {
		return d, errBadHash
	}
	if m < 8 || m > maxMemory || t < 1 || t > maxTime || p < 1 || p > maxThreads || m < 8*p {
		return d, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return d, errBadHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return d, errBadHash
	}
	d.params = HashParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	d.salt, d.key = salt, key
	return d, nil
}

// cost reads "name=number".
func cost(kv, name string) (uint64, bool) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k != name {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	return n, err == nil
}

// VerifyPassword tells whether pw matches encoded, comparing in constant
// time. An unreadable hash is an error, never a match.
func VerifyPassword(pw, encoded string) (bool, error) {
	d, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	key := argon2.IDKey([]byte(pw), d.salt, d.params.Time, d.params.Memory, d.params.Threads, uint32(len(d.key)))
	return subtle.ConstantTimeCompare(key, d.key) == 1, nil
}
