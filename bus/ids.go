package bus

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// NewID returns a fresh ULID: unique without a network, sortable by creation
// time, and made only of [0-9A-Z], so it is safe as a subject token.
func NewID(at time.Time) string {
	return ulid.MustNew(ulid.Timestamp(at), rand.Reader).String()
}

// DerivedID returns the ULID for an event whose origin can be seen twice,
// such as one history-file entry read before and after a restart: the same
// time and key always give the same id, so a second sighting is deduplicated
// by JetStream and by every consumer instead of becoming a second play.
func DerivedID(at time.Time, key string) string {
	sum := sha256.Sum256([]byte(key))
	return ulid.MustNew(ulid.Timestamp(at), bytes.NewReader(sum[:10])).String()
}

// ValidID reports whether s is a ULID in canonical form (26 Crockford base32
// characters, upper case). Session and event ids from outside are checked
// with it before they go anywhere near a subject.
func ValidID(s string) bool {
	if len(s) != ulid.EncodedSize {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') || c == 'I' || c == 'L' || c == 'O' || c == 'U' {
			return false
		}
	}
	// The first character carries the top bits of a 48-bit time: above 7 overflows.
	return s[0] <= '7'
}

// djIDEncoding is lower-case RFC 4648 base32 without padding: letters and
// digits only, valid in a subject token, a stream name and a JetStream domain.
var djIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewDJID makes a DJ id: "dj" and 16 random base32 characters (80 bits).
func NewDJID() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("bus: no randomness: %v", err)) // crypto/rand never fails on Linux
	}
	return "dj" + djIDEncoding.EncodeToString(b[:])
}

// ValidDJID reports whether s has the shape NewDJID makes.
func ValidDJID(s string) bool {
	if len(s) != 18 || !strings.HasPrefix(s, "dj") {
		return false
	}
	_, err := djIDEncoding.DecodeString(s[2:])
	return err == nil
}
