package rekordbox

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/desktop/detect/rekordbox/internal/sqlcipher"
)

// readCipher decrypts the master.db at path with passphrase and queries it.
func readCipher(t *testing.T, db *cipherDB) ([]row, error) {
	t.Helper()
	var rows []row
	err := db.Read(context.Background(), func(ctx context.Context, sdb *sql.DB) error {
		var err error
		rows, err = queryHistory(ctx, sdb, recent)
		return err
	})
	return rows, err
}

func ids(rows []row) string {
	var s []string
	for _, r := range rows {
		s = append(s, r.id)
	}
	return strings.Join(s, " ")
}

// The fixture was encrypted by real SQLCipher 4 (testdata/gen): reading it
// checks the key derivation, HMAC, AES-CBC and page layout against the
// real thing, and the -wal frames against SQLite's real log format.
func TestDecryptsRealSQLCipherFileAndItsWAL(t *testing.T) {
	t.Parallel()
	path := cipherFixture(t, 0)
	db := testCipherDB(t, path)
	rows, err := readCipher(t, db)
	if err != nil {
		t.Fatal(err)
	}
	if ids(rows) != "h1-3 h1-2 h1-1" {
		t.Fatalf("rows %q, want yesterday's three from master.db", ids(rows))
	}
	e := rows[0].entry
	if e.Title != "Anchor Step Blues" || e.Artist != "Delta Lowlands" || e.Album != "Late Social" || e.Key != "F#m" ||
		e.BPM != 88 || e.Duration != 245 || e.Path != "/Users/dj/Music/WCS/Anchor Step Blues.mp3" {
		t.Fatalf("decrypted row: %s", describe(e))
	}
	if !e.PlayedAt.Equal(time.Date(2026, 8, 14, 21, 3, 0, 300e6, time.UTC)) {
		t.Fatalf("PlayedAt %v", e.PlayedAt)
	}
	// Nothing changed: no decryption, no query.
	if _, err := readCipher(t, db); !errors.Is(err, errUnchanged) {
		t.Fatalf("second read of unchanged files: %v, want errUnchanged", err)
	}

	// The whole -wal: twelve more plays tonight, only in the log.
	stages := walStages(t)
	for i := 1; i < len(stages); i++ {
		commitStage(t, path, i)
	}
	rows, err = readCipher(t, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 15 || rows[0].id != "h2-12" || rows[12].id != "h1-3" {
		t.Fatalf("rows %q, want tonight's twelve then yesterday's three", ids(rows))
	}
	if e := rows[0].entry; e.Title != "Lean Into It" || e.BPM != 102 || e.Remix != "Radio Edit" {
		t.Fatalf("newest: %s", describe(e))
	}
	if e := rows[8].entry; e.Title != "Sugar Push Sunday" || e.BPM != 110.5 || e.ISRC != "ZZX0A2600004" || e.Remix != "Extended Mix" {
		t.Fatalf("h2-4: %s", describe(e))
	}
}

// An image brought up to date commit by commit is the same as one
// decrypted from scratch.
func TestIncrementalImageEqualsAFreshOne(t *testing.T) {
	t.Parallel()
	path := cipherFixture(t, 0)
	inc := testCipherDB(t, path)
	if _, err := readCipher(t, inc); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(walStages(t)); i++ {
		commitStage(t, path, i)
		if _, err := readCipher(t, inc); err != nil {
			t.Fatalf("stage %d: %v", i, err)
		}
	}
	fresh := testCipherDB(t, path)
	if _, err := readCipher(t, fresh); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(inc.file.Name())
	b, _ := os.ReadFile(fresh.file.Name())
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("incremental image (%d bytes) differs from a fresh one (%d bytes)", len(a), len(b))
	}
	if info, _ := os.Stat(inc.file.Name()); info.Mode().Perm() != 0o600 {
		t.Fatalf("the plain image is %v, want readable by the DJ only", info.Mode().Perm())
	}
	dir := inc.dir
	inc.Close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left the decrypted copy: %v", err)
	}
}

func TestWrongKeyIsSaidPlainly(t *testing.T) {
	t.Parallel()
	path := cipherFixture(t, 3)
	db := newCipherDB(path, strings.Repeat("ab", 32))
	t.Cleanup(func() { db.Close() })
	_, err := readCipher(t, db)
	if !errors.Is(err, sqlcipher.ErrWrongKey) || !strings.HasPrefix(err.Error(), "rekordbox's database did not open with the key given: ") {
		t.Fatalf("err = %v, want the wrong-key error", err)
	}
}

