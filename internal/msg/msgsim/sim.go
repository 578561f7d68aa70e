// Package msgsim simulates networks of msg services on a go-libp2p
// mocknet with link latency, for the messages benchmark
// (`peerpath-bench msg`) and its CI-sized test. It uses msg's exported API
// only; being a harness, the daemon does not link it (internal/deptest).
//
// Two experiments:
//
//   - [Online]: N nodes, all connected, send messages between random
//     pairs; the latency is from Send to the recipient's storing it.
//   - [Offline]: a share of the nodes churns. Half of the churners (the
//     recipients) go offline; the other half (the senders) send them
//     messages, which go to mailboxes, then go offline too; then the
//     recipients come back, one by one. The delay is from a recipient's
//     return to each message's arrival.
//
// A node going offline here loses its links (mocknet unlinks it from
// everyone), so nothing reaches it and it reaches nothing; coming back
// links and connects it again, which is what the service reacts to.
package msgsim

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peerpath/peerpath/internal/msg"
	"github.com/peerpath/peerpath/internal/store"
)

// Config sizes a simulation.
type Config struct {
	// Nodes is the network's size.
	Nodes int
	// Latency is the one-way link latency (0: 20 ms).
	Latency time.Duration
	// Messages is how many messages are sent.
	Messages int
	// Churn is the share of nodes that go offline (Offline; 0: 0.3).
	Churn float64
	// Seed makes the choice of pairs repeatable.
	Seed uint64
	// PubSub gives every node GossipSub (Group).
	PubSub bool
	// Logger receives the services' logs (nil: none).
	Logger *slog.Logger
}

// Net is a running simulated network.
type Net struct {
	cfg    Config
	mn     mocknet.Mocknet
	nodes  []*Node
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	rng    *mrand.Rand
}

// Node is one simulated peer.
type Node struct {
	ID   peer.ID
	Host host.Host
	Svc  *msg.Service
	db   *store.DB

	mu      sync.Mutex
	arrived map[string]time.Time // message id -> when it was stored here
	online  bool
}

type idsOnly struct{}

func (idsOnly) Resolve(_ context.Context, s string) (peer.ID, error) { return peer.Decode(s) }
func (idsOnly) IsContact(peer.ID) bool                               { return true }

