package rekordbox

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/desktop/detect/rekordbox/internal/sqlcipher"
)

// testPassphrase is the TEST key of testdata/cipher (made by testdata/gen):
// sha256("pika-test-passphrase"), not rekordbox's key.
const testPassphrase = "14b27c307904a5072fcdc9c58a1c361ffbe12dbf496f80d3983163d45c05242f"

// fixtureKeys are the keys of testdata/cipher/master.db, derived once for
// all tests: 256,000 PBKDF2 rounds take a while under the race detector.
var fixtureKeys = sync.OnceValues(func() (*sqlcipher.Keys, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "cipher", "master.db"))
	if err != nil {
		return nil, err
	}
	return sqlcipher.DeriveKeys(testPassphrase, b[:sqlcipher.SaltSize])
})

// testCipherDB is newCipherDB for the fixture at path, with its keys
// already derived.
func testCipherDB(t testing.TB, path string) *cipherDB {
	t.Helper()
	k, err := fixtureKeys()
	if err != nil {
		t.Fatal(err)
	}
	db := newCipherDB(path, testPassphrase)
	db.image.SetKeys(k)
	t.Cleanup(func() { db.Close() })
	return db
}

// plainDB is a master.db that is plain SQLite, for the query tests.
type plainDB struct{ path string }

func (p plainDB) Read(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error) error {
	return detect.ReadSQLite(ctx, p.path, fn)
}

func (plainDB) Close() error { return nil }

// common are the columns every rekordbox table has.
const common = `UUID VARCHAR(255), rb_data_status INTEGER DEFAULT 0, rb_local_data_status INTEGER DEFAULT 0,
 rb_local_deleted TINYINT(1) DEFAULT 0, rb_local_synced TINYINT(1) DEFAULT 0, usn BIGINT, rb_local_usn BIGINT,
 created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL`

// plainSchema is rekordbox's layout for the tables the source reads (the
// columns of djmdContent it does not read are left out).
var plainSchema = []string{
	`CREATE TABLE djmdArtist (ID VARCHAR(255) PRIMARY KEY, Name VARCHAR(255), SearchStr VARCHAR(255), ` + common + `)`,
	`CREATE TABLE djmdAlbum (ID VARCHAR(255) PRIMARY KEY, Name VARCHAR(255), AlbumArtistID VARCHAR(255), ImagePath VARCHAR(255), ` + common + `)`,
	`CREATE TABLE djmdKey (ID VARCHAR(255) PRIMARY KEY, ScaleName VARCHAR(255), Seq INTEGER, ` + common + `)`,
	`CREATE TABLE djmdContent (ID VARCHAR(255) PRIMARY KEY, FolderPath VARCHAR(255), FileNameL VARCHAR(255), Title VARCHAR(255),
 ArtistID VARCHAR(255), AlbumID VARCHAR(255), GenreID VARCHAR(255), BPM INTEGER, Length INTEGER, KeyID VARCHAR(255),
 Subtitle VARCHAR(255), ISRC VARCHAR(255), DJPlayCount INTEGER, ImagePath VARCHAR(255), ` + common + `)`,
	`CREATE TABLE djmdHistory (ID VARCHAR(255) PRIMARY KEY, Seq INTEGER, Name VARCHAR(255), Attribute INTEGER, ParentID VARCHAR(255), DateCreated VARCHAR(255), ` + common + `)`,
	`CREATE TABLE djmdSongHistory (ID VARCHAR(255) PRIMARY KEY, HistoryID VARCHAR(255), ContentID VARCHAR(255), TrackNo INTEGER, ` + common + `)`,
}

