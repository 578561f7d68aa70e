package node

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A restartable service that fails is started again; one that keeps
// failing, or cannot be restarted, stops every service, and the error names
// it.
func TestSupervise(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var flaky atomic.Int32
	var otherStopped atomic.Bool
	stopOnCancel := func(ctx context.Context) error {
		<-ctx.Done()
		otherStopped.Store(true)
		return nil
	}
	// flaky fails twice, then runs until the end; fatal fails once 2.5 s in,
	// after flaky's restarts (1 s, then 2 s of back-off).
	runCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	err := supervise(runCtx, log, []service{
		{name: "flaky", restart: true, serve: func(ctx context.Context) error {
			if flaky.Add(1) <= 2 {
				return errors.New("boom")
			}
			<-ctx.Done()
			return nil
		}},
		{name: "other", serve: stopOnCancel},
		{name: "fatal", serve: func(ctx context.Context) error {
			select {
			case <-time.After(3500 * time.Millisecond):
				return errors.New("disk gone")
			case <-ctx.Done():
				return nil
			}
		}},
	})
	if err == nil || !strings.Contains(err.Error(), "fatal: disk gone") {
		t.Fatalf("supervise: %v, want the fatal service named", err)
	}
	if got := flaky.Load(); got != 3 {
		t.Fatalf("flaky ran %d times, want 3 (two restarts)", got)
	}
	if !otherStopped.Load() {
		t.Fatal("the other service was not stopped")
	}

	// A restartable service that keeps failing is given up on.
	defer func(b, m time.Duration) { restartBackoff, maxBackoff = b, m }(restartBackoff, maxBackoff)
	restartBackoff, maxBackoff = 10*time.Millisecond, 40*time.Millisecond
	var runs atomic.Int32
	start := time.Now()
	err = supervise(ctx, log, []service{{name: "broken", restart: true, serve: func(ctx context.Context) error {
		runs.Add(1)
		return errors.New("always")
	}}})
	if err == nil || !strings.Contains(err.Error(), "broken: always") || int(runs.Load()) != maxRestarts+1 {
		t.Fatalf("keeps failing: %v after %d runs in %v", err, runs.Load(), time.Since(start))
	}
}
