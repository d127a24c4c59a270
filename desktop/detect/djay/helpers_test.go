package djay

import (
	"database/sql"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// tsafWriter encodes TSAF by the grammar djay uses, so fixtures are made
// from invented data and no captured blob is in the repository.
type tsafWriter struct{ b []byte }

func newTSAF(fields uint32) *tsafWriter {
	w := &tsafWriter{b: []byte("TSAF\x03\x00\x03\x00\x03\x00\x00\x00\x00\x00\x00\x00")}
	w.b = binary.LittleEndian.AppendUint32(w.b, fields)
	return w
}

func (w *tsafWriter) cstr(s string) { w.b = append(append(w.b, s...), 0) }

// key writes the name that follows a value.
func (w *tsafWriter) key(name string) { w.b = append(w.b, 0x08); w.cstr(name) }

// object starts an object (the outermost one, or a nested one).
func (w *tsafWriter) object(class string) { w.b = append(w.b, 0x2B, 0x08); w.cstr(class) }

// id writes an object's identity string, which has no name after it.
func (w *tsafWriter) id(s string) { w.b = append(w.b, 0x08); w.cstr(s) }

func (w *tsafWriter) ref(n byte) { w.b = append(w.b, 0x05, n) }

// end closes a nested object that its parent names name.
func (w *tsafWriter) end(name string) { w.b = append(w.b, 0x00); w.key(name) }

func (w *tsafWriter) str(name, v string) { w.b = append(w.b, 0x08); w.cstr(v); w.key(name) }

func (w *tsafWriter) align(n int) {
	for len(w.b)%n != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *tsafWriter) f64(tag byte, name string, v float64) {
	w.b = append(w.b, tag)
	w.align(8)
	w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v))
	w.key(name)
}

func (w *tsafWriter) double(name string, v float64) { w.f64(0x14, name, v) }

func (w *tsafWriter) date(name string, t time.Time) {
	w.f64(0x30, name, float64(t.UnixNano())/1e9-cfEpoch)
}

func (w *tsafWriter) float(name string, v float32) {
	w.b = append(w.b, 0x13)
	w.align(4)
	w.b = binary.LittleEndian.AppendUint32(w.b, math.Float32bits(v))
	w.key(name)
}

func (w *tsafWriter) u8(name string, v uint8) { w.b = append(w.b, 0x0F, v); w.key(name) }

func (w *tsafWriter) stringArray(name string, vs ...string) {
	w.b = append(w.b, 0x0B)
	w.align(4)
	w.b = binary.LittleEndian.AppendUint32(w.b, uint32(len(vs)))
	for _, v := range vs {
		w.b = append(w.b, 0x08)
		w.cstr(v)
	}
	w.key(name)
}

// track is an invented track as djay's records describe it.
type track struct {
	titleID, title, artist string
	duration               float64
	bpm                    float64
	keyIndex               int
	uri                    string // file:// or a streaming URI
}

// play is one history row.
type play struct {
	uuid   string
	deck   int
	start  time.Time
	isrc   string
	origin string
	track
}

// numbers writes a number the way each djay edition does: float64 on
// Windows, float32 on macOS.
func (w *tsafWriter) number(mac bool, name string, v float64) {
	if mac {
		w.float(name, float32(v))
		return
	}
	w.double(name, v)
}

// titleIDObject writes the nested ADCMediaItemTitleID.
func (w *tsafWriter) titleIDObject(mac bool, t track, name string) {
	w.object("ADCMediaItemTitleID")
	w.id(t.titleID)
	w.ref(1)
	w.ref(2)
	w.str("title", t.title)
	w.str("artist", t.artist)
	w.number(mac, "duration", t.duration)
	w.end(name)
}

// encodeItem encodes a historySessionItems blob: the Windows variant
// (float64 numbers) or the macOS one (float32 duration, uint8 deckNumber).
func encodeItem(p play, mac bool) []byte {
	w := newTSAF(11)
	w.object("ADCHistorySessionItem")
	w.str("uuid", p.uuid)
	w.str("sessionUUID", "5A0C1E2B-7D0E-4C59-9C39-2F4E7A1B0C11")
	w.titleIDObject(mac, p.track, "titleID")
	w.str("title", p.title)
	w.str("artist", p.artist)
	w.number(mac, "duration", p.duration)
	if mac {
		w.u8("deckNumber", uint8(p.deck))
	} else {
		w.double("deckNumber", float64(p.deck))
	}
	w.date("startTime", p.start)
	w.str("originSourceID", p.origin)
	if p.isrc != "" {
		w.str("isrc", p.isrc)
	}
	return w.b
}

