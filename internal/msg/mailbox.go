package msg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/msg/ratchet"
	"github.com/peerpath/peerpath/internal/p2p"
)

// What one mailbox holds for others, at most. Nothing is allocated from
// a count a sender sends: a put carries one envelope of bounded size, and
// these bounds are checked before it is stored.
const (
	mailboxPerSender      = 1000      // envelopes stored by one peer
	mailboxPerSenderBytes = 8 << 20   // their bytes
	mailboxPerTag         = 200       // envelopes under one tag
	mailboxTotal          = 50000     // envelopes in all
	mailboxTotalBytes     = 256 << 20 // their bytes
	bundlesKept           = 10000     // other peers' prekey bundles
	mailboxStreamTimeout  = 20 * time.Second
)

// bundleKey is the DHT key whose closest peers keep p's prekey bundle.
func bundleKey(p peer.ID) string { return "peerpath-msg-bundle/" + string(p) }

// closest returns up to n peers closest to key, among the DHT's answer
// and the connected peers, never this node nor the excluded one.
func (s *Service) closest(ctx context.Context, key string, n int, exclude peer.ID) []peer.ID {
	seen := map[peer.ID]bool{s.self: true, exclude: true}
	var cands []peer.ID
	add := func(ps []peer.ID) {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				cands = append(cands, p)
			}
		}
	}
	if s.cfg.Routing != nil {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		ps, _ := s.cfg.Routing.GetClosestPeers(ctx, key)
		cancel()
		add(ps)
	}
	add(s.h.Network().Peers())
	cands = kb.SortClosestPeers(cands, kb.ConvertKey(key))
	if len(cands) > n {
		cands = cands[:n]
	}
	return cands
}

// mailboxCall sends one request to p's mailbox and returns the answer.
func (s *Service) mailboxCall(ctx context.Context, p peer.ID, req mailboxRequest, maxAnswer int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := s.h.NewStream(network.WithAllowLimitedConn(ctx, "mailbox"), p, MailboxProtocol)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	dl, _ := ctx.Deadline()
	st.SetDeadline(dl)
	if err := p2p.WriteMsg(st, encodeMailboxRequest(req)); err != nil {
		st.Reset()
		return nil, err
	}
	ans, err := p2p.ReadMsg(st, maxAnswer)
	if err != nil {
		st.Reset()
		return nil, err
	}
	if len(ans) == 0 {
		return nil, fmt.Errorf("%w: empty answer", errMalformed)
	}
	return ans, nil
}

// deposit stores env under tag on the Replicas mailboxes closest to loc
// (trying further ones when a close one fails) and returns how many took
// it.
func (s *Service) deposit(ctx context.Context, recipient peer.ID, loc, tag [tagSize]byte, env []byte) int {
	req := mailboxRequest{Op: opPut, Tags: [][tagSize]byte{tag}, Blob: env}
	stored := 0
	for _, p := range s.closest(ctx, string(loc[:]), 3*s.cfg.Replicas, recipient) {
		if stored >= s.cfg.Replicas {
			break
		}
		ans, err := s.mailboxCall(ctx, p, req, 16)
		if err == nil && ans[0] == stOK {
			stored++
		} else {
			s.log.Debug("mailbox refused", "mailbox", p, "err", err, "answer", ans)
		}
	}
	return stored
}

// place is where a group of this node's tags is collected: the mailboxes
// closest to loc hold them.
type place struct {
	loc  [tagSize]byte
	tags [][tagSize]byte
}

