package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// dhtAnnouncer announces provider records in the DHT.
type dhtAnnouncer struct{ p *p2p.Node }

func (a dhtAnnouncer) Provide(ctx context.Context, id cid.Cid) error {
	return a.p.DHT().Provide(ctx, id, true)
}

// providerFinder finds the providers of an id: DHT provider records, then
// LAN peers and other connected peers (which answer "not found" cheaply when
// they don't have it).
type providerFinder struct {
	p   *p2p.Node
	max int
}

func (f providerFinder) FindProviders(ctx context.Context, id cid.Cid) ([]peer.AddrInfo, error) {
	self := f.p.ID()
	seen := map[peer.ID]bool{self: true}
	var out []peer.AddrInfo
	add := func(ai peer.AddrInfo) {
		if seen[ai.ID] || len(out) >= f.max {
			return
		}
		seen[ai.ID] = true
		out = append(out, ai)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for ai := range f.p.DHT().FindProvidersAsync(dctx, id, f.max) {
		add(ai)
	}
	// LAN peers first among the connected, then the rest.
	h := f.p.Host()
	var lan, other []peer.ID
	for _, pi := range f.p.Peers() {
		pid, err := peer.Decode(pi.ID)
		if err != nil || h.Network().Connectedness(pid) != network.Connected {
			continue
		}
		if pi.LAN {
			lan = append(lan, pid)
		} else {
			other = append(other, pid)
		}
	}
	for _, pid := range append(lan, other...) {
		add(peer.AddrInfo{ID: pid, Addrs: h.Peerstore().Addrs(pid)})
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, nil
}

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
		Announcer: dhtAnnouncer{n.p2p},
		Ignore:    isPartial,
	})
	if err != nil {
		return err
	}
	var seeder transfer.Seeder
	if !cfg.NoSeed {
		seeder = sh
	}
	var src transfer.BlockSource = sh
	if n.opts.wrapSource != nil {
		src = n.opts.wrapSource(src)
	}
	tr, err := transfer.New(transfer.Config{
		Host:        n.p2p.Host(),
		Source:      src,
		Finder:      providerFinder{p: n.p2p, max: 32},
		Seeder:      seeder,
		DB:          n.db,
		Logger:      n.log.With("sys", "transfer"),
		MaxUpload:   cfg.MaxUpload,
		MaxDownload: cfg.MaxDownload,
		Meter:       n.meter,
		Priority:    n.meter.Priority,
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
	if err := writeFileAtomic(l.home.Path(config.FileConfig), config.Render(cfg), 0o600); err != nil {
		return fmt.Errorf("save limits: %w", err)
	}
	return l.tr.SetLimits(up, down)
}
