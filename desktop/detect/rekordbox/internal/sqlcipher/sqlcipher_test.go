package sqlcipher

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The encrypted fixture of the rekordbox package, made by real SQLCipher 4
// (../../testdata/gen) with a TEST passphrase, not rekordbox's key.
var fixture = filepath.Join("..", "..", "testdata", "cipher")

const testPassphrase = "14b27c307904a5072fcdc9c58a1c361ffbe12dbf496f80d3983163d45c05242f"

// The fixture's salt (its first 16 bytes) and the keys SQLCipher 4 derives
// from testPassphrase with it; TestDeriveKeysAsSQLCipherDoes checks them and
// prints new ones after the fixture is regenerated.
const (
	fixtureSalt   = "391bf964d10768a1b5713c0ed473aee5"
	fixtureEncKey = "c727e721b496ff3b887411e09f254f08a38238ab88123e1fe47b68e95347e404"
	fixtureMACKey = "c7529dd72a0acc0f7b3c7b3bccf8f9e95cb7b50ddc26072037d52c170e37f393"
)

// fixtureKeys are the fixture's keys without the 256,000 PBKDF2 rounds.
func fixtureKeys(t testing.TB) *Keys {
	t.Helper()
	salt, _ := hex.DecodeString(fixtureSalt)
	enc, _ := hex.DecodeString(fixtureEncKey)
	mac, _ := hex.DecodeString(fixtureMACKey)
	k, err := NewKeys(salt, enc, mac)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixture, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeriveKeysAsSQLCipherDoes(t *testing.T) {
	main := readFixture(t, "master.db")
	k, err := DeriveKeys(testPassphrase, main[:SaltSize])
	if err != nil {
		t.Fatal(err)
	}
	want := fixtureKeys(t)
	probe := func(k *Keys) []byte { // the AES key is not kept: compare what it does
		out := make([]byte, 16)
		k.block.Encrypt(out, make([]byte, 16))
		return out
	}
	if !bytes.Equal(k.Salt(), want.Salt()) || !bytes.Equal(k.mac, want.mac) || !bytes.Equal(probe(k), probe(want)) {
		t.Fatalf("derived salt %x mac %x: not the fixture's (regenerated? update fixtureSalt, fixtureEncKey, fixtureMACKey)", k.Salt(), k.mac)
	}
}

// Decrypting real SQLCipher pages gives SQLite pages: the magic string, a
// 4096-byte page size and 80 reserved bytes in the header of page 1.
func TestDecryptsPagesIntoPlainSQLite(t *testing.T) {
	main := readFixture(t, "master.db")
	im := Image{}
	im.SetKeys(fixtureKeys(t))
	out := &memImage{}
	if err := im.Update(out, bytesAt(main), int64(len(main)), nil, 0); err != nil {
		t.Fatal(err)
	}
	if len(out.b) != len(main) || !bytes.HasPrefix(out.b, Magic) {
		t.Fatalf("image of %d bytes starting %q", len(out.b), out.b[:16])
	}
	if ps, res := int(out.b[16])<<8|int(out.b[17]), out.b[20]; ps != PageSize || res != reserve || out.b[18] != 1 || out.b[19] != 1 {
		t.Fatalf("header: page size %d, reserved %d, versions %d %d", ps, res, out.b[18], out.b[19])
	}
	if !bytes.Contains(out.b, []byte("djmdSongHistory")) || !bytes.Contains(out.b, []byte("Slow Burn Shuffle")) {
		t.Fatal("the schema and rows should be readable in the image")
	}

	// Pages whose IV did not change are not decrypted again: damage to an
	// unchanged page's ciphertext goes unseen, proof it was skipped.
	damaged := bytes.Clone(main)
	damaged[2*PageSize+7] ^= 1
	if err := im.Update(out, bytesAt(damaged), int64(len(damaged)), nil, 0); err != nil {
		t.Fatalf("unchanged pages were decrypted again: %v", err)
	}
	im.Forget()
	if err := im.Update(out, bytesAt(damaged), int64(len(damaged)), nil, 0); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "page 3") {
		t.Fatalf("after Forget: %v, want damaged page 3", err)
	}
}