// myTags lists where this node collects: today's and yesterday's tags
// (when full, every day a mailbox may still hold), for every session and
// prekey (a prekey's intro tag with its buckets).
func (s *Service) myTags(ctx context.Context, full bool) ([]place, error) {
	days := int64(1)
	if full {
		days = int64(s.cfg.MailboxTTL/(24*time.Hour)) + 1
	}
	today := day(s.now())
	var out []place
	rows, err := s.db.QueryContext(ctx, `SELECT secret FROM msg_sessions ORDER BY used DESC LIMIT 512`)
	if err != nil {
		return nil, err
	}
	var secrets [][]byte
	for rows.Next() {
		var sec []byte
		if rows.Scan(&sec) == nil {
			secrets = append(secrets, sec)
		}
	}
	rows.Close()
	pks, err := s.preKeys(ctx)
	if err != nil {
		return nil, err
	}
	for d := today - days; d <= today; d++ {
		for _, sec := range secrets {
			t := sessionTag(sec, s.self, d)
			out = append(out, place{loc: t, tags: [][tagSize]byte{t}})
		}
		for _, kp := range pks {
			loc := introTag(kp.Public, d)
			pl := place{loc: loc, tags: [][tagSize]byte{loc}} // the intro tag itself: envelopes stored before buckets
			for b := range introBuckets {
				pl.tags = append(pl.tags, introBucketTag(kp.Public, d, b))
			}
			out = append(out, pl)
		}
	}
	return out, nil
}

// collect asks the mailboxes closest to each of this node's places for
// what they hold, receives it, and acknowledges every envelope it
// handled (so the mailbox deletes it). It asks the 2r closest; for a
// place where some of them do not answer, it asks further ones (up to 4r
// in all), so that mailboxes gone offline do not hide what the others
// hold.
func (s *Service) collect(ctx context.Context, full bool) int {
	places, err := s.myTags(ctx, full)
	if err != nil {
		return 0
	}
	locs := make([][tagSize]byte, len(places))
	for i, pl := range places {
		locs[i] = pl.loc
	}
	s.arrMu.Lock()
	s.lastLocs, s.lastPeers = locs, len(s.h.Network().Peers())
	clear(s.newPeers)
	s.arrMu.Unlock()
	want := 2 * s.cfg.Replicas
	cands := make([][]peer.ID, len(places))
	asked := make([]int, len(places)) // candidates asked so far, per place
	for i, pl := range places {
		cands[i] = s.closest(ctx, string(pl.loc[:]), 2*want, "")
		asked[i] = min(want, len(cands[i]))
	}
	var (
		mu   sync.Mutex
		got  int
		seen = map[[itemIDSize]byte]bool{}
	)
	failed := s.collectRound(ctx, places, cands, func(i int) (int, int) { return 0, asked[i] }, seen, &mu, &got)
	// Places where some of those asked failed: ask as many further ones.
	from := make([]int, len(places))
	for i := range places {
		nf := 0
		for _, p := range cands[i][:asked[i]] {
			if failed[p] {
				nf++
			}
		}
		from[i] = asked[i]
		asked[i] = min(asked[i]+nf, len(cands[i]))
	}
	s.collectRound(ctx, places, cands, func(i int) (int, int) { return from[i], asked[i] }, seen, &mu, &got)
	s.sendReceipts(ctx)
	return got
}

// collectRound asks, for each place i, candidates cands[i][lo:hi] (span)
// for its tags, grouped by mailbox, 16 mailboxes at a time; it returns
// the mailboxes that did not answer.
func (s *Service) collectRound(ctx context.Context, places []place, cands [][]peer.ID, span func(int) (int, int),
	seen map[[itemIDSize]byte]bool, mu *sync.Mutex, got *int) map[peer.ID]bool {
	byPeer := map[peer.ID][][tagSize]byte{}
	for i, pl := range places {
		lo, hi := span(i)
		for _, p := range cands[i][lo:hi] {
			byPeer[p] = append(byPeer[p], pl.tags...)
		}
	}
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, 16)
		failed = map[peer.ID]bool{}
	)
	for p, ts := range byPeer {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for len(ts) > 0 {
				k := min(len(ts), maxGetTags)
				n, ok := s.collectFrom(ctx, p, ts[:k], seen, mu)
				mu.Lock()
				*got += n
				if !ok {
					failed[p] = true
				}
				mu.Unlock()
				if !ok {
					return
				}
				ts = ts[k:]
			}
		}()
	}
	wg.Wait()
	return failed
}

