package main

import (
	"context"
	"errors"
)

// migrate runs `pika migrate`. Being written for issue 4.
func (a *app) migrate(ctx context.Context, args []string) error {
	return errors.New("pika migrate: not built yet")
}
