package node

import (
	"context"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/contacts"
	"github.com/peerpath/peerpath/internal/msg"
)

// newMsg builds the messages service. It reaches names and contacts
// through msg.Peers (the contacts service) and the blocklist through
// search's, so it comes after both.
func (n *Node) newMsg(ctx context.Context) error {
	m, err := msg.New(ctx, msg.Config{
		Host:    n.p2p.Host(),
		DB:      n.db,
		Key:     n.p2p.Host().Peerstore().PrivKey(n.ID()),
		Peers:   contactPeers{n.contacts},
		Routing: n.p2p.DHT(),
		PubSub:  n.p2p.PubSub(),
		Blocked: n.blocked,
		Logger:  n.log.With("sys", "msg"),
	})
	if err != nil {
		return err
	}
	// A contact coming online gets what waits for it at once.
	n.contacts.OnOnline(m.PeerOnline)
	n.msg = m
	n.publishMsg()
	return nil
}

// blocked reports whether the user blocked p (`peerpath block`), which
// applies to messages as it does to search.
func (n *Node) blocked(p peer.ID) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ids, err := n.search.Blocked(ctx)
	return err == nil && slices.Contains(ids, p)
}

// contactPeers is msg.Peers over the contacts service.
type contactPeers struct{ c *contacts.Service }

func (p contactPeers) Resolve(_ context.Context, s string) (peer.ID, error) { return p.c.Resolve(s) }
func (p contactPeers) IsContact(id peer.ID) bool                            { return p.c.IsContact(id) }

// publishMsg forwards the messages service's arrivals and state changes
// to the web app's live events ("chat.message"): ids and parties only,
// never the text.
func (n *Node) publishMsg() {
	if n.events == nil {
		return
	}
	n.msg.Subscribe(func(m msg.Message) {
		n.events.Publish("chat.message", map[string]any{"id": m.ID, "from": m.From.String(), "to": m.To, "state": m.State, "out": m.Out})
	})
}
