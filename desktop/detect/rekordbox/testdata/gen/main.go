// Command gen makes the encrypted rekordbox fixture in ../cipher: a
// master.db encrypted by real SQLCipher 4 (with its defaults, as rekordbox
// 6/7 uses them) under a TEST passphrase, in WAL mode, with some history
// rows only in master.db-wal. It is its own module so that the cgo SQLCipher
// driver never enters Pika!'s module. See ../README.md for the command.
//
// The rows are invented. The passphrase is not rekordbox's key.
package main

import (
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/mutecomm/go-sqlcipher/v4"
)

// testPassphrase is sha256("pika-test-passphrase") in hex: 64 hex characters
// like rekordbox's own key, used as a passphrase the way rekordbox uses its.
const testPassphrase = "14b27c307904a5072fcdc9c58a1c361ffbe12dbf496f80d3983163d45c05242f"

// walStages is how many history rows are committed after the checkpoint,
// each in its own transaction, so the tests can replay them one commit at a
// time.
const walStages = 12

// common are the columns every rekordbox table has.
const common = `UUID VARCHAR(255), rb_data_status INTEGER DEFAULT 0, rb_local_data_status INTEGER DEFAULT 0,
 rb_local_deleted TINYINT(1) DEFAULT 0, rb_local_synced TINYINT(1) DEFAULT 0, usn BIGINT, rb_local_usn BIGINT,
 created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL`

var schema = []string{
	`CREATE TABLE djmdArtist (ID VARCHAR(255) PRIMARY KEY, Name VARCHAR(255), SearchStr VARCHAR(255), ` + common + `)`,
	`CREATE TABLE djmdAlbum (ID VARCHAR(255) PRIMARY KEY, Name VARCHAR(255), AlbumArtistID VARCHAR(255), ImagePath VARCHAR(255), Compilation INTEGER, SearchStr VARCHAR(255), ` + common + `)`,
	`CREATE TABLE djmdKey (ID VARCHAR(255) PRIMARY KEY, ScaleName VARCHAR(255), Seq INTEGER, ` + common + `)`,
	`CREATE TABLE djmdGenre (ID VARCHAR(255) PRIMARY KEY, Name VARCHAR(255), ` + common + `)`,
	`CREATE TABLE djmdContent (ID VARCHAR(255) PRIMARY KEY, FolderPath VARCHAR(255), FileNameL VARCHAR(255), FileNameS VARCHAR(255),
 Title VARCHAR(255), ArtistID VARCHAR(255), AlbumID VARCHAR(255), GenreID VARCHAR(255), BPM INTEGER, Length INTEGER, TrackNo INTEGER,
 BitRate INTEGER, BitDepth INTEGER, Commnt TEXT, FileType INTEGER, Rating INTEGER, ReleaseYear INTEGER, RemixerID VARCHAR(255),
 LabelID VARCHAR(255), OrgArtistID VARCHAR(255), KeyID VARCHAR(255), StockDate VARCHAR(255), ColorID VARCHAR(255), DJPlayCount INTEGER,
 ImagePath VARCHAR(255), MasterDBID VARCHAR(255), MasterSongID VARCHAR(255), AnalysisDataPath VARCHAR(255), SearchStr VARCHAR(255),
 FileSize INTEGER, DiscNo INTEGER, ComposerID VARCHAR(255), Subtitle VARCHAR(255), SampleRate INTEGER, DisableQuantize INTEGER,
 Analysed INTEGER, ReleaseDate VARCHAR(255), DateCreated VARCHAR(255), ContentLink INTEGER, Tag VARCHAR(255), ModifiedByRBM VARCHAR(255),
 HotCueAutoLoad VARCHAR(255), DeliveryControl VARCHAR(255), DeliveryComment VARCHAR(255), CueUpdated VARCHAR(255),
 AnalysisUpdated VARCHAR(255), TrackInfoUpdated VARCHAR(255), Lyricist VARCHAR(255), ISRC VARCHAR(255), SamplerTrackInfo INTEGER,
 SamplerPlayOffset INTEGER, SamplerGain FLOAT, VideoAssociate VARCHAR(255), LyricStatus INTEGER, ServiceID INTEGER,
 OrgFolderPath VARCHAR(255), Reserved1 TEXT, Reserved2 TEXT, Reserved3 TEXT, Reserved4 TEXT, ExtInfo TEXT, rb_file_id VARCHAR(255),
 DeviceID VARCHAR(255), rb_LocalFolderPath VARCHAR(255), SrcID VARCHAR(255), SrcTitle VARCHAR(255), SrcArtistName VARCHAR(255),
 SrcAlbumName VARCHAR(255), SrcLength INTEGER, ` + common + `)`,
	`CREATE TABLE djmdHistory (ID VARCHAR(255) PRIMARY KEY, Seq INTEGER, Name VARCHAR(255), Attribute INTEGER, ParentID VARCHAR(255), DateCreated VARCHAR(255), ` + common + `)`,
	`CREATE TABLE djmdSongHistory (ID VARCHAR(255) PRIMARY KEY, HistoryID VARCHAR(255), ContentID VARCHAR(255), TrackNo INTEGER, ` + common + `)`,
	`CREATE INDEX djmd_song_history_history_id ON djmdSongHistory (HistoryID)`,
	`CREATE INDEX djmd_song_history_content_id ON djmdSongHistory (ContentID)`,
}