// Start builds and links cfg.Nodes nodes, starts their services and waits
// until every node's prekey bundle is on its mailboxes.
func Start(ctx context.Context, cfg Config) (*Net, error) {
	if cfg.Latency == 0 {
		cfg.Latency = 20 * time.Millisecond
	}
	if cfg.Churn == 0 {
		cfg.Churn = 0.3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Net{cfg: cfg, mn: mocknet.New(), rng: mrand.New(mrand.NewPCG(cfg.Seed, 1))}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.mn.SetLinkDefaults(mocknet.LinkOptions{Latency: cfg.Latency})
	for i := range cfg.Nodes {
		k, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			n.Close()
			return nil, err
		}
		h, err := n.mn.AddPeer(k, ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4242", i>>16&255, i>>8&255, i&255)))
		if err != nil {
			n.Close()
			return nil, err
		}
		db, err := store.Open(":memory:")
		if err != nil {
			n.Close()
			return nil, err
		}
		mc := msg.Config{Host: h, DB: db, Key: k, Peers: idsOnly{}, Logger: cfg.Logger,
			DirectTimeout: 2 * time.Second, CollectEvery: time.Minute}
		if cfg.PubSub {
			ps, err := pubsub.NewGossipSub(n.ctx, h)
			if err != nil {
				n.Close()
				return nil, err
			}
			mc.PubSub = ps
		}
		svc, err := msg.New(ctx, mc)
		if err != nil {
			n.Close()
			return nil, err
		}
		node := &Node{ID: h.ID(), Host: h, Svc: svc, db: db, arrived: map[string]time.Time{}, online: true}
		svc.Subscribe(func(m msg.Message) {
			if !m.Out && m.Text != "" {
				node.mu.Lock()
				if _, ok := node.arrived[m.ID]; !ok {
					node.arrived[m.ID] = time.Now()
				}
				node.mu.Unlock()
			}
		})
		n.nodes = append(n.nodes, node)
	}
	if err := n.mn.LinkAll(); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.mn.ConnectAllButSelf(); err != nil {
		n.Close()
		return nil, err
	}
	for _, node := range n.nodes {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); node.Svc.Serve(n.ctx) }()
	}
	want := min(3, cfg.Nodes-1)
	deadline := time.Now().Add(time.Duration(cfg.Nodes)*200*time.Millisecond + 30*time.Second)
	for _, node := range n.nodes {
		for {
			st, err := node.Svc.Status(ctx)
			if err == nil && st.BundleReplicas >= want {
				break
			}
			if time.Now().After(deadline) {
				n.Close()
				return nil, fmt.Errorf("msgsim: %s's bundle on %d mailboxes after the deadline", node.ID, st.BundleReplicas)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return n, nil
}

// SetMessages changes how many messages the next experiment sends.
func (n *Net) SetMessages(m int) { n.cfg.Messages = m }

// Nodes returns the network's nodes.
func (n *Net) Nodes() []*Node { return n.nodes }

// Close stops every service and the mocknet.
func (n *Net) Close() {
	n.cancel()
	n.wg.Wait()
	n.mn.Close()
	for _, node := range n.nodes {
		node.db.Close()
	}
}

// SetOnline links (true) or unlinks (false) a node from every other node.
func (n *Net) SetOnline(node *Node, on bool) error {
	node.mu.Lock()
	node.online = on
	node.mu.Unlock()
	for _, o := range n.nodes {
		if o == node {
			continue
		}
		o.mu.Lock()
		other := o.online
		o.mu.Unlock()
		if on && other {
			if _, err := n.mn.LinkPeers(node.ID, o.ID); err != nil {
				return err
			}
			if _, err := n.mn.ConnectPeers(node.ID, o.ID); err != nil {
				return err
			}
		}
		if !on {
			// Unlink first: a dial between the two calls would otherwise
			// leave a live connection behind.
			n.mn.UnlinkPeers(node.ID, o.ID)
			n.mn.DisconnectPeers(node.ID, o.ID)
		}
	}
	return nil
}

// Arrival is when a message id was stored at node (false: not yet).
func (node *Node) Arrival(id string) (time.Time, bool) {
	node.mu.Lock()
	defer node.mu.Unlock()
	t, ok := node.arrived[id]
	return t, ok
}

// Result is an experiment's figures.
type Result struct {
	Nodes, Messages int
	// Delivered counts messages that arrived; Within those within the
	// target (Offline: 10 s of the recipient's return; Group: 2 s).
	Delivered, Within int
	// Latencies are the arrival delays, sorted.
	Latencies []time.Duration
	// FirstContact are Online's delays of each pair's first message
	// (which starts the session), sorted.
	FirstContact []time.Duration
	// States counts the senders' states right after Send ("error": Send
	// failed; FirstError says why).
	States     map[string]int
	FirstError string
	Elapsed    time.Duration
}

// Quantile returns the q-quantile of the delays (0 when there are none).
func (r Result) Quantile(q float64) time.Duration { return quantile(r.Latencies, q) }

// FirstQuantile is Quantile of FirstContact.
func (r Result) FirstQuantile(q float64) time.Duration { return quantile(r.FirstContact, q) }

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[int(q*float64(len(ds)-1))]
}

func (n *Net) pick(from []*Node, not *Node) *Node {
	for {
		x := from[n.rng.IntN(len(from))]
		if x != not {
			return x
		}
	}
}

// Online sends cfg.Messages messages between random pairs of online
// nodes, 8 at a time, twice over the same pairs: the first pass starts
// the sessions (X3DH: the recipient's bundle is fetched first), the second
// runs in them. Latencies (the second pass) and FirstContact (the first)
// are from Send to the recipient's storing the message.
func (n *Net) Online(ctx context.Context) (Result, error) {
	res := Result{Nodes: len(n.nodes), Messages: n.cfg.Messages, States: map[string]int{}}
	pairs := make([][2]*Node, n.cfg.Messages)
	for i := range pairs {
		a := n.pick(n.nodes, nil)
		pairs[i] = [2]*Node{a, n.pick(n.nodes, a)}
	}
	start := time.Now()
	for pass := range 2 {
		type sent struct {
			to    *Node
			id    string
			start time.Time
		}
		var (
			mu       sync.Mutex
			all      []sent
			wg       sync.WaitGroup
			firstErr error
			sem      = make(chan struct{}, 8)
		)
		for i, p := range pairs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				t := time.Now()
				s, err := p[0].Svc.Send(ctx, p[1].ID.String(), fmt.Sprintf("message %d.%d", pass, i))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					firstErr = err
					return
				}
				if pass == 1 {
					res.States[s.State]++
				}
				all = append(all, sent{p[1], s.ID, t})
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return res, firstErr
		}
		time.Sleep(time.Second) // stragglers
		for _, s := range all {
			at, ok := s.to.Arrival(s.id)
			switch {
			case !ok:
			case pass == 0:
				res.FirstContact = append(res.FirstContact, at.Sub(s.start))
			default:
				res.Delivered++
				res.Latencies = append(res.Latencies, at.Sub(s.start))
			}
		}
	}
	slices.Sort(res.Latencies)
	slices.Sort(res.FirstContact)
	res.Within = res.Delivered
	res.Elapsed = time.Since(start)
	return res, nil
}

