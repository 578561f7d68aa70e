package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// service is one long-lived part of the node, run by [supervise].
type service struct {
	name  string
	serve func(context.Context) error
	// restart reports that serve may be called again after it failed (it
	// holds nothing a failed run leaves broken); the supervisor then
	// restarts it after a back-off instead of stopping the node.
	restart bool
}

// Restart policy of [supervise], after Syncthing's suture: a restartable
// service that fails is started again after a back-off that doubles from
// restartBackoff up to maxBackoff; one that fails more than maxRestarts
// times within restartWindow is given up on, and the node stops. (Variables
// only so that tests can shorten them.)
var (
	restartBackoff = time.Second
	maxBackoff     = 30 * time.Second
	maxRestarts    = 5
	restartWindow  = time.Minute
)

// errSupervisor is wrapped by the error of [supervise] when a subsystem
// failed for good.
var errSupervisor = errors.New("node: subsystem failed")

// supervise runs every service until ctx ends or one fails for good, then
// stops them all and waits for them. It returns nil when ctx ended, else an
// error naming the subsystem that failed ("node: share: …"). A service
// that returns nil while ctx is alive has stopped on its own: it is logged
// and not restarted.
func supervise(ctx context.Context, log *slog.Logger, services []service) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(func() {
			if err := superviseOne(ctx, log, s); err != nil {
				cancel(err)
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && errors.Is(err, errSupervisor) {
		return err
	}
	return nil
}

// superviseOne runs s, restarting it as the policy allows; it returns the
// error that should stop the node, or nil.
func superviseOne(ctx context.Context, log *slog.Logger, s service) error {
	var failures []time.Time
	backoff := restartBackoff
	for {
		err := s.serve(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			log.Debug("subsystem stopped", "sys", s.name)
			return nil
		}
		now := time.Now()
		failures = append(failures, now)
		for len(failures) > 0 && now.Sub(failures[0]) > restartWindow {
			failures = failures[1:]
		}
		if !s.restart || len(failures) > maxRestarts {
			log.Error("subsystem failed", "sys", s.name, "err", err, "restarts", len(failures)-1)
			return fmt.Errorf("%w: %s: %w", errSupervisor, s.name, err)
		}
		log.Warn("subsystem failed; restarting", "sys", s.name, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
