package main

import (
	"context"
	"log/slog"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/gateway"
	"github.com/pika-dj/pika/persister/pgstore"
)

// dbParts are what a gateway reads from PostgreSQL: the history (journals,
// profiles, charts, recaps) and the DJ accounts. Both nil without a
// database: the gateway then answers those endpoints 503.
type dbParts struct {
	History  gateway.History
	Accounts gateway.Accounts
	store    *pgstore.Store
}

// openDBParts opens the history store and the accounts on databaseURL (""
// is none). It does not connect yet, so a database that is still starting
// only delays those endpoints. Close releases the pool.
func openDBParts(ctx context.Context, databaseURL string, log *slog.Logger) (dbParts, error) {
	if databaseURL == "" {
		// Left nil on purpose: a nil *accounts.Store in the interface would
		// not count as none.
		return dbParts{}, nil
	}
	store, err := pgstore.Open(ctx, databaseURL)
	if err != nil {
		return dbParts{}, err
	}
	a, err := accounts.New(store.Pool(), accounts.Options{Logger: log.With("part", "accounts")})
	if err != nil {
		store.Close()
		return dbParts{}, err
	}
	return dbParts{History: store, Accounts: a, store: store}, nil
}

// Close releases the database pool, if any.
func (d dbParts) Close() {
	if d.store != nil {
		d.store.Close()
	}
}
