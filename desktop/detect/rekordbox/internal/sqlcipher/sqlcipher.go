// Package sqlcipher reads SQLCipher 4 databases in pure Go, as rekordbox 6
// and 7 write their master.db: it verifies and decrypts pages and -wal
// frames into a plain SQLite image that a pure-Go SQLite can open, so the
// app needs no cgo. It reads only SQLCipher 4's default settings and only
// ever reads the encrypted files.
package sqlcipher

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// SQLCipher 4 with its default settings, as rekordbox 6 and 7 use it: every
// page of master.db (and every page in a frame of master.db-wal) is
// AES-256-CBC ciphertext followed by 80 reserved bytes, a random 16-byte IV
// and an HMAC-SHA512 of ciphertext, IV and page number. Page 1 starts with
// the 16-byte key-derivation salt instead of SQLite's magic string.
const (
	PageSize    = 4096
	SaltSize    = 16
	ivSize      = 16
	hmacSize    = 64
	reserve     = ivSize + hmacSize // bytes at the end of each page that are not ciphertext
	kdfRounds   = 256000            // PBKDF2-HMAC-SHA512 rounds for the encryption key
	hmacRounds  = 2                 // and for the HMAC key, from the encryption key
	hmacSaltXOR = 0x3a              // the HMAC key's salt is the file's salt XOR this
	keyLen      = 32

	walHeaderSize   = 32
	frameHeaderSize = 24
	frameSize       = frameHeaderSize + PageSize
)

// Magic starts every plain SQLite file, and every decrypted page 1.
var Magic = []byte("SQLite format 3\x00")

// Errors a DJ may see, in their words. ErrWrongKey and ErrDamaged are
// wrapped with details.
var (
	ErrWrongKey = errors.New("rekordbox's database did not open with the key given")
	ErrDamaged  = errors.New("rekordbox's database has a damaged page")
	ErrShort    = errors.New("rekordbox's database is empty or cut short")
)

// Keys are the keys derived from the DJ's passphrase for one salt (one
// master.db: the salt changes only when rekordbox makes a new database).
type Keys struct {
	salt  [SaltSize]byte
	block cipher.Block
	mac   []byte
}

// DeriveKeys runs SQLCipher 4's key derivation: 256,000 PBKDF2 rounds, a
// noticeable fraction of a second, so callers keep the result.
func DeriveKeys(passphrase string, salt []byte) (*Keys, error) {
	if len(salt) != SaltSize {
		return nil, fmt.Errorf("%w: %d-byte salt", ErrShort, len(salt))
	}
	enc, err := pbkdf2.Key(sha512.New, passphrase, salt, kdfRounds, keyLen)
	if err != nil {
		return nil, fmt.Errorf("derive rekordbox's database key: %w", err)
	}
	macSalt := make([]byte, SaltSize)
	for i, b := range salt {
		macSalt[i] = b ^ hmacSaltXOR
	}
	mac, err := pbkdf2.Key(sha512.New, string(enc), macSalt, hmacRounds, keyLen)
	if err != nil {
		return nil, fmt.Errorf("derive rekordbox's database key: %w", err)
	}
	return NewKeys(salt, enc, mac)
}

// NewKeys makes Keys from derived key material.
func NewKeys(salt, enc, mac []byte) (*Keys, error) {
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, fmt.Errorf("derive rekordbox's database key: %w", err)
	}
	k := &Keys{block: block, mac: mac}
	copy(k.salt[:], salt)
	return k, nil
}

