package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/bus"
)

// identityFile is bus.LoadIdentity's file in the data folder. adoptDJ
// reads it back through bus.LoadIdentity, so a rename there fails loudly
// here rather than leaving two files.
const identityFile = "identity.json"

// cloudDJ is the DJ id the cloud token names: in cloud mode it is the
// laptop's DJ id, since the cloud knows the DJ by the account the token
// belongs to and sources the laptop's JetStream domain of that id.
func cloudDJ(cfg lanConfig) (string, error) {
	if cfg.Cloud == nil || cfg.Cloud.User == nil {
		return "", fmt.Errorf("no cloud token")
	}
	token, _ := cfg.Cloud.User.Password()
	dj, ok := accounts.TokenDJ(token)
	if !ok {
		return "", fmt.Errorf("--cloud-token/PIKA_CLOUD_TOKEN: %w", accounts.CheckTokenFormat(token))
	}
	return dj, nil
}

// adoptDJ makes dj the data folder's DJ id if it is not already, and says
// so in one line. The old id's sessions stay on disk, in its own streams,
// untouched: going back to it means restoring identity.json by hand.
func (a *app) adoptDJ(dir string, id bus.Identity, dj string) (bus.Identity, error) {
	if id.DJ == dj {
		return id, nil
	}
	b, err := json.MarshalIndent(bus.Identity{DJ: dj, CreatedAt: time.Now().UTC()}, "", "  ")
	if err != nil {
		return id, fmt.Errorf("encode identity: %w", err)
	}
	if err := bus.WriteFileAtomic(filepath.Join(dir, identityFile), b); err != nil {
		return id, fmt.Errorf("save the cloud account's DJ id: %w", err)
	}
	got, err := bus.LoadIdentity(dir)
	if err != nil {
		return id, err
	}
	if got.DJ != dj {
		return id, fmt.Errorf("save the cloud account's DJ id: the data folder still says %s", got.DJ)
	}
	fmt.Fprintf(a.stdout, "This laptop now uses your cloud account's DJ id %s (was %s; its sessions stay on disk).\n", dj, id.DJ)
	return got, nil
}
