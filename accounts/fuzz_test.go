package accounts

import (
	"strings"
	"testing"

	"github.com/pika-dj/pika/bus"
)

// FuzzDecodeHash: a stored hash is read back by decodeHash; whatever the
// column holds, it never panics and never yields costs past the bounds
// (which would let one row make a login allocate gigabytes).
func FuzzDecodeHash(f *testing.F) {
	h, err := HashPassword("seed password", HashParams{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(h)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := decodeHash(s)
		if err != nil {
			return
		}
		p := d.params
		if p.Memory < 8 || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads {
			t.Fatalf("%q decoded to costs %+v out of bounds", s, p)
		}
		if len(d.salt) < 8 || len(d.key) < 16 {
			t.Fatalf("%q decoded to a salt of %d bytes and a key of %d", s, len(d.salt), len(d.key))
		}
	})
}

// FuzzToken: what a client sends as a token or a login is checked without
// panicking, and what passes has the shape the store relies on.
func FuzzToken(f *testing.F) {
	tok, _, err := newToken(bus.NewDJID())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Fuzz(func(t *testing.T, s string) {
		if WellFormedToken(s) && (len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix)) {
			t.Fatalf("%q passed as a token", s)
		}
		if dj, ok := TokenDJ(s); ok && (!bus.ValidDJID(dj) || !strings.HasPrefix(s, TokenPrefix+dj+"_")) {
			t.Fatalf("%q: DJ id %q", s, dj)
		}
		_ = CheckTokenFormat(s)
		if l, err := NormalizeLogin(s); err == nil {
			if l != strings.ToLower(l) || len(l) < 3 || len(l) > 64 {
				t.Fatalf("%q normalized to %q", s, l)
			}
			if again, err := NormalizeLogin(l); err != nil || again != l {
				t.Fatalf("normalizing %q twice: %q, %v", s, again, err)
			}
		}
	})
}
