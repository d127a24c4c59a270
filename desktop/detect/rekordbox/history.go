package rekordbox

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// recent is how many of the newest history rows each read looks at: far
// more than rekordbox logs between two reads, even after a pause.
const recent = 50

// program names rekordbox in schema errors.
const program = "rekordbox"

// row is one djmdSongHistory row with its track.
type row struct {
	id        string // djmdSongHistory.ID
	createdAt string // djmdSongHistory.created_at as stored
	entry     detect.Entry
}

// required are the tables and columns the history query cannot do without.
var required = []struct {
	table string
	cols  []string
}{
	{"djmdSongHistory", []string{"ID", "HistoryID", "ContentID", "created_at"}},
	{"djmdContent", []string{"ID", "Title", "ArtistID", "AlbumID", "KeyID", "BPM", "Length", "FolderPath"}},
	{"djmdArtist", []string{"ID", "Name"}},
	{"djmdAlbum", []string{"ID", "Name"}},
	{"djmdKey", []string{"ID", "ScaleName"}},
}

// queryHistory reads the newest limit rows of rekordbox's play history, over
// all history lists, newest first. A database laid out otherwise gives a
// *detect.SchemaError.
func queryHistory(ctx context.Context, db *sql.DB, limit int) ([]row, error) {
	for _, r := range required {
		if err := detect.RequireColumns(ctx, db, program, r.table, r.cols...); err != nil {
			return nil, err
		}
	}
	// Columns that only add detail are read when present.
	content, err := columns(ctx, db, "djmdContent")
	if err != nil {
		return nil, err
	}
	history, err := columns(ctx, db, "djmdSongHistory")
	if err != nil {
		return nil, err
	}
	optional := func(have map[string]bool, expr, col string) string {
		if have[strings.ToLower(col)] {
			return expr
		}
		return "''"
	}
	deleted := ""
	if history["rb_local_deleted"] {
		deleted = "WHERE coalesce(h.rb_local_deleted, 0) = 0"
	}
	q := fmt.Sprintf(`SELECT h.ID, coalesce(h.created_at, ''),
  coalesce(c.Title, ''), coalesce(a.Name, ''), coalesce(al.Name, ''), coalesce(k.ScaleName, ''),
  coalesce(c.BPM, 0), coalesce(c.Length, 0), coalesce(c.FolderPath, ''), %s, %s
FROM djmdSongHistory h
LEFT JOIN djmdContent c ON c.ID = h.ContentID
LEFT JOIN djmdArtist a ON a.ID = c.ArtistID
LEFT JOIN djmdAlbum al ON al.ID = c.AlbumID
LEFT JOIN djmdKey k ON k.ID = c.KeyID
%s
ORDER BY h.created_at DESC, h.rowid DESC
LIMIT ?`,
		optional(content, "coalesce(c.Subtitle, '')", "Subtitle"),
		optional(content, "coalesce(c.ISRC, '')", "ISRC"),
		deleted)
	rows, err := db.QueryContext(ctx, q, limit)
	if err != nil {
		return nil, fmt.Errorf("read rekordbox's play history: %w", err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		var bpm, length float64
		e := &r.entry
		if err := rows.Scan(&r.id, &r.createdAt, &e.Title, &e.Artist, &e.Album, &e.Key, &bpm, &length, &e.Path, &e.Remix, &e.ISRC); err != nil {
			return nil, fmt.Errorf("read rekordbox's play history: %w", err)
		}
		e.BPM = bpm / 100 // rekordbox stores hundredths: 12800 = 128.00
		e.Duration = length
		e.Source = program
		e.PlayedAt = parseTime(r.createdAt)
		sum := sha256.Sum256([]byte(r.id + "\x00" + r.createdAt))
		e.ID = program + "-" + hex.EncodeToString(sum[:])[:20]
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rekordbox's play history: %w", err)
	}
	return out, nil
}

// columns lists table's columns, lower-cased.
func columns(ctx context.Context, db *sql.DB, table string) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return nil, fmt.Errorf("read the layout of %s: %w", table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read the layout of %s: %w", table, err)
		}
		have[strings.ToLower(name)] = true
	}
	return have, rows.Err()
}

// parseTime reads rekordbox's created_at ("2026-08-15 21:04:00.444 +00:00");
// zero when it cannot.
func parseTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05 -07:00", time.RFC3339Nano, "2006-01-02 15:04:05"} {
		// Parsing accepts fractional seconds the layout does not show.
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// follower turns successive history reads into decks: every row that was
// not there at the first read is a play rekordbox counted.
type follower struct {
	primed bool
	old    map[string]bool // rows present at the first read: never announced
}

// decks returns the new rows, oldest first, as played decks with no level
// (rekordbox's history is its own "played long enough" verdict).
func (f *follower) decks(rows []row) []detect.Deck {
	if !f.primed {
		f.primed = true
		f.old = make(map[string]bool, len(rows))
		for _, r := range rows {
			f.old[r.id] = true
		}
		return nil
	}
	var out []detect.Deck
	for i := len(rows) - 1; i >= 0; i-- {
		if f.old[rows[i].id] {
			continue
		}
		out = append(out, detect.Deck{Entry: rows[i].entry, Level: detect.Unknown, Played: true})
	}
	return out
}
