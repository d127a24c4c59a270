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
// A dancer's actions are still in the DJ's actions stream until it expires;
// a replay of that stream would write them again (documented with the
// retention of what is kept).
func (s *Store) DeleteJournal(ctx context.Context, clientID string) (int64, error) {
	var total int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
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
