package traktor

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pika-dj/pika/desktop/detect/traktor/traktortest"
)

// FuzzOggPages: any bytes, cut anywhere, read the same as read at once,
// and nothing grows past its bounds.
func FuzzOggPages(f *testing.F) {
	one := smallTrack(1, "ARTIST=A", "TITLE=B")
	f.Add(one, uint16(1))
	f.Add(one[:len(one)/2], uint16(7))
	f.Add(append([]byte("junkOggS"), one[3:]...), uint16(300))
	f.Fuzz(func(t *testing.T, data []byte, piece uint16) {
		whole, rw, errWhole := readAll(data, 0)
		cut, rc, errCut := readAll(data, int(piece%4096)+1)
		if !slices.Equal(whole, cut) || (errWhole == nil) != (errCut == nil) {
			t.Fatalf("at once %q %v; in pieces of %d %q %v", whole, errWhole, piece%4096+1, cut, errCut)
		}
		for _, r := range []*oggReader{rw, rc} {
			if len(r.buf) > maxPageLen || len(r.packet) > maxPacket {
				t.Fatalf("buffers grew: %d %d", len(r.buf), len(r.packet))
			}
		}
	})
}

// smallTrack is a track's stream with little audio, so the fuzzer's
// inputs (and their minimizing) stay quick.
func smallTrack(serial uint32, fields ...string) []byte {
	rng := rand.New(rand.NewPCG(uint64(serial), 1))
	w := traktortest.NewWriter(serial)
	out := w.Pages(traktortest.VorbisIdent())
	out = append(out, w.Pages(traktortest.VorbisComment("Traktor", fields...), append([]byte("\x05vorbis"), traktortest.Audio(rng, 40)...))...)
	return append(out, w.Pages(traktortest.Audio(rng, 60), traktortest.Audio(rng, 30))...)
}

// FuzzParseComment: any packet is read without a panic, and what is read
// is valid text.
func FuzzParseComment(f *testing.F) {
	full := traktortest.VorbisComment(traktortest.Vendor, "ARTIST=Ella Mai", "TITLE=Boo'd Up")
	f.Add(full)
	f.Add(full[:20])
	f.Add([]byte("OpusTags\x01\x00\x00\x00x\x01\x00\x00\x00\x07\x00\x00\x00TITLE=y"))
	f.Fuzz(func(t *testing.T, p []byte) {
		c, ok := parseComment(p)
		if !ok {
			return
		}
		n := 0
		for k, vs := range c.Fields {
			if k != strings.ToUpper(k) || k == "" {
				t.Fatalf("field name %q", k)
			}
			n += len(vs)
		}
		if n > maxFields {
			t.Fatalf("%d fields", n)
		}
		_ = c.info()
	})
}

// FuzzCollection: any collection.nml is read or refused, never a panic.
func FuzzCollection(f *testing.F) {
	f.Add(testCollection)
	f.Add(testCollection[:len(testCollection)/3])
	f.Add(`<NML><COLLECTION><ENTRY TITLE="a - b"><LOCATION DIR="/:" FILE="f" VOLUME="C:"/></ENTRY></COLLECTION></NML>`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := readCollection(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, tr := range c.tracks {
			if tr.BPM < 0 || tr.Duration < 0 {
				t.Fatalf("%+v", tr)
			}
			_ = tr.filePath(func(string) bool { return false })
		}
	})
}
