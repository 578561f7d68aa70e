// Package memcontent is an in-memory content network for compute's tests
// and benchmarks: each in-process node's Store publishes into it and
// fetches from the other nodes' stores. A Store keeps compute.Content's
// contract (ids are real file content ids, sizes are checked before data
// is handed over, data is verified against its id), and the conformance
// suite in computetest holds it to the same rules as the node's
// implementation. It does not import compute, so compute's own tests can
// use it. It is a harness: the daemon does not link it.
package memcontent

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
)

// Net is an in-memory content network of in-process nodes.
type Net struct {
	validKey func(string) bool

	mu    sync.Mutex
	nodes map[peer.ID]*Store
}

// NewNet returns an empty network whose stores accept the keys validKey
// accepts (compute.ValidContentKey, for compute.Content's contract); nil
// accepts any key.
func NewNet(validKey func(key string) bool) *Net {
	return &Net{validKey: validKey, nodes: map[peer.ID]*Store{}}
}

// Node returns the store of node self, creating it.
func (n *Net) Node(self peer.ID) *Store {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.nodes[self]
	if c == nil {
		c = &Store{net: n, self: self, keys: map[string]string{}, data: map[string][]byte{}}
		n.nodes[self] = c
	}
	return c
}

// Store is one node's store in a Net; it implements compute.Content.
type Store struct {
	net  *Net
	self peer.ID

	mu      sync.Mutex
	keys    map[string]string // key → content id
	data    map[string][]byte // content id → bytes (published or fetched)
	fetches map[string]int    // content id → fetches from other nodes
}

// Publish implements compute.Content.Publish.
func (c *Store) Publish(ctx context.Context, key string, data []byte) (string, error) {
	if c.net.validKey != nil && !c.net.validKey(key) {
		return "", fmt.Errorf("memcontent: bad content key %q", key)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id := content.HashBytes(data, 0).ID().String()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[key] = id
	c.data[id] = append([]byte(nil), data...)
	return id, nil
}

// get returns the bytes of id this node holds, published or fetched.
func (c *Store) get(id string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.data[id]
	return b, ok
}

// Fetch implements compute.Content.Fetch.
func (c *Store) Fetch(ctx context.Context, id string, size int64, from peer.ID) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	want, err := cid.Decode(id)
	if err != nil || !content.IsFile(want) {
		return nil, fmt.Errorf("memcontent: %q is not a file content id", id)
	}
	if b, ok := c.get(id); ok {
		if int64(len(b)) != size {
			return nil, fmt.Errorf("memcontent: content %s is %d bytes, not %d", id, len(b), size)
		}
		return append([]byte(nil), b...), nil
	}
	// Ask from first, then the others, as a swarm would.
	c.net.mu.Lock()
	var order []*Store
	if p := c.net.nodes[from]; p != nil {
		order = append(order, p)
	}
	for pid, p := range c.net.nodes {
		if pid != from && pid != c.self {
			order = append(order, p)
		}
	}
	c.net.mu.Unlock()
	for _, p := range order {
		b, ok := p.get(id)
		if !ok {
			continue
		}
		if int64(len(b)) != size {
			return nil, fmt.Errorf("memcontent: content %s is %d bytes, not %d", id, len(b), size)
		}
		if got := content.HashBytes(b, 0).ID(); !got.Equals(want) {
			continue // a provider holding other bytes under the id: try the next
		}
		out := append([]byte(nil), b...)
		c.mu.Lock()
		c.data[id] = out
		if c.fetches == nil {
			c.fetches = map[string]int{}
		}
		c.fetches[id]++
		c.mu.Unlock()
		return append([]byte(nil), out...), nil
	}
	return nil, fmt.Errorf("memcontent: no provider of content %s", id)
}

// Unpublish implements compute.Content.Unpublish.
func (c *Store) Unpublish(ctx context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.keys[key]
	if !ok {
		return nil
	}
	delete(c.keys, key)
	for _, other := range c.keys {
		if other == id {
			return nil // still published under another key
		}
	}
	delete(c.data, id)
	return nil
}

// Keys implements compute.Content.Keys.
func (c *Store) Keys(ctx context.Context) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.keys))
	for k := range c.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// Fetched returns how many times this node fetched id from another node.
func (c *Store) Fetched(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches[id]
}
