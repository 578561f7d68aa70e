package msg

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// Groups use sender keys (as Signal's groups do): each member has, for
// each epoch of a group, a random chain key of its own, which it sends to
// every other member over their pairwise ratchet sessions. A group
// message is encrypted once, with the next key of the sender's chain, and
// published on the group's GossipSub topic; GossipSub signs it with the
// author's libp2p key, so members know who wrote it. The group's creator
// (its admin) decides its members: removing one starts a new epoch, in
// which every remaining member makes a fresh chain key and sends it only
// to the remaining members, so the removed member cannot read what
// follows.

// MaxGroupMembers bounds a group.
const MaxGroupMembers = 100

// pendingGroupKeys bounds the members' keys kept while the admin's word
// on their group (or epoch) has not arrived.
const pendingGroupKeys = 1000

// maxGroupName bounds a group's name.
const maxGroupName = 64

// groupPayload is a group's membership and the sender's key for its
// current epoch, sent to each member over the pairwise ratchets.
type groupPayload struct {
	GID     string   `json:"id"`
	Name    string   `json:"n"`
	Epoch   uint32   `json:"e"`
	Admin   string   `json:"a"`
	Members []string `json:"m"`
	Key     []byte   `json:"k"`
}

func (g *groupPayload) validate() error {
	if g == nil || !validID(g.GID) || checkGroupName(g.Name) != nil || g.Epoch == 0 ||
		len(g.Members) == 0 || len(g.Members) > MaxGroupMembers || len(g.Key) != 32 {
		return errMalformed
	}
	if _, err := peer.Decode(g.Admin); err != nil {
		return errMalformed
	}
	for _, m := range g.Members {
		if _, err := peer.Decode(m); err != nil {
			return errMalformed
		}
	}
	return nil
}

func checkGroupName(name string) error {
	if name == "" || len(name) > maxGroupName || strings.ContainsAny(name, ",:/\\\x00\n\r\t") || strings.TrimSpace(name) != name {
		return fmt.Errorf("%w: a group name is 1 to %d bytes, without , : / \\ or spaces at its ends", ErrBadRequest, maxGroupName)
	}
	return nil
}

// Group is a group as this node knows it.
type Group struct {
	ID      string
	Name    string
	Admin   peer.ID
	Epoch   uint32
	Members []peer.ID
}

func (g Group) has(p peer.ID) bool { return slices.Contains(g.Members, p) }

func (g Group) memberStrings() []string {
	out := make([]string, len(g.Members))
	for i, m := range g.Members {
		out[i] = m.String()
	}
	return out
}

// groups runs the groups of a [Service].
type groups struct {
	s *Service

	mu      sync.Mutex
	ctx     context.Context // set by serve; nil before
	wg      sync.WaitGroup
	topics  map[string]*pubsub.Topic // by gid
	pending map[string][]*pubsub.Message
}

func newGroups(s *Service) *groups {
	return &groups{s: s, topics: map[string]*pubsub.Topic{}, pending: map[string][]*pubsub.Message{}}
}

func topicOf(gid string) string { return "/peerpath/group/1/" + gid }

// serve joins the topic of every group and reads them until ctx ends.
func (g *groups) serve(ctx context.Context) {
	if g.s.cfg.PubSub == nil {
		return
	}
	g.mu.Lock()
	g.ctx = ctx
	g.mu.Unlock()
	gs, err := g.list(ctx)
	if err == nil {
		for _, gr := range gs {
			g.join(gr.ID)
		}
	}
	<-ctx.Done()
	g.mu.Lock()
	g.ctx = nil
	topics := g.topics
	g.topics = map[string]*pubsub.Topic{}
	g.mu.Unlock()
	g.wg.Wait()
	for _, t := range topics {
		t.Close()
	}
}

// join subscribes to a group's topic (once serve runs).
func (g *groups) join(gid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx == nil || g.topics[gid] != nil || g.s.cfg.PubSub == nil {
		return
	}
	t, err := g.s.cfg.PubSub.Join(topicOf(gid))
	if err != nil {
		g.s.log.Warn("group topic", "err", err)
		return
	}
	sub, err := t.Subscribe()
	if err != nil {
		t.Close()
		return
	}
	g.topics[gid] = t
	ctx := g.ctx
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer sub.Cancel()
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if m.GetFrom() == g.s.self {
				continue
			}
			if err := g.receive(ctx, gid, m); errors.Is(err, errNoGroupKey) {
				g.park(gid, m)
			} else if err != nil {
				g.s.log.Debug("group message dropped", "group", gid, "from", m.GetFrom(), "err", err)
			}
		}
	}()
}

