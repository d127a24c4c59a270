package rekordbox

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/rekordbox/internal/sqlcipher"
)

// database is how the source reaches rekordbox's tables. Read runs fn on
// the database as it is now, or returns errUnchanged without running it
// when nothing changed since the last Read that ran it.
type database interface {
	Read(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error) error
	Close() error
}

var errUnchanged = errors.New("rekordbox's database has not changed")

// stamp is what says a file changed: its size and modification time.
type stamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (stamp, error) {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return stamp{}, nil
	}
	if err != nil {
		return stamp{}, err
	}
	return stamp{info.Size(), info.ModTime()}, nil
}

// cipherDB is rekordbox's encrypted master.db. Each Read that finds
// master.db or master.db-wal changed brings a decrypted image up to date in
// a private temporary folder and reads that with the shared SQLite rules.
// The image holds the DJ's library in the clear, so it is readable by the
// DJ only and removed by Close.
type cipherDB struct {
	path   string // master.db
	image  sqlcipher.Image
	dir    string   // temporary folder of the image; "" until the first Read
	file   *os.File // the image, kept open for writing
	stamps [2]stamp // of master.db and master.db-wal at the last good update
	fresh  bool     // the image matches stamps
}

func newCipherDB(path, passphrase string) *cipherDB {
	return &cipherDB{path: path, image: sqlcipher.Image{Passphrase: passphrase}}
}

// attempts bounds how often one Read starts over because rekordbox wrote
// while it was decrypting (a checkpoint moves pages from the -wal into
// master.db; reading half of one gives pages that fail their check).
const attempts = 3

func (c *cipherDB) Read(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error) error {
	if plain, err := isPlain(c.path); err != nil {
		return err
	} else if plain {
		return detect.ReadSQLite(ctx, c.path, fn)
	}
	for try := 1; ; try++ {
		before, err := c.stat()
		if err != nil {
			return err
		}
		if c.fresh && before == c.stamps {
			return errUnchanged
		}
		c.fresh = false
		err = c.update()
		if after, _ := c.stat(); after == before {
			if err != nil {
				return err
			}
			c.stamps, c.fresh = before, true
			break
		}
		// Written meanwhile: what was read may be half old, half new.
		if try == attempts {
			if err != nil {
				return err
			}
			return errors.New("rekordbox kept writing its database while Pika! read it; trying again")
		}
	}
	return detect.ReadSQLite(ctx, c.file.Name(), fn)
}

func (c *cipherDB) stat() ([2]stamp, error) {
	var s [2]stamp
	var err error
	if s[0], err = stampOf(c.path); err != nil {
		return s, fmt.Errorf("look at rekordbox's database: %w", err)
	}
	if s[0] == (stamp{}) {
		return s, fmt.Errorf("rekordbox's database %s is not there", c.path)
	}
	if s[1], err = stampOf(c.path + "-wal"); err != nil {
		return s, fmt.Errorf("look at rekordbox's database: %w", err)
	}
	return s, nil
}

// update decrypts what changed into the image.
func (c *cipherDB) update() error {
	if c.file == nil {
		dir, err := os.MkdirTemp("", "pika-rekordbox-")
		if err != nil {
			return fmt.Errorf("make a folder for the decrypted copy of rekordbox's database: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(dir, "master-plain.db"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("make the decrypted copy of rekordbox's database: %w", err)
		}
		c.dir, c.file = dir, f
		c.image.Forget()
	}
	main, err := os.Open(c.path)
	if err != nil {
		return fmt.Errorf("open rekordbox's database: %w", err)
	}
	defer main.Close()
	info, err := main.Stat()
	if err != nil {
		return fmt.Errorf("open rekordbox's database: %w", err)
	}
	var walSize int64
	wal, err := os.Open(c.path + "-wal")
	switch {
	case err == nil:
		defer wal.Close()
		if wi, err := wal.Stat(); err == nil {
			walSize = wi.Size()
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("open rekordbox's database log: %w", err)
	}
	return c.image.Update(c.file, main, info.Size(), wal, walSize)
}

// Close removes the decrypted image. A later Read makes it again.
func (c *cipherDB) Close() error {
	if c.file == nil {
		return nil
	}
	c.file.Close()
	err := os.RemoveAll(c.dir)
	c.file, c.dir, c.fresh = nil, "", false
	return err
}

// isPlain reports whether the file at path is plain SQLite rather than
// SQLCipher (whose first bytes are a random salt).
func isPlain(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("open rekordbox's database: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqlcipher.Magic))
	if _, err := f.ReadAt(head, 0); err != nil {
		return false, fmt.Errorf("%w: %v", sqlcipher.ErrShort, err)
	}
	return bytes.Equal(head, sqlcipher.Magic), nil
}