func TestDamagedPageIsNamed(t *testing.T) {
	t.Parallel()
	path := cipherFixture(t, 0)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[2*sqlcipher.PageSize+100] ^= 0x55 // inside page 3's ciphertext
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	db := testCipherDB(t, path)
	_, err = readCipher(t, db)
	if !errors.Is(err, sqlcipher.ErrDamaged) || !strings.Contains(err.Error(), "page 3") {
		t.Fatalf("err = %v, want damaged page 3", err)
	}

	// A master.db cut short is not a crash either.
	if err := os.WriteFile(path, b[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readCipher(t, db); !errors.Is(err, sqlcipher.ErrShort) {
		t.Fatalf("cut short: %v", err)
	}
}

// SQLite's -wal layout: a 24-byte header before each page.
const (
	frameHeaderSize = 24
	frameSize       = frameHeaderSize + sqlcipher.PageSize
)

// SQLite's own rules for the log: frames count only up to the last commit
// whose checksums hold and whose salts match the header.
func TestWALFramesCountOnlyWhenCommittedAndValid(t *testing.T) {
	t.Parallel()
	stages := walStages(t)
	wal, err := os.ReadFile(filepath.Join("testdata", "cipher", "master.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		wal  func() []byte
		want int // plays of tonight seen
	}{
		{"whole", func() []byte { return wal }, 12},
		{"a commit half written", func() []byte { return wal[:stages[5]+frameSize+100] }, 5},
		{"a commit's frames without its commit frame", func() []byte { return wal[:stages[5]+2*frameSize] }, 5},
		{"a bad checksum in commit 6", func() []byte {
			b := bytes.Clone(wal)
			b[stages[5]+frameHeaderSize+10] ^= 1
			return b
		}, 5},
		{"frames of an older log (salt differs)", func() []byte {
			b := bytes.Clone(wal)
			for off := int(stages[3]); off < len(b); off += frameSize {
				b[off+8] ^= 0xff
			}
			return b
		}, 3},
		{"a header whose checksum fails", func() []byte {
			b := bytes.Clone(wal)
			binary.BigEndian.PutUint32(b[12:], 99) // checkpoint sequence
			return b
		}, -1},
		{"empty", func() []byte { return nil }, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := cipherFixture(t, 0)
			if err := os.WriteFile(path+"-wal", tc.wal(), 0o644); err != nil {
				t.Fatal(err)
			}
			db := testCipherDB(t, path)
			rows, err := readCipher(t, db)
			if err != nil {
				t.Fatal(err)
			}
			tonight := 0
			for _, r := range rows {
				if strings.HasPrefix(r.id, "h2-") {
					tonight++
				}
			}
			if tc.want < 0 {
				// Without the log, not even tonight's empty list exists.
				if tonight != 0 || len(rows) != 3 {
					t.Fatalf("rows %q, want only master.db's", ids(rows))
				}
				return
			}
			if tonight != tc.want {
				t.Fatalf("rows %q, want %d of tonight's", ids(rows), tc.want)
			}
		})
	}
}

func TestPlainMasterDBIsReadAsIs(t *testing.T) {
	t.Parallel()
	path, w := plainFixture(t)
	addPlay(t, w, "h2-1", "h2", "101", setStart)
	db := testCipherDB(t, path)
	rows, err := readCipher(t, db)
	if err != nil || len(rows) != 3 {
		t.Fatalf("rows %q, %v", ids(rows), err)
	}
}

// The whole source on the encrypted fixture: rekordbox commits one play at
// a time into the -wal, each is announced once, in order.
func TestSourceFollowsEncryptedDatabaseCommitByCommit(t *testing.T) {
	t.Parallel()
	path := cipherFixture(t, 0)
	c := detecttest.NewClock(setStart)
	src, err := open(detect.Found{Path: path}, detect.Options{}, detecttest.Getenv(map[string]string{KeyEnv: testPassphrase}))
	if err != nil {
		t.Fatal(err)
	}
	// The same source with an injected clock and the fixture's keys.
	db := src.db.(*cipherDB)
	k, err := fixtureKeys()
	if err != nil {
		t.Fatal(err)
	}
	db.image.SetKeys(k)
	src, err = newSource(path, db, detect.Options{}, detect.PolledConfig{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	got := detecttest.RunSource(t, src)
	got.WaitRead(t)
	titles := []string{"Slow Burn Shuffle", "Lean Into It", "Anchor Step Blues", "Sugar Push Sunday"}
	for i := 1; i <= 4; i++ {
		c.Advance(time.Minute)
		commitStage(t, path, i)
		e := got.Next(t)
		if e.Title != titles[i-1] || e.Source != "rekordbox" || e.PlayedAt.Minute() != i {
			t.Fatalf("commit %d: %s at %v", i, describe(e), e.PlayedAt)
		}
	}
	got.Quiet(t)
}

func TestASecondRunIsRefusedAndLeavesTheFirstAlone(t *testing.T) {
	t.Parallel()
	path := cipherFixture(t, 0)
	src, err := newSource(path, testCipherDB(t, path), detect.Options{}, detect.PolledConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := detecttest.RunSource(t, src)
	got.WaitRead(t)
	if err := src.Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Run: %v", err)
	}
	commitStage(t, path, 1)
	if e := got.Next(t); e.Title != "Slow Burn Shuffle" {
		t.Fatalf("after a refused second Run: %s", describe(e))
	}
}