// decryptPage checks raw, the encrypted page pgno, against its HMAC and
// decrypts it into dst. Both are PageSize bytes. A decrypted page 1 gets
// SQLite's magic string back and is marked as a rollback-journal database,
// so the plain image opens without a -wal file.
func (k *Keys) decryptPage(dst, raw []byte, pgno uint32) error {
	if len(raw) != PageSize || len(dst) != PageSize {
		return fmt.Errorf("%w: page %d is %d bytes", ErrShort, pgno, len(raw))
	}
	off := 0
	if pgno == 1 {
		off = SaltSize
	}
	end := PageSize - reserve
	iv := raw[end : end+ivSize]

	m := hmac.New(sha512.New, k.mac)
	m.Write(raw[off : end+ivSize])
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], pgno)
	m.Write(n[:])
	if !hmac.Equal(m.Sum(nil), raw[end+ivSize:]) {
		if pgno == 1 {
			return fmt.Errorf("%w: the check of its first page failed (a wrong key, or a damaged file)", ErrWrongKey)
		}
		return fmt.Errorf("%w: page %d fails its check", ErrDamaged, pgno)
	}
	cipher.NewCBCDecrypter(k.block, iv).CryptBlocks(dst[off:end], raw[off:end])
	clear(dst[end:])
	if pgno == 1 {
		copy(dst, Magic)
		// Bytes 18 and 19 are 2 in a WAL database; 1 = rollback journal.
		dst[18], dst[19] = 1, 1
	}
	return nil
}

// walIndex says where the newest committed copy of each page is in a -wal
// file, as SQLite itself would read it.
type walIndex struct {
	frames map[uint32]int64 // page number → offset of its page data in the -wal
	pages  uint32           // database size in pages after the last commit; 0: no commit
}

// readWAL indexes the committed frames of a -wal file of size bytes: frames
// whose salts match the header's and whose running checksum holds, up to
// the last commit frame. Anything after is an unfinished or old
// transaction and is ignored, as SQLite does. A -wal that is not valid
// yields an empty index, not an error: SQLite ignores it too.
func readWAL(r io.ReaderAt, size int64) (walIndex, error) {
	idx := walIndex{frames: map[uint32]int64{}}
	if size < walHeaderSize {
		return idx, nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	var hdr [walHeaderSize]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return idx, fmt.Errorf("read rekordbox's database log: %w", err)
	}
	magic := binary.BigEndian.Uint32(hdr[0:4])
	if magic&^1 != 0x377f0682 || binary.BigEndian.Uint32(hdr[8:12]) != PageSize {
		return idx, nil
	}
	var order binary.ByteOrder = binary.LittleEndian
	if magic&1 == 1 {
		order = binary.BigEndian
	}
	s1, s2 := walChecksum(order, 0, 0, hdr[:24])
	if s1 != binary.BigEndian.Uint32(hdr[24:28]) || s2 != binary.BigEndian.Uint32(hdr[28:32]) {
		return idx, nil
	}
	salt := hdr[16:24]

	pending := map[uint32]int64{}
	frame := make([]byte, frameSize)
	for off := int64(walHeaderSize); off+frameSize <= size; off += frameSize {
		if _, err := io.ReadFull(br, frame); err != nil {
			return idx, fmt.Errorf("read rekordbox's database log: %w", err)
		}
		pgno := binary.BigEndian.Uint32(frame[0:4])
		commit := binary.BigEndian.Uint32(frame[4:8])
		if pgno == 0 || !bytes.Equal(frame[8:16], salt) {
			break
		}
		s1, s2 = walChecksum(order, s1, s2, frame[:8])
		s1, s2 = walChecksum(order, s1, s2, frame[frameHeaderSize:])
		if s1 != binary.BigEndian.Uint32(frame[16:20]) || s2 != binary.BigEndian.Uint32(frame[20:24]) {
			break
		}
		pending[pgno] = off + frameHeaderSize
		if commit != 0 {
			for p, o := range pending {
				idx.frames[p] = o
			}
			clear(pending)
			idx.pages = commit
		}
	}
	return idx, nil
}

// walChecksum continues SQLite's WAL checksum over b (a multiple of 8
// bytes), reading 32-bit words in the order the -wal header names.
func walChecksum(order binary.ByteOrder, s1, s2 uint32, b []byte) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s1 += order.Uint32(b[i:]) + s2
		s2 += order.Uint32(b[i+4:]) + s1
	}
	return s1, s2
}

// File is where the plain image is written: an *os.File, or memory in
// the fuzz test.
type File interface {
	io.WriterAt
	Truncate(size int64) error
}