func TestAWALClaimingMorePagesThanItHasIsDamage(t *testing.T) {
	main := readFixture(t, "master.db")
	wal := bytes.Clone(readFixture(t, "master.db-wal")[:walHeaderSize+frameSize])
	// One frame, a commit claiming a database of a million pages; fix the
	// checksum so the frame counts.
	wal[walHeaderSize+4], wal[walHeaderSize+5] = 0x0f, 0x42
	order, s1, s2 := walOrder(wal)
	s1, s2 = walChecksum(order, s1, s2, wal[walHeaderSize:walHeaderSize+8])
	s1, s2 = walChecksum(order, s1, s2, wal[walHeaderSize+frameHeaderSize:])
	putBE(wal[walHeaderSize+16:], s1)
	putBE(wal[walHeaderSize+20:], s2)
	im := Image{}
	im.SetKeys(fixtureKeys(t))
	err := im.Update(&memImage{}, bytesAt(main), int64(len(main)), bytesAt(wal), int64(len(wal)))
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("err = %v, want damage", err)
	}
}

// FuzzDecrypt feeds master.db and master.db-wal bytes to the decoder: it
// must never panic, and what it accepts is whole pages of plain SQLite.
// Inputs keep the fixture's salt so no keys are derived per input; the
// seeds are cut from the real SQLCipher fixture, so the accepting paths are
// covered too.
func FuzzDecrypt(f *testing.F) {
	k := fixtureKeys(f)
	f.Fuzz(func(t *testing.T, main, wal []byte) {
		if len(main) >= SaltSize {
			copy(main, k.Salt())
		}
		im := Image{}
		im.SetKeys(k)
		out := &memImage{}
		err := im.Update(out, bytesAt(main), int64(len(main)), bytesAt(wal), int64(len(wal)))
		if err == nil && (len(out.b) == 0 || len(out.b)%PageSize != 0 || !bytes.HasPrefix(out.b, Magic)) {
			t.Fatalf("accepted an image of %d bytes", len(out.b))
		}
		if err != nil && !strings.Contains(err.Error(), "rekordbox's database") {
			t.Fatalf("an error not worded for a DJ: %v", err)
		}
		// Again with the same state: the incremental path.
		im.Update(out, bytesAt(main), int64(len(main)), bytesAt(wal), int64(len(wal)))
	})
}

// memImage is a File in memory, bounded so an input cannot make it huge
// unnoticed.
type memImage struct{ b []byte }

const memLimit = 64 << 20

func (m *memImage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > memLimit {
		return 0, errors.New("image too large")
	}
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memImage) Truncate(n int64) error {
	if n < 0 || n > memLimit {
		return errors.New("image too large")
	}
	if int(n) <= len(m.b) {
		m.b = m.b[:n]
	} else {
		m.b = append(m.b, make([]byte, int(n)-len(m.b))...)
	}
	return nil
}

type bytesAt []byte

func (b bytesAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, errors.New("out of range")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errors.New("short read")
	}
	return n, nil
}

// walOrder is the checksum byte order of a -wal and its header checksum,
// where the first frame's checksum starts.
func walOrder(wal []byte) (binary.ByteOrder, uint32, uint32) {
	var order binary.ByteOrder = binary.LittleEndian
	if wal[3]&1 == 1 {
		order = binary.BigEndian
	}
	return order, binary.BigEndian.Uint32(wal[24:]), binary.BigEndian.Uint32(wal[28:])
}

func putBE(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

// BenchmarkDecryptWholeDatabase is the cost of a first read (or Forget):
// every page verified and decrypted. A new history row changes a handful of
// pages, so later reads cost a few pages' worth.
func BenchmarkDecryptWholeDatabase(b *testing.B) {
	main := readFixture(b, "master.db")
	k := fixtureKeys(b)
	out := &memImage{}
	b.SetBytes(int64(len(main)))
	for b.Loop() {
		im := Image{}
		im.SetKeys(k)
		if err := im.Update(out, bytesAt(main), int64(len(main)), nil, 0); err != nil {
			b.Fatal(err)
		}
	}
}
