package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/contacts"
	"github.com/peerpath/peerpath/internal/inbox"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// newContacts builds the contacts service (names, address book,
// presence, neighbours) and the inbox (send and receive files) over it,
// share and the downloads queue; so it comes after newFiles.
func (n *Node) newContacts(ctx context.Context) error {
	c, err := contacts.New(ctx, contacts.Config{
		Host:      n.p2p.Host(),
		DB:        n.db,
		Logger:    n.log.With("sys", "contacts"),
		Finder:    n.p2p.DHT(),
		LAN:       n.p2p.FoundOnLAN,
		Invisible: n.opts.Config.Invisible,
	})
	if err != nil {
		return err
	}
	in, err := inbox.New(ctx, inbox.Config{
		Host:      n.p2p.Host(),
		DB:        n.db,
		Logger:    n.log.With("sys", "inbox"),
		Contacts:  c,
		Files:     sendFiles{n.share},
		Downloads: receivedFiles{n.downloads},
		Outbox:    n.outboxDir(),
		Events:    n.events,
	})
	if err != nil {
		return err
	}
	c.OnOnline(in.PeerOnline)
	n.contacts, n.inbox = c, in
	n.recipients.in.Store(in)
	return nil
}

// sendFiles shares what the inbox sends, in place.
type sendFiles struct{ s *share.Service }

func (f sendFiles) Offer(ctx context.Context, path string) (inbox.File, error) {
	sh, err := f.s.Add(ctx, path)
	if err != nil {
		return inbox.File{}, err
	}
	return inbox.File{Name: sh.Name, CID: sh.CID, Size: sh.Size}, nil
}

// receivedFiles queues what the inbox accepts in the downloads folder,
// under a name no other file or download there has.
type receivedFiles struct{ q *transfer.Queue }

func (r receivedFiles) Fetch(from peer.ID, f inbox.File) error {
	id, err := cid.Decode(f.CID)
	if err != nil {
		return err
	}
	out, err := freeName(r.q.Dir(), f.Name)
	if err != nil {
		return err
	}
	_, err = r.q.Add(id, out, "")
	return err
}

// freeName returns dir/name, or dir/"stem (2).ext" and so on when that is
// taken (by a file or a download in progress).
func freeName(dir, name string) (string, error) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 1; i <= 1000; i++ {
		cand := name
		if i > 1 {
			cand = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		p := filepath.Join(dir, cand)
		if !exists(p) && !exists(p+".part") {
			return p, nil
		}
	}
	return "", errors.New("no free name in the downloads folder")
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
