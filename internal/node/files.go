package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/transfer"
)

// isPartial reports files that downloads in progress leave in a folder.
func isPartial(rel string, isDir bool) bool {
	return !isDir && (strings.HasSuffix(rel, ".part") || strings.HasSuffix(rel, ".part.state"))
}

// newFiles builds the sharing and transfer services.
func (n *Node) newFiles(ctx context.Context) error {
	cfg := n.opts.Config
	sh, err := share.New(ctx, share.Config{
		DB:        n.db,
		Logger:    n.log.With("sys", "share"),
		Announcer: n.p2p,
		Ignore:    isPartial,
		// Compute's and the market's files are shared for the peers that
		// name them, not shown to the person as their shares.
		Internal: []string{n.computeDir(), n.marketDir()},
	})
	if err != nil {
		return err
	}
	var seeder transfer.Seeder
	if !cfg.NoSeed {
		seeder = sh
	}
	var src transfer.BlockSource = policySource{src: sh, share: sh, policy: n.policy}
	if n.opts.wrapSource != nil {
		src = n.opts.wrapSource(src)
	}
	tr, err := transfer.New(transfer.Config{
		Host:        n.p2p.Host(),
		Source:      src,
		Finder:      n.p2p,
		Seeder:      seeder,
		DB:          n.db,
		Logger:      n.log.With("sys", "transfer"),
		MaxUpload:   cfg.MaxUpload,
		MaxDownload: cfg.MaxDownload,
		Meter:       n.meter,
		Priority:    n.meter.Priority,
		Policy:      n.policy,
	})
	if err != nil {
		return err
	}
	n.share, n.transfer = sh, tr
	n.downloads, err = transfer.NewQueue(tr, filepath.Join(string(n.home), "downloads"))
	return err
}

// savedLimits changes the bandwidth limits of the transfer service after
// saving them in the home's config file: a limit that could not be saved
// is not applied, so the running node and its config file never disagree.
type savedLimits struct {
	home config.Home
	tr   *transfer.Service
}

func (l savedLimits) Limits() (up, down int64) { return l.tr.Limits() }

func (l savedLimits) SetLimits(up, down int64) error {
	cfg, err := config.Load(l.home)
	if err != nil {
		return fmt.Errorf("save limits: %w", err)
	}
	cfg.MaxUpload, cfg.MaxDownload = up, down
	if err := store.WriteFileAtomic(l.home.Path(config.FileConfig), config.Render(cfg), 0o600); err != nil {
		return fmt.Errorf("save limits: %w", err)
	}
	return l.tr.SetLimits(up, down)
}