// Offline runs the churn experiment (see the package doc) with
// cfg.Messages messages and counts those that arrived within 10 s of
// their recipient's return.
func (n *Net) Offline(ctx context.Context) (Result, error) {
	res := Result{Nodes: len(n.nodes), Messages: n.cfg.Messages, States: map[string]int{}}
	start := time.Now()
	perm := n.rng.Perm(len(n.nodes))
	churn := max(2, int(n.cfg.Churn*float64(len(n.nodes))))
	var senders, recipients []*Node
	for i, j := range perm[:churn] {
		if i%2 == 0 {
			senders = append(senders, n.nodes[j])
		} else {
			recipients = append(recipients, n.nodes[j])
		}
	}
	for _, r := range recipients {
		if err := n.SetOnline(r, false); err != nil {
			return res, err
		}
	}
	type sent struct {
		to *Node
		id string
	}
	var mu sync.Mutex
	var all []sent
	var wg sync.WaitGroup
	// Each sender sends its share in order (so its sessions' chains
	// advance in order), senders in parallel.
	share := make([][]*Node, len(senders))
	for i := range n.cfg.Messages {
		k := i % len(senders)
		share[k] = append(share[k], recipients[n.rng.IntN(len(recipients))])
	}
	for k, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, r := range share[k] {
				out, err := s.Svc.Send(ctx, r.ID.String(), fmt.Sprintf("offline %d.%d", k, i))
				mu.Lock()
				if err != nil {
					// Counted as not delivered (the figure includes it),
					// not an abort: a send can fail (no bundle found).
					res.States["error"]++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
					mu.Unlock()
					if ctx.Err() != nil {
						return
					}
					continue
				}
				res.States[out.State]++
				all = append(all, sent{r, out.ID})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, s := range senders {
		if err := n.SetOnline(s, false); err != nil {
			return res, err
		}
	}
	back := map[*Node]time.Time{}
	for _, r := range recipients {
		back[r] = time.Now()
		if err := n.SetOnline(r, true); err != nil {
			return res, err
		}
	}
	// Wait up to 10 s after the last return (plus slack for counting).
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		done := 0
		for _, s := range all {
			if _, ok := s.to.Arrival(s.id); ok {
				done++
			}
		}
		if done == len(all) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, s := range all {
		if at, ok := s.to.Arrival(s.id); ok {
			d := at.Sub(back[s.to])
			res.Delivered++
			res.Latencies = append(res.Latencies, d)
			if d <= 10*time.Second {
				res.Within++
			}
		}
	}
	slices.Sort(res.Latencies)
	res.Elapsed = time.Since(start)
	return res, nil
}

// Group creates a group of the first min(100, N) nodes (node 0 its
// admin), waits until every member holds every other member's key, then
// sends cfg.Messages messages from random members, one every 50 ms, and
// counts the deliveries (message × other member) within 2 s.
func (n *Net) Group(ctx context.Context) (Result, error) {
	size := min(msg.MaxGroupMembers, len(n.nodes))
	members := n.nodes[:size]
	res := Result{Nodes: len(n.nodes), Messages: n.cfg.Messages, States: map[string]int{}}
	var ids []string
	for _, m := range members[1:] {
		ids = append(ids, m.ID.String())
	}
	start := time.Now()
	g, err := members[0].Svc.CreateGroup(ctx, "sim", ids)
	if err != nil {
		return res, err
	}
	deadline := time.Now().Add(time.Duration(size)*time.Second + 60*time.Second)
	for _, m := range members {
		for {
			var k int
			m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM msg_group_keys WHERE gid = ?`, g.ID).Scan(&k)
			if k >= size-1 {
				break
			}
			if time.Now().After(deadline) {
				return res, fmt.Errorf("msgsim: %s holds %d of %d group keys", m.ID, k, size-1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second) // GossipSub's mesh forms on its heartbeat (1 s)
	type sent struct {
		from  *Node
		id    string
		start time.Time
	}
	var all []sent
	for i := range n.cfg.Messages {
		from := members[n.rng.IntN(size)]
		t := time.Now()
		s, err := from.Svc.Send(ctx, "group:sim", fmt.Sprintf("group %d", i))
		if err != nil {
			return res, err
		}
		res.States[s.State]++
		all = append(all, sent{from, s.ID, t})
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	for _, s := range all {
		for _, m := range members {
			if m == s.from {
				continue
			}
			if at, ok := m.Arrival(s.id); ok {
				d := at.Sub(s.start)
				res.Delivered++
				res.Latencies = append(res.Latencies, d)
				if d <= 2*time.Second {
					res.Within++
				}
			}
		}
	}
	res.Messages = len(all) * (size - 1) // deliveries expected
	slices.Sort(res.Latencies)
	res.Elapsed = time.Since(start)
	return res, nil
}
