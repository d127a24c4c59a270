package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// TokenPrefix starts every API token, so a leaked one is recognisable
// (secret scanners, logs) and never mistaken for a session's DJ secret.
const TokenPrefix = "pika_"

const (
	tokenBytes = 32
	// tokenLen is the length of a token: the prefix and 32 bytes in
	// unpadded base64url (43 characters).
	tokenLen = len(TokenPrefix) + 43
)

// newToken makes a random token and the hash under which it is stored.
func newToken() (token, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("accounts: token randomness: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
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
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s[len(TokenPrefix):])
	return err == nil && len(b) == tokenBytes
}