func main() {
	out := "../cipher"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := run(out); err != nil {
		log.Fatal(err)
	}
}

func run(out string) error {
	work, err := os.MkdirTemp("", "rekordbox-gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	path := filepath.Join(work, "master.db")

	// One connection, like rekordbox's: WAL, no automatic checkpoints, so
	// the rows committed after the explicit checkpoint stay in the -wal.
	dsn := "file:" + path + "?_pragma_key=" + testPassphrase + "&_pragma_cipher_page_size=4096"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA journal_mode=WAL", "PRAGMA wal_autocheckpoint=0"} {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	for _, q := range schema {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := library(db); err != nil {
		return err
	}
	// Yesterday's list, checkpointed into master.db.
	if err := history(db, "h1", 1, 3, func(i int) string { return fmt.Sprintf("2026-08-14 21:%02d:00.%03d +00:00", i, 100*i) }); err != nil {
		return err
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}

	// Tonight's list, one commit per row, 60 s apart, only in the -wal.
	// stages records the -wal's length after each commit.
	if err := exec(db, `INSERT INTO djmdHistory (ID, Seq, Name, Attribute, ParentID, DateCreated, UUID, usn, rb_local_usn, created_at, updated_at)
 VALUES ('h2', 2, '2026-08-15', 0, 'root', '2026-08-15', 'uuid-h2', 200, 200, '2026-08-15 20:59:00.000 +00:00', '2026-08-15 20:59:00.000 +00:00')`); err != nil {
		return err
	}
	stages := []string{size(path + "-wal")}
	for i := 1; i <= walStages; i++ {
		at := func(i int) string { return fmt.Sprintf("2026-08-15 21:%02d:00.%03d +00:00", i, 111*i%1000) }
		if err := history(db, "h2", i, i, at); err != nil {
			return err
		}
		stages = append(stages, size(path+"-wal"))
	}

	// Copy while the writer still holds the database open: closing it would
	// checkpoint the -wal into master.db.
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"master.db", "master.db-wal"} {
		b, err := os.ReadFile(filepath.Join(work, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(out, "wal-stages.txt"), []byte(strings.Join(stages, "\n")+"\n"), 0o644)
}

func size(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		return "0"
	}
	return fmt.Sprint(info.Size())
}

