package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/tasklife/tasklife"
)

// classify maps an error from pgx to the tasklife.Store error contract. It
// never turns an error into success or ErrNotFound: a write whose outcome is
// unknown stays an error, matching tasklife.ErrUnavailable.
func classify(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The call may have reached the server before the context ended, so
		// the outcome is unknown: say both.
		return fmt.Errorf("pgstore: %s: %w (outcome unknown: %w)", op, ctxErr, tasklife.ErrUnavailable)
	}
	if unavailable(err) {
		return fmt.Errorf("pgstore: %s: %w: %w", op, tasklife.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// unavailable reports whether err means the server could not be reached or
// went away, as opposed to the server rejecting the statement.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", // admin_shutdown
			"57P02", // crash_shutdown
			"57P03", // cannot_connect_now: starting up, shutting down, recovering
			"53300", // too_many_connections
			"40001", // serialization_failure, and
			"40P01": // deadlock_detected (in a host's transaction): rolled back, worth a retry
			return true
		}
		// Class 08: connection exceptions.
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr),
		pgconn.SafeToRetry(err), // failed before anything was sent
		pgconn.Timeout(err),
		errors.Is(err, puddle.ErrClosedPool),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return true
	}
	return false
}
