// Package pgstore is Pika!'s PostgreSQL history: hand-written pgx SQL over
// the schema of package migrations. The persister writes through one
// method, WriteBatch; the REST API reads (read.go).
//
// Every write is idempotent and order-independent. Rows are keyed by the
// ids set where each event or action happened, and each table has a rule for
// two writes of the same key that gives the same result whatever order they
// come in: plays, reactions and the like are inserted once; sessions keep the
// earliest start, the latest seq and the DJ's name; likes and tempo votes
// keep the dancer's latest action; poll votes keep the first. Nothing the
// crowd writes references a play, poll or session row, so a like written
// before its play still lands.
package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is a pool of connections to one PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open checks databaseURL and makes a pool for it. It does not connect: a
// persister starts while PostgreSQL is down and its writes retry (Ping tells
// whether the database answers).
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("pgstore: database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open pool: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close waits for the connections in use to be returned and closes them all.
func (s *Store) Close() { s.pool.Close() }

// Pool is the store's connection pool, for queries of other packages' own
// (tests, tools) and for reads written next to this package.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	return nil
}