// park keeps a message whose sender key has not arrived yet; it is tried
// again when a key for the group arrives.
func (g *groups) park(gid string, m *pubsub.Message) {
	g.mu.Lock()
	defer g.mu.Unlock()
	q := append(g.pending[gid], m)
	if len(q) > 256 {
		q = q[len(q)-256:]
	}
	g.pending[gid] = q
}

func (g *groups) retryParked(gid string) {
	g.mu.Lock()
	q := g.pending[gid]
	delete(g.pending, gid)
	ctx := g.ctx
	g.mu.Unlock()
	if ctx == nil {
		return
	}
	for _, m := range q {
		if err := g.receive(ctx, gid, m); errors.Is(err, errNoGroupKey) {
			g.park(gid, m)
		}
	}
}

var errNoGroupKey = errors.New("msg: no key for that group sender yet")

// ---- reading the tables ----

func scanGroup(row interface{ Scan(...any) error }) (Group, []byte, uint32, error) {
	var gr Group
	var admin, members string
	var key []byte
	var iter uint32
	if err := row.Scan(&gr.ID, &gr.Name, &admin, &gr.Epoch, &members, &key, &iter); err != nil {
		return gr, nil, 0, err
	}
	gr.Admin, _ = peer.Decode(admin)
	var ms []string
	json.Unmarshal([]byte(members), &ms)
	for _, m := range ms {
		if p, err := peer.Decode(m); err == nil {
			gr.Members = append(gr.Members, p)
		}
	}
	return gr, key, iter, nil
}

const groupCols = `gid, name, admin, epoch, members, mykey, myiter`

func (g *groups) byName(ctx context.Context, name string) (Group, error) {
	gr, _, _, err := scanGroup(g.s.db.QueryRowContext(ctx, `SELECT `+groupCols+` FROM msg_groups WHERE name = ?`, name))
	if noRows(err) {
		return gr, fmt.Errorf("%w: group %q", ErrNotFound, name)
	}
	return gr, err
}