func encodeAnalysis(t track, mac bool) []byte {
	w := newTSAF(7)
	w.object("ADCMediaItemAnalyzedData")
	w.str("uuid", t.titleID)
	w.titleIDObject(mac, t, "titleIDs")
	w.number(mac, "bpm", t.bpm)
	w.double("keySignatureIndex", float64(t.keyIndex))
	w.double("isStraightGrid", 1)
	return w.b
}

func encodeLocation(t track, mac bool) []byte {
	w := newTSAF(5)
	w.object("ADCMediaItemLocation")
	w.str("uuid", t.titleID)
	w.titleIDObject(mac, t, "titleIDs")
	w.stringArray("sourceURIs", t.uri)
	return w.b
}

// library is a fake djay MediaLibrary.db held open by a writer the way djay
// holds it: WAL, no automatic checkpoints, so new rows live in the -wal file.
type library struct {
	t    testing.TB
	path string
	db   *sql.DB
}

func newLibrary(t testing.TB, dir string) *library {
	t.Helper()
	path := filepath.Join(dir, dbName)
	db := detecttest.OpenSQLiteWriter(t, path, true)
	detecttest.MustExec(t, db, `CREATE TABLE database2 (rowid INTEGER PRIMARY KEY, collection CHAR NOT NULL,
		key CHAR NOT NULL, data BLOB, metadata BLOB)`)
	detecttest.MustExec(t, db, `CREATE UNIQUE INDEX true_primary_key ON database2 (collection, key)`)
	detecttest.MustExec(t, db, `CREATE TABLE yap2 (extension CHAR NOT NULL, key CHAR NOT NULL, data BLOB, PRIMARY KEY (extension, key))`)
	return &library{t: t, path: path, db: db}
}

// put writes one record as YapDatabase does: insert, or replace by
// (collection, key) keeping the rowid.
func (l *library) put(collection, key string, data []byte) {
	l.t.Helper()
	detecttest.MustExec(l.t, l.db, `INSERT INTO database2 (collection, key, data) VALUES (?, ?, ?)
		ON CONFLICT (collection, key) DO UPDATE SET data = excluded.data`, collection, key, data)
}

// addPlay commits a history row, as djay does when a track starts.
func (l *library) addPlay(p play, mac bool) {
	l.t.Helper()
	l.put("mediaItemTitleIDs", p.titleID, nil)
	l.put("historySessionItems", p.uuid, encodeItem(p, mac))
}

// analyse commits the track's analysis and location, djay's second write.
func (l *library) analyse(t track, mac bool) {
	l.t.Helper()
	tx, err := l.db.Begin()
	if err != nil {
		l.t.Fatal(err)
	}
	defer tx.Rollback()
	loc := "localMediaItemLocations"
	if !strings.HasPrefix(t.uri, "file:") {
		loc = "globalMediaItemLocations"
	}
	for coll, data := range map[string][]byte{"mediaItemAnalyzedData": encodeAnalysis(t, mac), loc: encodeLocation(t, mac)} {
		if _, err := tx.Exec(`INSERT INTO database2 (collection, key, data) VALUES (?, ?, ?)
			ON CONFLICT (collection, key) DO UPDATE SET data = excluded.data`, coll, t.titleID, data); err != nil {
			l.t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		l.t.Fatal(err)
	}
}

// Invented tracks.
var (
	tLocal = track{titleID: "3f2a9c0d4b1e4f6a8c7d5e2b1a0f9e8d", title: "Slow Burn Shuffle", artist: "The Invented Trio",
		duration: 214.5, bpm: 96, keyIndex: 5, uri: "file:///Users/dj/Music/WCS/Slow%20Burn%20Shuffle.mp3"}
	tWindows = track{titleID: "a1b2c3d4e5f60718293a4b5c6d7e8f90", title: "Café Groove", artist: "Zoë & The Swingouts",
		duration: 187.25, bpm: 102.5, keyIndex: 22, uri: "file:///D:%5CMusic%5CWCS%5CCafe%20Groove.flac"}
	tStream = track{titleID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", title: "Borrowed Sunday", artist: "Night Owl Collective",
		duration: 240, bpm: 88, keyIndex: 23, uri: "spotify:track:4InventedTrackId00000"}
)
