// Package pgstoretest gives tests a pgstore.Store on a fresh, migrated
// database of the throwaway PostgreSQL cluster (internal/testenv).
package pgstoretest

import (
	"context"
	"testing"
	"time"

	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/migrations"
	"github.com/pika-dj/pika/persister/pgstore"
)

// New opens a store on a fresh database with every migration applied,
// closed when the test ends.
func New(t testing.TB) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := testenv.Postgres(t)
	db, err := migrations.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}
