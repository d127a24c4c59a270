package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DeleteJournal deletes everything kept about one dancer, by their anonymous
// client id: their likes, tempo votes, poll votes and thank-yous, in one
// transaction. It returns how many rows went. Tallies already closed (a
// poll's counts) keep their numbers: they hold no client id.
//
// The dancer's actions stay in the DJ's actions stream until it expires, so
// a tombstone (deleted_clients) keeps WriteBatch from writing any of them
// again, even when that stream is replayed into this database; it keeps a
// SHA-256 of the id, not the id.
func (s *Store) DeleteJournal(ctx context.Context, clientID string) (int64, error) {
	var total int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The tombstone holds a hash, not the id: nothing readable of the
		// dancer stays behind.
		if _, err := tx.Exec(ctx, `INSERT INTO deleted_clients (client_hash, deleted_at)
VALUES (encode(sha256(convert_to($1::text, 'UTF8')), 'hex'), now())
ON CONFLICT (client_hash) DO UPDATE SET deleted_at = GREATEST(deleted_clients.deleted_at, excluded.deleted_at)`, clientID); err != nil {
			return fmt.Errorf("tombstone: %w", err)
		}
		for _, table := range []string{"likes", "tempo_votes", "poll_votes", "reactions"} {
			// The table names are this list's, never input.
			tag, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE client_id = $1", clientID)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			total += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pgstore: delete journal: %w", err)
	}
	return total, nil
}