func (g *groups) list(ctx context.Context) ([]Group, error) {
	rows, err := g.s.db.QueryContext(ctx, `SELECT `+groupCols+` FROM msg_groups ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("msg: groups: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		gr, _, _, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, gr)
	}
	return out, rows.Err()
}

// ---- membership ----

func newChainKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func (g *groups) create(ctx context.Context, name string, members []string) (Group, error) {
	if g.s.cfg.PubSub == nil {
		return Group{}, fmt.Errorf("%w: groups need GossipSub", ErrNotFound)
	}
	if err := checkGroupName(name); err != nil {
		return Group{}, err
	}
	gr := Group{ID: newID(), Name: name, Admin: g.s.self, Epoch: 1, Members: []peer.ID{g.s.self}}
	for _, m := range members {
		p, err := g.s.cfg.Peers.Resolve(ctx, m)
		if err != nil {
			return Group{}, fmt.Errorf("%w: member %q: %v", ErrBadRequest, m, err)
		}
		if !gr.has(p) {
			gr.Members = append(gr.Members, p)
		}
	}
	if len(gr.Members) < 2 || len(gr.Members) > MaxGroupMembers {
		return Group{}, fmt.Errorf("%w: a group has 2 to %d members, this node included", ErrBadRequest, MaxGroupMembers)
	}
	key := newChainKey()
	ms, _ := json.Marshal(gr.memberStrings())
	if _, err := g.s.db.ExecContext(ctx, `INSERT INTO msg_groups(`+groupCols+`) VALUES (?, ?, ?, ?, ?, ?, 0)`,
		gr.ID, gr.Name, gr.Admin.String(), gr.Epoch, string(ms), key); err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return Group{}, fmt.Errorf("%w: a group named %q exists", ErrBadRequest, name)
		}
		return Group{}, fmt.Errorf("msg: create group: %w", err)
	}
	g.join(gr.ID)
	g.distribute(ctx, gr, key)
	return gr, nil
}

func (g *groups) remove(ctx context.Context, name, member string) (Group, error) {
	gr, err := g.byName(ctx, name)
	if err != nil {
		return gr, err
	}
	if gr.Admin != g.s.self {
		return gr, fmt.Errorf("%w: only the group's creator removes members", ErrBadRequest)
	}
	p, err := g.s.cfg.Peers.Resolve(ctx, member)
	if err != nil {
		return gr, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if !gr.has(p) || p == g.s.self {
		return gr, fmt.Errorf("%w: %s is not a member you can remove", ErrBadRequest, p)
	}
	gr.Members = slices.DeleteFunc(gr.Members, func(x peer.ID) bool { return x == p })
	gr.Epoch++
	key := newChainKey()
	ms, _ := json.Marshal(gr.memberStrings())
	err = inTx(ctx, g.s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE msg_groups SET epoch = ?, members = ?, mykey = ?, myiter = 0 WHERE gid = ?`, gr.Epoch, string(ms), key, gr.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM msg_group_keys WHERE gid = ? AND epoch < ?`, gr.ID, gr.Epoch)
		return err
	})
	if err != nil {
		return gr, fmt.Errorf("msg: remove member: %w", err)
	}
	g.distribute(ctx, gr, key)
	return gr, nil
}

// distribute sends gr's membership and this node's chain key to every
// other member over the pairwise sessions, 8 at a time, and waits.
func (g *groups) distribute(ctx context.Context, gr Group, key []byte) {
	pl := payload{Kind: kindGroup, ID: newID(), Group: &groupPayload{
		GID: gr.ID, Name: gr.Name, Epoch: gr.Epoch, Admin: gr.Admin.String(), Members: gr.memberStrings(), Key: key}}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, m := range gr.Members {
		if m == g.s.self {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			seq, err := g.s.seal(ctx, m, pl, nil)
			if err != nil {
				g.s.log.Info("group key not sent", "group", gr.Name, "member", m, "err", err)
				return
			}
			g.s.deliver(ctx, seq)
		}()
	}
	wg.Wait()
}

// receiveInvite handles a group payload from sender, inside the receive
// transaction. It returns the group and this node's new key when this
// node must send its own key to the members (a new group or epoch).
func (g *groups) receiveInvite(ctx context.Context, tx *sql.Tx, sender peer.ID, pl payload) (*Group, []byte, error) {
	gp := pl.Group
	gr, _, _, err := scanGroup(tx.QueryRowContext(ctx, `SELECT `+groupCols+` FROM msg_groups WHERE gid = ?`, gp.GID))
	known := err == nil
	if err != nil && !noRows(err) {
		return nil, nil, err
	}
	in := Group{ID: gp.GID, Name: gp.Name, Epoch: gp.Epoch}
	in.Admin, _ = peer.Decode(gp.Admin)
	for _, m := range gp.Members {
		p, _ := peer.Decode(m)
		if !in.has(p) {
			in.Members = append(in.Members, p)
		}
	}
	var mine []byte
	if (!known || gp.Epoch > gr.Epoch) && sender != in.Admin {
		// A member's key that arrived before the admin's word on the group
		// or the epoch (members send theirs as soon as they hear of it):
		// kept, if the sender and this node are both listed, until the
		// admin's payload arrives; keys of those the admin does not list
		// are deleted then. Bounded: at most pendingGroupKeys such keys.
		if !in.has(sender) || !in.has(g.s.self) {
			return nil, nil, fmt.Errorf("msg: group key from %s, who is not listed", sender)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM msg_group_keys WHERE gid NOT IN (SELECT gid FROM msg_groups)
			OR (gid, epoch) NOT IN (SELECT gid, epoch FROM msg_groups)`).Scan(&n); err != nil {
			return nil, nil, err
		}
		if n >= pendingGroupKeys {
			return nil, nil, fmt.Errorf("msg: too many group keys waiting for their group")
		}
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO msg_group_keys(gid, epoch, sender, chain, iter) VALUES (?, ?, ?, ?, 0)`,
			gp.GID, gp.Epoch, sender.String(), gp.Key)
		return nil, nil, err
	}
	switch {
	case !known || gp.Epoch > gr.Epoch:
		// A new group or a new epoch: only its admin says so.
		if sender != in.Admin || (known && gr.Admin != in.Admin) || !in.has(sender) {
			return nil, nil, fmt.Errorf("msg: group change from %s, not its admin", sender)
		}
		if !in.has(g.s.self) {
			// Removed: forget the group and its keys.
			tx.ExecContext(ctx, `DELETE FROM msg_group_keys WHERE gid = ?`, gp.GID)
			_, err := tx.ExecContext(ctx, `DELETE FROM msg_groups WHERE gid = ?`, gp.GID)
			return nil, nil, err
		}
		mine = newChainKey()
		ms, _ := json.Marshal(in.memberStrings())
		if known {
			if _, err := tx.ExecContext(ctx, `UPDATE msg_groups SET epoch = ?, members = ?, mykey = ?, myiter = 0 WHERE gid = ?`, in.Epoch, string(ms), mine, in.ID); err != nil {
				return nil, nil, err
			}
			in.Name = gr.Name
		} else {
			name := in.Name
			var clash int
			tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM msg_groups WHERE name = ?`, name).Scan(&clash)
			if clash > 0 {
				name = fmt.Sprintf("%.50s-%s", name, in.ID[:8])
				in.Name = name
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO msg_groups(`+groupCols+`) VALUES (?, ?, ?, ?, ?, ?, 0)`,
				in.ID, name, in.Admin.String(), in.Epoch, string(ms), mine); err != nil {
				return nil, nil, err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM msg_group_keys WHERE gid = ? AND epoch < ?`, in.ID, in.Epoch); err != nil {
			return nil, nil, err
		}
		// Keys that came early from peers the admin does not list go.
		rows, err := tx.QueryContext(ctx, `SELECT sender FROM msg_group_keys WHERE gid = ?`, in.ID)
		if err != nil {
			return nil, nil, err
		}
		var drop []string
		for rows.Next() {
			var x string
			if rows.Scan(&x) == nil {
				if p, err := peer.Decode(x); err != nil || !in.has(p) {
					drop = append(drop, x)
				}
			}
		}
		rows.Close()
		for _, x := range drop {
			if _, err := tx.ExecContext(ctx, `DELETE FROM msg_group_keys WHERE gid = ? AND sender = ?`, in.ID, x); err != nil {
				return nil, nil, err
			}
		}
		gr = in
	case gp.Epoch < gr.Epoch:
		return nil, nil, nil // an old epoch's key: useless now
	default:
		if !gr.has(sender) {
			return nil, nil, fmt.Errorf("msg: group key from %s, not a member", sender)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO msg_group_keys(gid, epoch, sender, chain, iter) VALUES (?, ?, ?, ?, 0)`,
		gr.ID, gr.Epoch, sender.String(), gp.Key); err != nil {
		return nil, nil, err
	}
	if mine != nil {
		return &gr, mine, nil
	}
	return &gr, nil, nil
}

// ---- group messages ----

// groupWire is a group message on the topic: epoch, the sender's chain
// index, and the ciphertext of a payload.
const groupWireHeader = 1 + 4 + 4

const maxGroupWire = groupWireHeader + maxPayload + chacha20poly1305.Overhead

func groupAD(gid string, epoch, iter uint32, sender peer.ID) []byte {
	ad := []byte("peerpath group v1")
	ad = append(ad, gid...)
	ad = binary.BigEndian.AppendUint32(ad, epoch)
	ad = binary.BigEndian.AppendUint32(ad, iter)
	return append(ad, sender...)
}

// groupKeys returns the AEAD key and nonce for a chain's message key.
func groupKeys(mk []byte) ([]byte, []byte) {
	out := make([]byte, chacha20poly1305.KeySize+chacha20poly1305.NonceSize)
	io.ReadFull(hkdf.New(sha256.New, mk, nil, []byte("peerpath group message")), out)
	return out[:chacha20poly1305.KeySize], out[chacha20poly1305.KeySize:]
}

// chainStep is KDF_CK: the message key and the next chain key.
func chainStep(ck []byte) (next, mk []byte) {
	m := hmac.New(sha256.New, ck)
	m.Write([]byte{1})
	mk = m.Sum(nil)
	m.Reset()
	m.Write([]byte{2})
	return m.Sum(nil), mk
}

func (g *groups) send(ctx context.Context, name, text string) (Sent, error) {
	gr, err := g.byName(ctx, name)
	if err != nil {
		return Sent{}, err
	}
	g.mu.Lock()
	t := g.topics[gr.ID]
	g.mu.Unlock()
	if t == nil {
		return Sent{}, fmt.Errorf("%w: group %q is not joined (is the node running?)", ErrNotFound, name)
	}
	id := newID()
	now := g.s.now()
	pt, _ := json.Marshal(payload{Kind: kindText, ID: id, Time: now.UnixMilli(), Text: text})
	var wire []byte
	g.s.mu.Lock()
	err = inTx(ctx, g.s.db, func(tx *sql.Tx) error {
		var key []byte
		var iter, epoch uint32
		if err := tx.QueryRowContext(ctx, `SELECT mykey, myiter, epoch FROM msg_groups WHERE gid = ?`, gr.ID).Scan(&key, &iter, &epoch); err != nil {
			return err
		}
		next, mk := chainStep(key)
		k, nonce := groupKeys(mk)
		aead, _ := chacha20poly1305.New(k)
		wire = []byte{1}
		wire = binary.BigEndian.AppendUint32(wire, epoch)
		wire = binary.BigEndian.AppendUint32(wire, iter)
		wire = aead.Seal(wire, nonce, pt, groupAD(gr.ID, epoch, iter, g.s.self))
		if _, err := tx.ExecContext(ctx, `UPDATE msg_groups SET mykey = ?, myiter = ? WHERE gid = ?`, next, iter+1, gr.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO msg_messages(peer, id, out, sender, text, time, state, folder) VALUES (?, ?, 1, ?, ?, ?, ?, ?)`,
			"group:"+gr.Name, id, g.s.self.String(), text, now.UnixMilli(), StateSent, FolderInbox)
		return err
	})
	g.s.mu.Unlock()
	if err != nil {
		return Sent{}, fmt.Errorf("msg: group send: %w", err)
	}
	g.relay(gr, payload{Kind: kindText, ID: id, Time: now.UnixMilli(), Text: text, GID: gr.ID})
	if err := t.Publish(ctx, wire); err != nil {
		return Sent{ID: id, State: StateSent}, fmt.Errorf("msg: group publish: %w", err)
	}
	return Sent{ID: id, State: StateSent}, nil
}

