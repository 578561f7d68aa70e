package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/store"
)

// testCheatEnv names the environment variable that, set to 1, makes the
// node's worker corrupt every output it returns: a hook for the end-to-end
// tests of cheating workers, never for use otherwise.
const testCheatEnv = "PEERPATH_TEST_CHEAT"

// ledgerPayer pays workers through the node's wallet. The transfer id is derived
// from (worker, ref), so a payment retried after a failure or a restart
// applies once (within the ledger's id window).
type ledgerPayer struct{ n *Node }

func (p ledgerPayer) Pay(ctx context.Context, to peer.ID, micro int64, memo, ref string) error {
	sum := sha256.Sum256([]byte("peerpath-compute-pay\x00" + to.String() + "\x00" + ref))
	_, err := p.n.wallet.Pay(ctx, hex.EncodeToString(sum[:16]), to.String(), micro, memo, ref)
	return err
}

func (n *Node) newCompute(ctx context.Context) error {
	cfg := n.opts.Config
	runner, err := sandbox.NewRunner(ctx, sandbox.RunnerConfig{
		CacheDir: filepath.Join(string(n.home), "wasm-cache"),
		Logger:   n.log.With("sys", "sandbox"),
		Isolate:  !cfg.SandboxInProcess,
	})
	if err != nil {
		return err
	}
	n.runner = runner
	cc, err := newComputeContent(n)
	if err != nil {
		return err
	}
	ccfg := compute.Config{
		Host:    n.p2p.Host(),
		PubSub:  n.p2p.PubSub(),
		DB:      n.db,
		Content: cc,
		Runner:  runner,
		Payer:   ledgerPayer{n},
		Meter:   n.meter,
		Logger:  n.log.With("sys", "compute"),
		Worker: compute.WorkerConfig{
			Enabled:   cfg.Worker,
			CPUs:      cfg.WorkerCPUs,
			IdleOnly:  cfg.WorkerIdleOnly,
			MaxMemory: cfg.WorkerMaxMemory,
		},
	}
	// Test hook, undocumented and off unless the variable is set: the
	// end-to-end tests make a real daemon a cheating worker with it.
	if os.Getenv(testCheatEnv) == "1" {
		n.log.Warn("TEST HOOK " + testCheatEnv + "=1: this worker returns wrong results")
		ccfg.TestTamper = func(out []byte) []byte { return append([]byte("cheat:"), out...) }
	}
	c, err := compute.New(ctx, ccfg)
	if err != nil {
		return err
	}
	n.compute = c
	return nil
}

// savedCompute saves the worker's settings in the node's config file before
// it applies them, as savedLimits does for the bandwidth limits, so turning
// the worker on in the web app or with `peerpath worker on` survives a
// restart. A config file that cannot be written is logged; the worker
// changes all the same.
type savedCompute struct {
	*compute.Service
	home config.Home
	log  *slog.Logger
}

func (c savedCompute) SetWorker(w compute.WorkerConfig) {
	cfg, err := config.Load(c.home)
	if err == nil {
		cfg.Worker, cfg.WorkerCPUs, cfg.WorkerIdleOnly, cfg.WorkerMaxMemory = w.Enabled, w.CPUs, w.IdleOnly, w.MaxMemory
		err = store.WriteFileAtomic(c.home.Path(config.FileConfig), config.Render(cfg), 0o600)
	}
	if err != nil {
		c.log.Warn("saving the worker's settings in config.toml", "err", err)
	}
	c.Service.SetWorker(w)
}