const libraryRows = `
INSERT INTO djmdArtist (ID, Name, usn, created_at, updated_at) VALUES
 ('a1', 'The Invented Quartet', 1, '2026-08-01 10:00:00.000 +00:00', '2026-08-01 10:00:00.000 +00:00'),
 ('a2', 'Mara Okonkwo', 2, '2026-08-01 10:00:00.000 +00:00', '2026-08-01 10:00:00.000 +00:00');
INSERT INTO djmdAlbum (ID, Name, usn, created_at, updated_at) VALUES
 ('al1', 'Late Social', 3, '2026-08-01 10:00:00.000 +00:00', '2026-08-01 10:00:00.000 +00:00');
INSERT INTO djmdKey (ID, ScaleName, Seq, usn, created_at, updated_at) VALUES
 ('k1', 'Am', 1, 4, '2026-08-01 10:00:00.000 +00:00', '2026-08-01 10:00:00.000 +00:00'),
 ('k2', 'Eb', 2, 5, '2026-08-01 10:00:00.000 +00:00', '2026-08-01 10:00:00.000 +00:00');
INSERT INTO djmdContent (ID, FolderPath, FileNameL, Title, ArtistID, AlbumID, BPM, Length, KeyID, Subtitle, ISRC, usn, created_at, updated_at) VALUES
 ('101', '/Users/dj/Music/WCS/Slow Burn Shuffle.mp3', 'Slow Burn Shuffle.mp3', 'Slow Burn Shuffle', 'a1', 'al1', 9600, 214, 'k1', '', 'ZZX0A2600001', 6, '2026-08-01 10:00:00.000 +00:00', '2026-08-01 10:00:00.000 +00:00'),
 ('102', '/Users/dj/Music/WCS/Lean Into It.flac', 'Lean Into It.flac', 'Lean Into It', 'a2', 'al1', 12800, 198, 'k2', 'Radio Edit', NULL, 7, '2026-08-01 10:00:00.000 +00:00', '2026-08-01 10:00:00.000 +00:00'),
 ('103', 'C:\Users\dj\Music\Anchor Step Blues.m4a', 'Anchor Step Blues.m4a', 'Anchor Step Blues', 'a1', NULL, 8850, 245, NULL, NULL, NULL, 8, '2026-08-01 10:00:00.000 +00:00', '2026-08-01 10:00:00.000 +00:00');
INSERT INTO djmdHistory (ID, Seq, Name, Attribute, ParentID, DateCreated, usn, created_at, updated_at) VALUES
 ('h1', 1, '2026-08-14', 0, 'root', '2026-08-14', 9, '2026-08-14 20:59:00.000 +00:00', '2026-08-14 20:59:00.000 +00:00'),
 ('h2', 2, '2026-08-15', 0, 'root', '2026-08-15', 10, '2026-08-15 20:59:00.000 +00:00', '2026-08-15 20:59:00.000 +00:00');`

// rbTime formats t as rekordbox's created_at.
func rbTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 -07:00") }

// setStart is when the fixture's set starts: the first row of list h2.
var setStart = time.Date(2026, 8, 15, 21, 0, 0, 0, time.UTC)

// plainFixture makes a plain master.db as rekordbox lays it out, in WAL
// mode with automatic checkpoints off and its writer kept open (returned),
// so rows added later live only in master.db-wal. Yesterday's list h1 holds
// two plays.
func plainFixture(t testing.TB) (path string, w *sql.DB) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "rekordbox", "master.db")
	detecttest.MkDir(t, filepath.Dir(path))
	w = detecttest.OpenSQLiteWriter(t, path, true)
	for _, q := range append(plainSchema, libraryRows) {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	addPlay(t, w, "h1-1", "h1", "101", time.Date(2026, 8, 14, 21, 0, 0, 0, time.UTC))
	addPlay(t, w, "h1-2", "h1", "102", time.Date(2026, 8, 14, 21, 1, 0, 0, time.UTC))
	if _, err := w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	return path, w
}

// addPlay commits one history row as rekordbox does when a track has
// played long enough.
func addPlay(t testing.TB, w *sql.DB, id, list, content string, at time.Time) {
	t.Helper()
	_, err := w.Exec(`INSERT INTO djmdSongHistory (ID, HistoryID, ContentID, TrackNo, UUID, usn, rb_local_usn, created_at, updated_at)
 VALUES (?, ?, ?, (SELECT count(*) + 1 FROM djmdSongHistory WHERE HistoryID = ?), ?, 100, 100, ?, ?)`,
		id, list, content, list, "uuid-"+id, rbTime(at), rbTime(at))
	if err != nil {
		t.Fatal(err)
	}
}

// walStages are the lengths of testdata/cipher/master.db-wal after each of
// the generator's commits: stage 0 holds only tonight's empty list h2,
// stage i the first i plays of it.
func walStages(t testing.TB) []int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cipher", "wal-stages.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// cipherFixture copies the encrypted fixture into a fresh folder with the
// -wal cut after stage's commit, and returns the master.db path.
func cipherFixture(t testing.TB, stage int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rekordbox")
	detecttest.MkDir(t, dir)
	main, err := os.ReadFile(filepath.Join("testdata", "cipher", "master.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(filepath.Join("testdata", "cipher", "master.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "master.db")
	if err := os.WriteFile(path, main, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-wal", wal[:walStages(t)[stage]], 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// commitStage appends the frames of the generator's commit stage to the
// -wal at path, as SQLCipher appended them when rekordbox-like code
// committed the row.
func commitStage(t testing.TB, path string, stage int) {
	t.Helper()
	stages := walStages(t)
	wal, err := os.ReadFile(filepath.Join("testdata", "cipher", "master.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path+"-wal", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(wal[stages[stage-1]:stages[stage]]); err != nil {
		t.Fatal(err)
	}
}

// describe is a play on one line, for failure messages.
func describe(e detect.Entry) string {
	return fmt.Sprintf("%s – %s (%s) %.2f bpm %s %.0fs %s", e.Artist, e.Title, e.Album, e.BPM, e.Key, e.Duration, e.Path)
}
