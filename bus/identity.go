package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Identity is this installation's DJ id, made once and kept in the data
// folder. It names the DJ's JetStream domain and stream, so it must never
// change for the life of the installation.
type Identity struct {
	DJ        string    `json:"djId"`
	CreatedAt time.Time `json:"createdAt"`
}

const identityFile = "identity.json"

// LoadIdentity reads the identity in dir, creating it on first use.
func LoadIdentity(dir string) (Identity, error) {
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	if err == nil {
		var id Identity
		if err := json.Unmarshal(b, &id); err != nil || !ValidDJID(id.DJ) {
			return Identity{}, fmt.Errorf("bus: %s is damaged (delete it only if you accept a new DJ id): %v", path, err)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Identity{}, fmt.Errorf("bus: read identity: %w", err)
	}
	id := Identity{DJ: NewDJID(), CreatedAt: time.Now().UTC()}
	b, _ = json.MarshalIndent(id, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Identity{}, fmt.Errorf("bus: create data folder: %w", err)
	}
	if err := WriteFileAtomic(path, b); err != nil {
		return Identity{}, fmt.Errorf("bus: save identity: %w", err)
	}
	return id, nil
}

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old file or the new one, never half of each: write a temp file, fsync it,
// rename it over, fsync the folder.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