func exec(db *sql.DB, q string, args ...any) error {
	if _, err := db.Exec(q, args...); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

// tracks are invented West Coast Swing tracks: content ID, title, artist,
// album, key, BPM×100, seconds, subtitle (mix name), ISRC.
var tracks = [][]any{
	{"101", "Slow Burn Shuffle", "a1", "al1", "k1", 9600, 214, "", "ZZX0A2600001"},
	{"102", "Lean Into It", "a2", "al2", "k2", 10200, 198, "Radio Edit", ""},
	{"103", "Anchor Step Blues", "a3", "al1", "k3", 8800, 245, "", ""},
	{"104", "Sugar Push Sunday", "a1", "al3", "k4", 11050, 187, "Extended Mix", "ZZX0A2600004"},
	{"105", "Whip It Gentle", "a4", "al2", "k1", 12800, 230, "", ""},
}

func library(db *sql.DB) error {
	const now = "'2026-08-01 10:00:00.000 +00:00', '2026-08-01 10:00:00.000 +00:00'"
	for _, q := range []string{
		`INSERT INTO djmdArtist (ID, Name, usn, created_at, updated_at) VALUES ('a1', 'The Invented Quartet', 1, ` + now + `), ('a2', 'Mara Okonkwo', 2, ` + now + `), ('a3', 'Delta Lowlands', 3, ` + now + `), ('a4', 'Jun & the Pivots', 4, ` + now + `)`,
		`INSERT INTO djmdAlbum (ID, Name, usn, created_at, updated_at) VALUES ('al1', 'Late Social', 5, ` + now + `), ('al2', 'Floorcraft', 6, ` + now + `), ('al3', 'Sunday Practice', 7, ` + now + `)`,
		`INSERT INTO djmdKey (ID, ScaleName, Seq, usn, created_at, updated_at) VALUES ('k1', 'Am', 1, 8, ` + now + `), ('k2', 'Eb', 2, 9, ` + now + `), ('k3', 'F#m', 3, 10, ` + now + `), ('k4', 'C', 4, 11, ` + now + `)`,
		`INSERT INTO djmdGenre (ID, Name, usn, created_at, updated_at) VALUES ('g1', 'West Coast Swing', 12, ` + now + `)`,
		`INSERT INTO djmdHistory (ID, Seq, Name, Attribute, ParentID, DateCreated, UUID, usn, rb_local_usn, created_at, updated_at)
 VALUES ('h1', 1, '2026-08-14', 0, 'root', '2026-08-14', 'uuid-h1', 13, 13, '2026-08-14 20:59:00.000 +00:00', '2026-08-14 20:59:00.000 +00:00')`,
	} {
		if err := exec(db, q); err != nil {
			return err
		}
	}
	for _, t := range tracks {
		folder := fmt.Sprintf("/Users/dj/Music/WCS/%s.mp3", t[1])
		if err := exec(db, `INSERT INTO djmdContent (ID, Title, ArtistID, AlbumID, GenreID, KeyID, BPM, Length, Subtitle, ISRC,
 FolderPath, FileNameL, FileType, UUID, usn, created_at, updated_at) VALUES (?, ?, ?, ?, 'g1', ?, ?, ?, ?, ?, ?, ?, 1, ?, 20, `+now+`)`,
			t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], folder, filepath.Base(folder), "uuid-"+t[0].(string)); err != nil {
			return err
		}
	}
	return nil
}

// history commits rows first..last of list into djmdSongHistory, one
// transaction per row, row i logged at at(i).
func history(db *sql.DB, list string, first, last int, at func(int) string) error {
	for i := first; i <= last; i++ {
		content := tracks[(i-1)%len(tracks)][0]
		id := fmt.Sprintf("%s-%d", list, i)
		if err := exec(db, `INSERT INTO djmdSongHistory (ID, HistoryID, ContentID, TrackNo, UUID, usn, rb_local_usn, created_at, updated_at)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, list, content, i, "uuid-"+id, 300+i, 300+i, at(i), at(i)); err != nil {
			return err
		}
	}
	return nil
}
