package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/inbox"
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
		// What the node sends is for its recipient only (see inbox).
		Private:  []string{n.outboxDir()},
		MayServe: n.recipients.mayServe,
	})
	if err != nil {
		return err
	}
	var seeder transfer.Seeder
	if !cfg.NoSeed {
		seeder = seedPublic{sh, &n.recipients}
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

// outboxDir is where the files the node sends are shared from.
func (n *Node) outboxDir() string { return filepath.Join(string(n.home), "outbox") }

// recipients answers share's question "may this peer fetch that private
// share?" with the inbox, which is built after share: until it is, no
// peer may.
type recipients struct{ in atomic.Pointer[inbox.Service] }

func (r *recipients) mayServe(p peer.ID, rootCID string) bool {
	in := r.in.Load()
	return in != nil && in.MayFetch(p, rootCID)
}

// seedPublic seeds completed downloads, but not the files peers sent this
// node (a file sent to it stays between sender and recipient).
type seedPublic struct {
	sh *share.Service
	r  *recipients
}

func (s seedPublic) AddDownloaded(ctx context.Context, path string, id cid.Cid, manifest []byte, files map[string]*content.FileManifest) error {
	if in := s.r.in.Load(); in != nil && in.IsReceived(id.String()) {
		return nil
	}
	return s.sh.AddDownloaded(ctx, path, id, manifest, files)
}
