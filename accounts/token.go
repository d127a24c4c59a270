package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/pika-dj/pika/bus"
)

// TokenPrefix starts every API token, so a leaked one is recognisable
// (secret scanners, logs) and never mistaken for a session's DJ secret.
const TokenPrefix = "pika_"

const (
	tokenBytes = 32
	// secretLen is the token's secret: 32 bytes in unpadded base64url.
	secretLen = 43
	// djIDLen is a DJ id's length (bus.NewDJID: "dj" and 16 characters).
	djIDLen = 18
	// tokenLen is the length of a token: pika_<dj id>_<secret>.
	tokenLen = len(TokenPrefix) + djIDLen + 1 + secretLen
	// oldTokenLen is the length of the first format, pika_<secret>, made
	// before tokens named their DJ. None was ever given to a DJ in
	// production; they are refused with ErrOldToken's advice.
	oldTokenLen = len(TokenPrefix) + secretLen
)

// ErrOldToken refuses a token of the first format (pika_ and the secret
// only): the DJ side needs the DJ id in the token to know whose laptop it is.
var ErrOldToken = errors.New("accounts: this API token has the old format (pika_ and 43 characters); log in again or make a new token in your account: new tokens start with pika_dj…")

// newToken makes a random token of DJ dj and the hash under which it is
// stored. The DJ id is in the token (pika_<dj>_<secret>) so that `pika lan`
// knows from the token alone which DJ's laptop it runs on; it is covered by
// the hash, so it cannot be changed without making the token unknown.
func newToken(dj string) (token, hash string, err error) {
	if !bus.ValidDJID(dj) {
		return "", "", fmt.Errorf("accounts: token for a malformed DJ id %q", dj)
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("accounts: token randomness: %w", err)
	}
	token = TokenPrefix + dj + "_" + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

// hashToken is what dj_tokens.token_hash holds: the hex SHA-256 of the
// whole token. A plain hash is enough here (unlike passwords): the token
// carries 256 random bits, so there is nothing to guess from the hash.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// WellFormedToken tells whether s has the shape of a token newToken makes,
// without looking it up: a malformed header never costs a query.
func WellFormedToken(s string) bool {
	_, ok := TokenDJ(s)
	return ok
}

// TokenDJ returns the DJ id a well-formed token names; ok is false for
// anything else, the old format included. The id is only a claim until the
// token is authenticated (Store.Authenticate answers the DJ it belongs to).
func TokenDJ(s string) (dj string, ok bool) {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return "", false
	}
	rest := s[len(TokenPrefix):]
	dj, secret := rest[:djIDLen], rest[djIDLen:]
	if !bus.ValidDJID(dj) || secret[0] != '_' {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(secret[1:])
	if err != nil || len(b) != tokenBytes {
		return "", false
	}
	return dj, true
}

// CheckTokenFormat says in words what is wrong with the shape of s: nil for
// a well-formed token, ErrOldToken for the first format, another error for
// anything else. For configuration checks that tell a person what to do.
func CheckTokenFormat(s string) error {
	if WellFormedToken(s) {
		return nil
	}
	if len(s) == oldTokenLen && strings.HasPrefix(s, TokenPrefix) {
		if b, err := base64.RawURLEncoding.Strict().DecodeString(s[len(TokenPrefix):]); err == nil && len(b) == tokenBytes {
			return ErrOldToken
		}
	}
	return fmt.Errorf("accounts: not a well-formed API token (%sdj…, copied whole from your account)", TokenPrefix)
}
