package main

import (
	"context"
	"errors"
)

// persister runs `pika persister`. Being written for issue 4.
func (a *app) persister(ctx context.Context, args []string) error {
	return errors.New("pika persister: not built yet")
}