// Image is a decrypted copy of master.db with its -wal applied, kept up
// to date page by page: SQLCipher gives every page write a fresh random IV,
// so a page whose IV is the one already decrypted has not changed and is
// not decrypted again. A library of tens of thousands of tracks is tens of
// megabytes; a new history row changes a handful of pages.
type Image struct {
	Passphrase string
	keys       *Keys          // for the salt of the database last read
	ivs        [][ivSize]byte // IV of each page now in the image; zero = not written
}

// Update brings out up to date with the database in main (mainSize bytes)
// and its -wal in wal (walSize bytes; 0 when there is none).
func (im *Image) Update(out File, main io.ReaderAt, mainSize int64, wal io.ReaderAt, walSize int64) error {
	if mainSize < PageSize {
		return fmt.Errorf("%w (%d bytes)", ErrShort, mainSize)
	}
	salt := make([]byte, SaltSize)
	if _, err := main.ReadAt(salt, 0); err != nil {
		return fmt.Errorf("read rekordbox's database: %w", err)
	}
	if im.keys == nil || !bytes.Equal(im.keys.salt[:], salt) {
		k, err := DeriveKeys(im.Passphrase, salt)
		if err != nil {
			return err
		}
		im.keys, im.ivs = k, nil
	}
	idx := walIndex{}
	if walSize > 0 {
		var err error
		if idx, err = readWAL(wal, walSize); err != nil {
			return err
		}
	}
	mainPages := uint32(min(mainSize/PageSize, 1<<31))
	pages := mainPages
	if idx.pages > 0 {
		pages = idx.pages
	}
	// Every page must come from master.db or the log: a larger count is a
	// damaged log, and must not make us allocate for it.
	if pages > mainPages && int64(pages) > int64(mainPages)+int64(len(idx.frames)) {
		return fmt.Errorf("%w: its log says %d pages, it has %d", ErrDamaged, pages, int64(mainPages)+int64(len(idx.frames)))
	}
	if len(im.ivs) > int(pages) {
		im.ivs = im.ivs[:pages]
	}
	for len(im.ivs) < int(pages) {
		im.ivs = append(im.ivs, [ivSize]byte{})
	}

	br := bufio.NewReaderSize(io.NewSectionReader(main, 0, int64(mainPages)*PageSize), 256<<10)
	raw := make([]byte, PageSize)
	plain := make([]byte, PageSize)
	for pgno := uint32(1); pgno <= pages; pgno++ {
		if pgno <= mainPages {
			// Read main sequentially even for pages the -wal replaces.
			if _, err := io.ReadFull(br, raw); err != nil {
				return fmt.Errorf("read rekordbox's database: %w", err)
			}
		}
		if off, ok := idx.frames[pgno]; ok {
			if _, err := wal.ReadAt(raw, off); err != nil {
				return fmt.Errorf("read rekordbox's database log: %w", err)
			}
		} else if pgno > mainPages {
			return fmt.Errorf("%w: page %d is missing", ErrDamaged, pgno)
		}
		var iv [ivSize]byte
		copy(iv[:], raw[PageSize-reserve:])
		if iv == im.ivs[pgno-1] && iv != ([ivSize]byte{}) {
			continue
		}
		if err := im.keys.decryptPage(plain, raw, pgno); err != nil {
			return err
		}
		if _, err := out.WriteAt(plain, int64(pgno-1)*PageSize); err != nil {
			return fmt.Errorf("write the decrypted copy of rekordbox's database: %w", err)
		}
		im.ivs[pgno-1] = iv
	}
	if err := out.Truncate(int64(pages) * PageSize); err != nil {
		return fmt.Errorf("write the decrypted copy of rekordbox's database: %w", err)
	}
	return nil
}

// SetKeys gives im keys already derived for their salt (tests, fuzzing:
// derivation is slow on purpose).
func (im *Image) SetKeys(k *Keys) { im.keys = k }

// Salt is the salt k was derived with.
func (k *Keys) Salt() []byte { return k.salt[:] }

// Forget makes the next Update decrypt every page again (the image file
// was lost or a write to it failed half-way).
func (im *Image) Forget() { im.ivs = nil }