// collectFrom asks mailbox p for what it holds under tags (again while
// an answer comes back full), receives and acknowledges it. It returns
// how many messages arrived and whether p answered.
func (s *Service) collectFrom(ctx context.Context, p peer.ID, tags [][tagSize]byte, seen map[[itemIDSize]byte]bool, mu *sync.Mutex) (int, bool) {
	got := 0
	for round := 0; round < 8; round++ {
		ans, err := s.mailboxCall(ctx, p, mailboxRequest{Op: opGet, Tags: tags}, maxGetAnswer+1024)
		if err != nil || ans[0] != stOK {
			return got, round > 0
		}
		items, err := decodeItems(ans[1:])
		if err != nil {
			return got, false
		}
		ack := mailboxRequest{Op: opAck}
		size, fresh := 0, 0
		for _, it := range items {
			size += len(it.Blob) + 64
			mu.Lock()
			dup := seen[it.ID]
			seen[it.ID] = true
			mu.Unlock()
			if !dup {
				fresh++
				env, err := decodeEnvelope(it.Blob)
				if err == nil {
					err = s.receive(ctx, env, "", true)
				}
				switch {
				case err == nil:
					got++
				case errors.Is(err, errRateLimited) || ctx.Err() != nil:
					continue // leave it for the next collection
				default:
					// A copy already taken from another mailbox (its key is
					// spent), or garbage under our tag: either way not ours
					// to keep.
					s.log.Debug("mailbox envelope dropped", "mailbox", p, "err", err)
				}
			}
			ack.Tags = append(ack.Tags, it.Tag)
			ack.Items = append(ack.Items, it.ID)
		}
		if len(ack.Tags) > 0 {
			s.mailboxCall(ctx, p, ack, 16)
		}
		// A full answer may have left some behind: ask again once what
		// it held is acknowledged (and only while it brought new ones).
		full := len(items) >= maxGetTags*16 || size+maxEnvelope+64 > maxGetAnswer
		if !full || fresh == 0 || len(ack.Tags) == 0 {
			break
		}
	}
	return got, true
}

// publishBundle stores this node's prekey bundle on the mailboxes
// closest to its bundle key; it returns how many took it.
func (s *Service) publishBundle(ctx context.Context) int {
	b, err := s.bundle(ctx)
	if err != nil {
		return 0
	}
	req := mailboxRequest{Op: opPutBundle, Blob: b.Encode()}
	n := 0
	for _, p := range s.closest(ctx, bundleKey(s.self), s.cfg.Replicas, "") {
		if ans, err := s.mailboxCall(ctx, p, req, 16); err == nil && ans[0] == stOK {
			n++
		}
	}
	return n
}

// fetchBundle gets p's prekey bundle from p, else from the mailboxes
// closest to its bundle key, and checks that p signed it.
func (s *Service) fetchBundle(ctx context.Context, p peer.ID) (ratchet.Bundle, error) {
	req := mailboxRequest{Op: opGetBundle, Blob: []byte(p)}
	try := func(from peer.ID) (ratchet.Bundle, bool) {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.DirectTimeout)
		defer cancel()
		ans, err := s.mailboxCall(ctx, from, req, 1+ratchet.BundleSize)
		if err != nil || ans[0] != stOK {
			return ratchet.Bundle{}, false
		}
		b, err := ratchet.DecodeBundle(ans[1:])
		if err != nil {
			return b, false
		}
		if owner, err := peerOf(b.Identity.Sign); err != nil || owner != p {
			return b, false
		}
		return b, true
	}
	if b, ok := try(p); ok {
		return b, nil
	}
	for _, m := range s.closest(ctx, bundleKey(p), 2*s.cfg.Replicas, p) {
		if b, ok := try(m); ok {
			return b, nil
		}
	}
	return ratchet.Bundle{}, ErrNoBundle
}