// relay sends pl, a group text, to each member this node is not
// connected to over their pairwise session, in the background: it is
// delivered directly if the member is reachable after all, else stored on
// mailboxes, so a member offline now reads it on its return.
func (g *groups) relay(gr Group, pl payload) {
	var away []peer.ID
	for _, m := range gr.Members {
		if m != g.s.self && g.s.h.Network().Connectedness(m) != network.Connected {
			away = append(away, m)
		}
	}
	if len(away) == 0 {
		return
	}
	g.s.spawn(func(ctx context.Context) {
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, m := range away {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				defer cancel()
				seq, err := g.s.seal(ctx, m, pl, nil)
				if err != nil {
					g.s.log.Info("group message not relayed", "group", gr.Name, "member", m, "err", err)
					return
				}
				g.s.deliver(ctx, seq)
			}()
		}
		wg.Wait()
	})
}

// receiveRelayed stores a group text that came over sender's pairwise
// session, inside the receive transaction: only for a group this node
// belongs to, from one of its members. It returns the message to notify
// (nil: had it already, from the topic).
func (g *groups) receiveRelayed(ctx context.Context, tx *sql.Tx, sender peer.ID, pl payload, t time.Time) (*Message, error) {
	gr, _, _, err := scanGroup(tx.QueryRowContext(ctx, `SELECT `+groupCols+` FROM msg_groups WHERE gid = ?`, pl.GID))
	if noRows(err) {
		return nil, fmt.Errorf("%w: a message for group %s, which this node is not in", ErrNotFound, pl.GID)
	}
	if err != nil {
		return nil, err
	}
	if !gr.has(sender) {
		return nil, fmt.Errorf("msg: %s posted to group %q but is not a member", sender, gr.Name)
	}
	res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO msg_messages(peer, id, out, sender, text, time, state, folder) VALUES (?, ?, 0, ?, ?, ?, ?, ?)`,
		"group:"+gr.Name, pl.ID, sender.String(), pl.Text, t.UnixMilli(), StateDelivered, FolderInbox)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	return &Message{ID: pl.ID, From: sender, To: "group:" + gr.Name, Text: pl.Text, Time: t, State: StateDelivered, Folder: FolderInbox}, nil
}

// isMember reports whether p is a member of group gid, which this node
// is in ("" or a group this node is not in: false).
func (g *groups) isMember(ctx context.Context, tx *sql.Tx, gid string, p peer.ID) bool {
	if gid == "" {
		return false
	}
	gr, _, _, err := scanGroup(tx.QueryRowContext(ctx, `SELECT `+groupCols+` FROM msg_groups WHERE gid = ?`, gid))
	return err == nil && gr.has(p)
}

// decodeGroupWire splits a group message from the topic into its epoch,
// its sender's chain index and its ciphertext.
func decodeGroupWire(b []byte) (epoch, iter uint32, ct []byte, err error) {
	if len(b) < groupWireHeader+chacha20poly1305.Overhead || len(b) > maxGroupWire || b[0] != 1 {
		return 0, 0, nil, fmt.Errorf("%w: group message", errMalformed)
	}
	return binary.BigEndian.Uint32(b[1:]), binary.BigEndian.Uint32(b[5:]), b[groupWireHeader:], nil
}

// receive decrypts a group message from the topic and stores it with the
// sender's advanced chain, in one transaction.
func (g *groups) receive(ctx context.Context, gid string, m *pubsub.Message) error {
	from := m.GetFrom()
	epoch, iter, ct, err := decodeGroupWire(m.GetData())
	if err != nil {
		return err
	}
	if g.s.cfg.Blocked(from) || !g.s.limiter.Allow(from) {
		return errRateLimited
	}
	var notice *Message
	g.s.mu.Lock()
	err = inTx(ctx, g.s.db, func(tx *sql.Tx) error {
		gr, _, _, err := scanGroup(tx.QueryRowContext(ctx, `SELECT `+groupCols+` FROM msg_groups WHERE gid = ?`, gid))
		if err != nil {
			return err
		}
		if !gr.has(from) {
			return fmt.Errorf("msg: %s is not a member", from)
		}
		if epoch > gr.Epoch {
			return errNoGroupKey
		}
		if epoch < gr.Epoch {
			return fmt.Errorf("msg: message of an old epoch")
		}
		var chain []byte
		var at uint32
		err = tx.QueryRowContext(ctx, `SELECT chain, iter FROM msg_group_keys WHERE gid = ? AND epoch = ? AND sender = ?`, gid, epoch, from.String()).Scan(&chain, &at)
		if noRows(err) {
			return errNoGroupKey
		}
		if err != nil {
			return err
		}
		if iter < at || iter-at > 1000 {
			return fmt.Errorf("msg: group message index %d, chain at %d", iter, at)
		}
		var mk []byte
		for at <= iter {
			chain, mk = chainStep(chain)
			at++
		}
		k, nonce := groupKeys(mk)
		aead, _ := chacha20poly1305.New(k)
		pt, err := aead.Open(nil, nonce, ct, groupAD(gid, epoch, iter, from))
		if err != nil {
			return fmt.Errorf("msg: group message does not authenticate")
		}
		pl, err := decodePayload(pt)
		if err != nil || pl.Kind != kindText {
			return errMalformed
		}
		if _, err := tx.ExecContext(ctx, `UPDATE msg_group_keys SET chain = ?, iter = ? WHERE gid = ? AND epoch = ? AND sender = ?`, chain, at, gid, epoch, from.String()); err != nil {
			return err
		}
		now := g.s.now()
		t := time.UnixMilli(pl.Time)
		if t.After(now.Add(time.Hour)) || t.Before(now.Add(-30*24*time.Hour)) {
			t = now
		}
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO msg_messages(peer, id, out, sender, text, time, state, folder) VALUES (?, ?, 0, ?, ?, ?, ?, ?)`,
			"group:"+gr.Name, pl.ID, from.String(), pl.Text, t.UnixMilli(), StateDelivered, FolderInbox)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			notice = &Message{ID: pl.ID, From: from, To: "group:" + gr.Name, Text: pl.Text, Time: t, State: StateDelivered, Folder: FolderInbox}
		}
		return nil
	})
	g.s.mu.Unlock()
	if err == nil && notice != nil {
		g.s.notify(*notice)
	}
	return err
}

// CreateGroup creates a group this node administers, with the given
// members (names or peer IDs; this node is added), and sends each member
// its membership and this node's key over the pairwise sessions.
func (s *Service) CreateGroup(ctx context.Context, name string, members []string) (Group, error) {
	return s.groups.create(ctx, name, members)
}

// Groups lists the groups this node belongs to.
func (s *Service) Groups(ctx context.Context) ([]Group, error) { return s.groups.list(ctx) }

// RemoveMember removes a member from a group this node administers and
// rekeys it, so that the removed member cannot read later messages.
func (s *Service) RemoveMember(ctx context.Context, name, member string) (Group, error) {
	return s.groups.remove(ctx, name, member)
}
