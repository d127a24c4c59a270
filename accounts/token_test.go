package accounts

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/pika-dj/pika/bus"
)

// TestTokenFormat: a new token names its DJ (pika_<dj>_<secret>), round-trips
// through TokenDJ, and its hash covers the DJ id; the first format (no DJ
// id) is refused with the advice to make a new token.
func TestTokenFormat(t *testing.T) {
	dj := bus.NewDJID()
	tok, hash, err := newToken(dj)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != tokenLen || !strings.HasPrefix(tok, TokenPrefix+dj+"_") {
		t.Fatalf("token %q: want pika_%s_ and 43 characters", tok, dj)
	}
	if got, ok := TokenDJ(tok); !ok || got != dj {
		t.Fatalf("TokenDJ(%q) = %q, %v; want %s", tok, got, ok, dj)
	}
	if !WellFormedToken(tok) || CheckTokenFormat(tok) != nil {
		t.Fatalf("%q is not well formed: %v", tok, CheckTokenFormat(tok))
	}
	if hash != hashToken(tok) {
		t.Fatal("the hash is not of the whole token")
	}
	// Another DJ's id in front of the same secret is another token.
	other := TokenPrefix + bus.NewDJID() + tok[len(TokenPrefix)+djIDLen:]
	if hashToken(other) == hash {
		t.Fatal("the DJ id is not covered by the hash")
	}
	if _, _, err := newToken("not-a-dj"); err == nil {
		t.Fatal("a token for a malformed DJ id")
	}

	old := TokenPrefix + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	if WellFormedToken(old) {
		t.Fatal("an old-format token passes as well formed")
	}
	if err := CheckTokenFormat(old); !errors.Is(err, ErrOldToken) || !strings.Contains(err.Error(), "new token") {
		t.Fatalf("old format: %v, want ErrOldToken telling to make a new token", err)
	}
	for _, bad := range []string{"", TokenPrefix, tok + "x", tok[:len(tok)-1],
		strings.Replace(tok, "_"+tok[len(tok)-43:], "-"+tok[len(tok)-43:], 1), // separator
		TokenPrefix + "DJ" + tok[len(TokenPrefix)+2:],                         // DJ id upper case
	} {
		if _, ok := TokenDJ(bad); ok {
			t.Errorf("TokenDJ(%q) accepted it", bad)
		}
		if err := CheckTokenFormat(bad); err == nil || errors.Is(err, ErrOldToken) {
			t.Errorf("CheckTokenFormat(%q) = %v", bad, err)
		}
	}
}