// What a put checks its bounds against: the counters msg_mailbox's
// triggers keep (store.go, version 3), each read by its primary key, so a
// put costs O(log n) however much the mailbox holds. A missing row is zero.
const (
	sqlSenderCount = `SELECT COALESCE(MAX(n), 0), COALESCE(MAX(bytes), 0) FROM msg_mailbox_senders WHERE sender = ?`
	sqlTagCount    = `SELECT COALESCE(MAX(n), 0) FROM msg_mailbox_tags WHERE tag = ?`
	sqlTotalCount  = `SELECT COALESCE(MAX(n), 0), COALESCE(MAX(bytes), 0) FROM msg_mailbox_total WHERE one = 1`
)

// handleMailbox serves MailboxProtocol: one request a stream.
func (s *Service) handleMailbox(st network.Stream) {
	defer st.Close()
	st.SetDeadline(time.Now().Add(mailboxStreamTimeout))
	st.SetReadDeadline(time.Now().Add(p2p.FirstRequestTimeout))
	remote := st.Conn().RemotePeer()
	b, err := p2p.ReadMsg(st, maxMailboxRequest)
	if err != nil {
		st.Reset()
		return
	}
	if s.cfg.Blocked(remote) || !s.mboxLim.Allow(remote) {
		p2p.WriteMsg(st, []byte{stRefused})
		return
	}
	req, err := decodeMailboxRequest(b)
	if err != nil {
		p2p.WriteMsg(st, []byte{stBad})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p2p.WriteMsg(st, s.serveMailbox(ctx, remote, req))
}

// serveMailbox answers one decoded request from remote.
func (s *Service) serveMailbox(ctx context.Context, remote peer.ID, req mailboxRequest) []byte {
	now := s.now()
	switch req.Op {
	case opPut:
		if _, err := decodeEnvelope(req.Blob); err != nil {
			return []byte{stBad}
		}
		sum := sha256.Sum256(req.Blob)
		id := sum[:itemIDSize]
		ok := false
		err := inTx(ctx, s.db, func(tx *sql.Tx) error {
			var bySender, senderBytes, byTag, total, totalBytes int64
			if err := tx.QueryRowContext(ctx, sqlSenderCount, remote.String()).Scan(&bySender, &senderBytes); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, sqlTagCount, req.Tags[0][:]).Scan(&byTag); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, sqlTotalCount).Scan(&total, &totalBytes); err != nil {
				return err
			}
			size := int64(len(req.Blob))
			if bySender >= mailboxPerSender || senderBytes+size > mailboxPerSenderBytes || byTag >= mailboxPerTag ||
				total >= mailboxTotal || totalBytes+size > mailboxTotalBytes {
				return nil
			}
			ok = true
			_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO msg_mailbox(tag, id, sender, blob, expires) VALUES (?, ?, ?, ?, ?)`,
				req.Tags[0][:], id, remote.String(), req.Blob, now.Add(s.cfg.MailboxTTL).Unix())
			return err
		})
		switch {
		case err != nil:
			return []byte{stBad}
		case !ok:
			return []byte{stFull}
		}
		return []byte{stOK}
	case opGet:
		// One query for every tag asked (a collection asks up to
		// maxGetTags at once, most of them holding nothing).
		var items []item
		size := 0
		q := `SELECT tag, id, blob FROM msg_mailbox WHERE tag IN (?` + strings.Repeat(`, ?`, len(req.Tags)-1) + `) AND expires > ? ORDER BY rowid LIMIT ?`
		args := make([]any, 0, len(req.Tags)+2)
		for _, t := range req.Tags {
			args = append(args, t[:])
		}
		args = append(args, now.Unix(), maxGetTags*16)
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return []byte{stBad}
		}
		defer rows.Close()
		perTag := map[[tagSize]byte]int{}
		for rows.Next() {
			var tag, id, blob []byte
			if rows.Scan(&tag, &id, &blob) != nil || len(id) != itemIDSize || len(tag) != tagSize {
				continue
			}
			t := [tagSize]byte(tag)
			if perTag[t] >= mailboxPerTag {
				continue
			}
			if size+len(blob)+64 > maxGetAnswer {
				break
			}
			perTag[t]++
			size += len(blob) + 64
			items = append(items, item{Tag: t, ID: [itemIDSize]byte(id), Blob: blob})
		}
		return encodeItems(items)
	case opAck:
		// Knowing the tag and the item id is the right to delete: the tag
		// is known only to the two parties of the session.
		inTx(ctx, s.db, func(tx *sql.Tx) error {
			del, err := tx.PrepareContext(ctx, `DELETE FROM msg_mailbox WHERE tag = ? AND id = ?`)
			if err != nil {
				return err
			}
			defer del.Close()
			for i, t := range req.Tags {
				if _, err := del.ExecContext(ctx, t[:], req.Items[i][:]); err != nil {
					return err
				}
			}
			return nil
		})
		return []byte{stOK}
	case opPutBundle:
		b, err := ratchet.DecodeBundle(req.Blob)
		if err != nil {
			return []byte{stBad}
		}
		if owner, err := peerOf(b.Identity.Sign); err != nil || owner != remote {
			return []byte{stRefused} // only a peer's own bundle, from itself
		}
		err = inTx(ctx, s.db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO msg_bundles(peer, bundle, updated) VALUES (?, ?, ?)`, remote.String(), req.Blob, now.Unix()); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM msg_bundles WHERE peer NOT IN (SELECT peer FROM msg_bundles ORDER BY updated DESC LIMIT ?)`, bundlesKept)
			return err
		})
		if err != nil {
			return []byte{stBad}
		}
		return []byte{stOK}
	case opGetBundle:
		p, err := peer.IDFromBytes(req.Blob)
		if err != nil {
			return []byte{stBad}
		}
		if p == s.self {
			b, err := s.bundle(ctx)
			if err != nil {
				return []byte{stNotFound}
			}
			return append([]byte{stOK}, b.Encode()...)
		}
		var raw []byte
		if err := s.db.QueryRowContext(ctx, `SELECT bundle FROM msg_bundles WHERE peer = ? AND updated > ?`, p.String(), now.Add(-2*preKeyLife).Unix()).Scan(&raw); err != nil {
			return []byte{stNotFound}
		}
		return append([]byte{stOK}, raw...)
	}
	return []byte{stBad}
}

// expire drops what mailboxes hold past its time.
func (s *Service) expire(ctx context.Context) {
	s.db.ExecContext(ctx, `DELETE FROM msg_mailbox WHERE expires <= ?`, s.now().Unix())
	// An envelope is recognised as long as a mailbox may hand it out.
	s.db.ExecContext(ctx, `DELETE FROM msg_seen WHERE time < ?`, s.now().Add(-s.cfg.MailboxTTL-48*time.Hour).Unix())
}

// MailboxHolds reports how many envelopes this node holds for others and
// whether any of them contains needle in clear (tests).
func (s *Service) MailboxHolds(ctx context.Context, needle []byte) (int, bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT blob FROM msg_mailbox`)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	n, found := 0, false
	for rows.Next() {
		var b []byte
		if rows.Scan(&b) == nil {
			n++
			found = found || bytes.Contains(b, needle)
		}
	}
	return n, found, rows.Err()
}

// Status is what [Service.Status] reports.
type Status struct {
	// BundleReplicas is how many mailboxes took this node's prekey
	// bundle at its last publication.
	BundleReplicas int
	// Holding is how many envelopes this node holds for others, and
	// HoldingBytes their size.
	Holding, HoldingBytes int64
	// Outbox is how many envelopes wait for delivery.
	Outbox int64
}

// Status reports the service's mailbox and queue figures.
func (s *Service) Status(ctx context.Context) (Status, error) {
	st := Status{BundleReplicas: int(s.bundleReplicas.Load())}
	if err := s.db.QueryRowContext(ctx, sqlTotalCount).Scan(&st.Holding, &st.HoldingBytes); err != nil {
		return st, fmt.Errorf("msg: status: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM msg_outbox`).Scan(&st.Outbox); err != nil {
		return st, fmt.Errorf("msg: status: %w", err)
	}
	return st, nil
}
