package storage

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/zeebo/blake3"
	"golang.org/x/time/rate"
)

// PutOptions configures [Service.Put].
type PutOptions struct {
	// K and N: any K of the N shares rebuild the object (1 ≤ K < N ≤ 32).
	K, N int
	// Secret, if set, lets whoever holds it delete the shares (Publius):
	// each storing peer keeps only BLAKE3 of [ShareSecret](Secret, id),
	// which says nothing of Secret or of the other shares' secrets.
	Secret []byte
}

// ShareSecret is the secret that deletes share id of an object put with
// secret; its BLAKE3 hash is what the share's holder keeps.
func ShareSecret(secret []byte, id ShareID) [32]byte {
	h := blake3.New()
	h.Write([]byte("peerpath-share-secret-v1"))
	h.Write(id[:])
	h.Write(secret)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Put encrypts, codes and places an object on N distinct peers that
// offer storage, and records it as this node's (so it is checked,
// renewed and repaired). The returned Ref is the only way back to the
// plaintext.
func (s *Service) Put(ctx context.Context, plain []byte, opt PutOptions) (Ref, error) {
	// The shares live in a pooled Encoder's buffer until every put of
	// place has returned.
	enc := encoders.Get().(*Encoder)
	defer encoders.Put(enc)
	ref, shares, err := enc.Encode(plain, opt.K, opt.N)
	if err != nil {
		return Ref{}, err
	}
	var auth [][32]byte
	if len(opt.Secret) > 0 {
		auth = make([][32]byte, ref.N)
		for i, id := range ref.Shares {
			sec := ShareSecret(opt.Secret, id)
			auth[i] = blake3.Sum256(sec[:])
		}
	}
	if _, err := s.place(ctx, &ref, shares, auth, nil, nil); err != nil {
		return Ref{}, err
	}
	return ref, nil
}

// encoders are the Encoders of Puts, reused so a backup's stream of
// objects allocates no share buffers.
var encoders = sync.Pool{New: func() any { return new(Encoder) }}

// candidates returns peers that would store a share of size bytes for
// this node, best first (most challenges passed, fewest failed), none of
// exclude.
func (s *Service) candidates(ctx context.Context, size int, exclude map[peer.ID]bool) []peer.ID {
	seen := map[peer.ID]bool{s.self: true}
	var ids []peer.ID
	for _, p := range s.offerers(ctx) {
		if !seen[p] {
			seen[p] = true
			ids = append(ids, p)
		}
	}
	for _, p := range s.cfg.Host.Network().Peers() {
		if !seen[p] {
			seen[p] = true
			ids = append(ids, p)
		}
	}
	type cand struct {
		id    peer.ID
		score int64
		tie   uint64
	}
	var (
		mu  sync.Mutex
		out []cand
		wg  sync.WaitGroup
		sem = make(chan struct{}, 16)
	)
	for _, p := range ids {
		if exclude[p] {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			r, err := s.queryOffer(qctx, p)
			if err != nil || r.Free < uint64(size) {
				return
			}
			var ok, failed int64
			_ = s.cfg.DB.QueryRowContext(ctx, `SELECT ok, failed FROM storage_peers WHERE peer = ?`, p.String()).Scan(&ok, &failed)
			mu.Lock()
			out = append(out, cand{p, ok - 4*failed, rand.Uint64()})
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b cand) int {
		if a.score != b.score {
			return int(b.score - a.score)
		}
		if a.tie < b.tie {
			return -1
		}
		return 1
	})
	res := make([]peer.ID, len(out))
	for i, c := range out {
		res[i] = c.id
	}
	return res
}

// offerers returns the peers whose offers the DHT knows, looked up at
// most once a minute (a lookup takes seconds; a backup puts many objects).
func (s *Service) offerers(ctx context.Context) []peer.ID {
	if s.cfg.Routing == nil {
		return nil
	}
	s.mu.Lock()
	if time.Since(s.offerersAt) < time.Minute {
		defer s.mu.Unlock()
		return s.offerersList
	}
	s.mu.Unlock()
	ais, err := s.cfg.Routing.FindProviders(ctx, OfferCID)
	if err != nil {
		return nil
	}
	ids := make([]peer.ID, 0, len(ais))
	for _, ai := range ais {
		s.cfg.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, 10*time.Minute)
		ids = append(ids, ai.ID)
	}
	s.mu.Lock()
	s.offerersList, s.offerersAt = ids, time.Now()
	s.mu.Unlock()
	return ids
}

// place puts shares[i] for every i in which (all when nil) on distinct
// peers, never one already holding another share of the object, and
// records the placements. A repair (which given) places as many as there
// are peers for, and returns which it placed; a new object needs all n.
func (s *Service) place(ctx context.Context, ref *Ref, shares [][]byte, auth [][32]byte, which []int, avoid []string) ([]int, error) {
	partial := which != nil
	if which == nil {
		which = make([]int, ref.N)
		for i := range which {
			which[i] = i
		}
	}
	exclude := map[peer.ID]bool{}
	for _, h := range avoid {
		if p, err := peer.Decode(h); err == nil {
			exclude[p] = true
		}
	}
	for i, h := range ref.Holders {
		if !slices.Contains(which, i) && h != "" {
			if p, err := peer.Decode(h); err == nil {
				exclude[p] = true
			}
		}
	}
	cands := s.candidates(ctx, ref.ShareSize(), exclude)
	if len(cands) < len(which) && (!partial || len(cands) == 0) {
		return nil, fmt.Errorf("%w: %d shares to place, %d peers offer room for them", ErrNotEnoughPeers, len(which), len(cands))
	}
	which = which[:min(len(which), len(cands))]
	lease := s.cfg.Lease
	var (
		mu      sync.Mutex
		next    = len(which)
		errs    []error
		wg      sync.WaitGroup
		expires = make([]int64, ref.N)
	)
	for j, idx := range which {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := cands[j]
			var a [32]byte
			if auth != nil {
				a = auth[idx]
			}
			for {
				exp, err := s.putShare(ctx, p, ref.Shares[idx], shares[idx], lease, a)
				if err == nil {
					mu.Lock()
					ref.Holders[idx] = p.String()
					expires[idx] = exp
					mu.Unlock()
					return
				}
				s.log.Debug("storage: put share", "peer", p, "err", err)
				mu.Lock()
				if next >= len(cands) || ctx.Err() != nil {
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				p = cands[next]
				next++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %d shares could not be placed: %w", ErrNotEnoughPeers, len(errs), errors.Join(errs...))
	}
	return which, s.record(ctx, *ref, which, expires)
}

// record saves (or updates) an owned object and the placements in which.
func (s *Service) record(ctx context.Context, ref Ref, which []int, expires []int64) error {
	raw, err := ref.MarshalBinary()
	if err != nil {
		return err
	}
	oid := ref.ObjectID()
	tx, err := s.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO storage_objects(id, ref, created) VALUES (?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET ref = excluded.ref`, oid[:], raw, time.Now().Unix()); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	for _, i := range which {
		if _, err := tx.ExecContext(ctx, `INSERT INTO storage_placements(object, idx, holder, expires, ok) VALUES (?, ?, ?, ?, 1)
			ON CONFLICT(object, idx) DO UPDATE SET holder = excluded.holder, expires = excluded.expires, ok = 1`,
			oid[:], i, ref.Holders[i], expires[i]); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// owned returns this node's record of an object, or ok=false.
func (s *Service) owned(ctx context.Context, oid ShareID) (Ref, bool, error) {
	var raw []byte
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT ref FROM storage_objects WHERE id = ?`, oid[:]).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return Ref{}, false, nil
	}
	if err != nil {
		return Ref{}, false, fmt.Errorf("storage: %w", err)
	}
	ref, err := UnmarshalRef(raw)
	return ref, err == nil, err
}

// Get fetches the object ref names from K of its holders (the fastest
// K+2 asked at once, another for each that fails, all the rest when those
// are slow; see fetch), checks every share and decrypts. A holder that is
// gone is replaced by the share's providers in the DHT.
func (s *Service) Get(ctx context.Context, ref Ref) ([]byte, error) {
	if err := ref.check(); err != nil {
		return nil, err
	}
	if own, ok, _ := s.owned(ctx, ref.ObjectID()); ok {
		ref.Holders = own.Holders // repairs may have moved shares
	}
	// The data shares land in place in one buffer, which (rebuilt where
	// shares are missing) is the sealed object: no copy.
	data := make([]byte, ref.ShareSize()*ref.K)
	shares, err := s.fetch(ctx, ref, ref.K, nil, data)
	if err != nil {
		return nil, err
	}
	return openFetched(ref, shares, data)
}

// fetchSpare is how many holders beyond the shares wanted a fetch asks at
// once. Asking all n at once would have every holder read, hash and send a
// share only for n-k of them to be dropped. A fetch still hedges against
// stragglers: once the first share is in (after d), it waits until 3d
// (and at least fetchHedgeMin; at most fetchHedge in all) for the rest
// before it asks every other holder too.
const (
	fetchSpare    = 2
	fetchHedgeMin = 20 * time.Millisecond
	fetchHedge    = 2 * time.Second
)

// fetch gets verified shares of ref until want of them are in hand,
// skipping the indexes in skip. Missing ones are nil. It asks the want +
// fetchSpare holders that did best lately first (holderRank), another for
// each that fails, and every remaining one if the first ones are slow
// (fetchHedge). With data set (ShareSize × K bytes), data share i is read
// into its place in data; other shares get buffers of their own.
func (s *Service) fetch(ctx context.Context, ref Ref, want int, skip map[int]bool, data []byte) ([][]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type got struct {
		i    int
		data []byte
		err  error
	}
	type cand struct {
		i        int
		down     bool
		perShare time.Duration
	}
	var cands []cand
	for i := range ref.N {
		if skip[i] {
			continue
		}
		c := cand{i: i}
		if p, err := peer.Decode(ref.holder(i)); err == nil {
			c.down, c.perShare = s.holderRank(p)
		}
		cands = append(cands, c)
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		if a.down != b.down {
			if a.down {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.perShare, b.perShare)
	})
	size := ref.ShareSize()
	ch := make(chan got, len(cands))
	started := 0
	start := func() {
		i := cands[started].i
		started++
		var buf []byte
		if data != nil && i < ref.K {
			buf = data[i*size : (i+1)*size : (i+1)*size]
		} else {
			buf = make([]byte, size)
		}
		go func() {
			err := s.fetchOne(ctx, ref, i, buf)
			ch <- got{i, buf, err}
		}()
	}
	for started < min(want+fetchSpare, len(cands)) {
		start()
	}
	begun := time.Now()
	hedge := time.NewTimer(fetchHedge)
	defer hedge.Stop()
	shares := make([][]byte, ref.N)
	have, done := 0, 0
	var errs []error
	for done < started {
		var g got
		select {
		case g = <-ch:
		case <-hedge.C:
			for started < len(cands) {
				start()
			}
			continue
		}
		done++
		if g.err != nil {
			errs = append(errs, g.err)
			if have < want && started < len(cands) {
				start()
			}
			continue
		}
		shares[g.i] = g.data
		have++
		if have == 1 && started < len(cands) {
			d := time.Since(begun)
			hedge.Reset(max(3*d, fetchHedgeMin) - d)
		}
		if have == want {
			cancel()
		}
	}
	if have < want {
		return nil, fmt.Errorf("%w: %d of %d shares found, need %d: %w", ErrTooFewShares, have, ref.N, want, errors.Join(errs...))
	}
	return shares, nil
}

// fetchOne gets share i into buf (checked against its id) from its
// recorded holder, else from whoever the DHT says provides it.
func (s *Service) fetchOne(ctx context.Context, ref Ref, i int, buf []byte) error {
	id := ref.Shares[i]
	tried := map[peer.ID]bool{}
	var lastErr error = ErrNotFound
	if h := ref.holder(i); h != "" {
		if p, err := peer.Decode(h); err == nil {
			tried[p] = true
			err := s.getInto(ctx, p, id, buf)
			if err == nil {
				return nil
			}
			lastErr = err
		}
	}
	if s.cfg.Routing == nil || ctx.Err() != nil {
		return lastErr
	}
	ais, err := s.cfg.Routing.FindProviders(ctx, ShareCID(id))
	if err != nil {
		return errors.Join(lastErr, err)
	}
	n := 0
	for _, ai := range ais {
		if tried[ai.ID] || ai.ID == s.self || n >= 8 {
			continue
		}
		n++
		tried[ai.ID] = true
		s.cfg.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, 10*time.Minute)
		err := s.getInto(ctx, ai.ID, id, buf)
		if err == nil {
			return nil
		}
		lastErr = err
	}
	return lastErr
}

// Delete asks every holder of ref's shares to drop them: as their client,
// or, with secret, as the holder of the secret the object was put with.
// It returns how many shares were dropped; this node forgets the object.
func (s *Service) Delete(ctx context.Context, ref Ref, secret []byte) (int, error) {
	if err := ref.check(); err != nil {
		return 0, err
	}
	oid := ref.ObjectID()
	if own, ok, _ := s.owned(ctx, oid); ok {
		ref.Holders = own.Holders
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		n    int
		errs []error
	)
	for i, h := range ref.Holders {
		p, err := peer.Decode(h)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sec [32]byte
			if len(secret) > 0 {
				sec = ShareSecret(secret, ref.Shares[i])
			}
			err := s.deleteShare(ctx, p, ref.Shares[i], sec)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			n++
		}()
	}
	wg.Wait()
	if _, err := s.cfg.DB.ExecContext(ctx, `DELETE FROM storage_objects WHERE id = ?`, oid[:]); err != nil {
		return n, fmt.Errorf("storage: %w", err)
	}
	if n == 0 && len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	return n, nil
}

// Health is what the owner knows of one object.
type Health struct {
	Object   ShareID
	K, N     int
	Healthy  int // shares whose holder passed the last challenge (-1: never checked)
	Checked  time.Time
	Repairs  int // shares rebuilt and placed again, in all
	Repaired int // shares rebuilt by this check
	// RepairIn and RepairOut are the bytes this check's repair fetched
	// (about k shares) and placed (the rebuilt shares).
	RepairIn, RepairOut int64
	Err                 string
}

// RepairAt is the number of healthy shares at or below which an object is
// repaired: k+2, or n-1 when n ≤ k+2.
func RepairAt(k, n int) int { return min(k+2, n-1) }

// Health reports the last check of an owned object, without asking anyone.
func (s *Service) Health(ctx context.Context, oid ShareID) (Health, error) {
	h := Health{Object: oid}
	var raw []byte
	var checked int64
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT ref, checked, healthy, repairs FROM storage_objects WHERE id = ?`, oid[:]).
		Scan(&raw, &checked, &h.Healthy, &h.Repairs)
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("%w: object %s", ErrNotFound, oid)
	}
	if err != nil {
		return h, fmt.Errorf("storage: %w", err)
	}
	if ref, err := UnmarshalRef(raw); err == nil {
		h.K, h.N = ref.K, ref.N
	}
	if checked > 0 {
		h.Checked = time.Unix(checked, 0)
	}
	return h, nil
}

// Check challenges the holder of each share of an owned object (two
// random segments each, checked against the share id) and repairs the
// object when its healthy shares fell to [RepairAt].
func (s *Service) Check(ctx context.Context, oid ShareID) (Health, error) {
	ref, ok, err := s.owned(ctx, oid)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: object %s", ErrNotFound, oid)
		}
		return Health{Object: oid}, err
	}
	h := Health{Object: oid, K: ref.K, N: ref.N}
	size := ref.ShareSize()
	okv := make([]bool, ref.N)
	var wg sync.WaitGroup
	for i, holder := range ref.Holders {
		p, err := peer.Decode(holder)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			nseg := segments(size)
			segs := []uint32{uint32(rand.IntN(nseg))}
			if nseg > 1 {
				segs = append(segs, uint32(rand.IntN(nseg)))
			}
			cctx, cancel := context.WithTimeout(ctx, peerDeadline)
			defer cancel()
			err := s.challenge(cctx, p, ref.Shares[i], size, segs)
			okv[i] = err == nil
			col := "ok"
			if err != nil {
				col = "failed"
				s.log.Info("storage: challenge failed", "object", oid, "share", i, "peer", p, "err", err)
			}
			_, _ = s.cfg.DB.ExecContext(ctx, `INSERT INTO storage_peers(peer, `+col+`) VALUES (?, 1)
				ON CONFLICT(peer) DO UPDATE SET `+col+` = `+col+` + 1`, p.String())
		}()
	}
	wg.Wait()
	var bad []int
	for i, o := range okv {
		if o {
			h.Healthy++
		} else {
			bad = append(bad, i)
		}
		_, _ = s.cfg.DB.ExecContext(ctx, `UPDATE storage_placements SET ok = ? WHERE object = ? AND idx = ?`, o, oid[:], i)
	}
	if len(bad) > 0 && h.Healthy <= RepairAt(ref.K, ref.N) && h.Healthy >= ref.K {
		placed, in, err := s.repair(ctx, &ref, bad)
		h.Repaired = placed
		h.RepairIn, h.RepairOut = in, int64(placed)*int64(size)
		h.Healthy += placed
		if err != nil {
			h.Err = err.Error()
			s.log.Warn("storage: repair failed", "object", oid, "err", err)
		} else {
			s.log.Info("storage: repaired", "object", oid, "shares", placed)
		}
	} else if h.Healthy < ref.K {
		h.Err = fmt.Sprintf("only %d healthy shares of %d, need %d: cannot repair", h.Healthy, ref.N, ref.K)
	}
	_, err = s.cfg.DB.ExecContext(ctx, `UPDATE storage_objects SET checked = ?, healthy = ?, repairs = repairs + ? WHERE id = ?`,
		time.Now().Unix(), h.Healthy, h.Repaired, oid[:])
	if err != nil {
		return h, fmt.Errorf("storage: %w", err)
	}
	h.Checked = time.Now()
	_ = s.cfg.DB.QueryRowContext(ctx, `SELECT repairs FROM storage_objects WHERE id = ?`, oid[:]).Scan(&h.Repairs)
	return h, nil
}

// repair rebuilds the shares in bad from K healthy ones (the same bytes,
// so the same ids: references already handed out stay valid) and places
// them on peers that hold no share of the object (as many as there are
// such peers); the old holders are asked to drop theirs. It returns how
// many it placed and the bytes of the shares it fetched to rebuild them.
func (s *Service) repair(ctx context.Context, ref *Ref, bad []int) (int, int64, error) {
	skip := map[int]bool{}
	for _, i := range bad {
		skip[i] = true
	}
	shares, err := s.fetch(ctx, *ref, ref.K, skip, nil)
	if err != nil {
		return 0, 0, err
	}
	var in int64
	for _, sh := range shares {
		in += int64(len(sh))
	}
	if err := Rebuild(*ref, shares); err != nil {
		return 0, in, err
	}
	old := make([]string, len(bad))
	for j, i := range bad {
		old[j] = ref.Holders[i]
	}
	// Old holders are avoided too: a peer that lost or altered a share
	// gets no new one of the same object.
	placed, err := s.place(ctx, ref, shares, nil, bad, old)
	if err != nil {
		return 0, in, err
	}
	for j, i := range bad {
		if !slices.Contains(placed, i) {
			continue
		}
		if p, err := peer.Decode(old[j]); err == nil && old[j] != ref.Holders[i] {
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = s.deleteShare(dctx, p, ref.Shares[i], [32]byte{})
			cancel()
		}
	}
	if len(placed) < len(bad) {
		return len(placed), in, fmt.Errorf("%w: %d of %d lost shares placed again", ErrNotEnoughPeers, len(placed), len(bad))
	}
	return len(placed), in, nil
}

// Report sums up a check of every owned object.
type Report struct {
	Objects  int
	Healthy  int // objects with all N shares healthy after the check
	Repaired int // shares rebuilt and placed again
	Failing  int // objects that could not be brought back to N
	// RepairIn and RepairOut are the repair traffic: bytes of healthy
	// shares fetched to rebuild (about k × the bytes rebuilt) and bytes of
	// rebuilt shares placed.
	RepairIn, RepairOut int64
}

// CheckWorkers bounds the objects CheckAll checks (and repairs) at once:
// a repair waits on k fetches and a placement's write and fsync on another
// peer, so one object at a time leaves the network and the disks idle.
const CheckWorkers = 8

// checkRate bounds the objects CheckAll starts per second. A check sends
// one challenge to each holder, so a holder gets at most checkRate
// challenges a second from us, half what its server allows a peer
// (100/s): parallel checks never look like failures for being refused.
const checkRate = 50

// CheckAll checks (and repairs) every object this node owns, CheckWorkers
// at a time.
func (s *Service) CheckAll(ctx context.Context) (Report, error) {
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT id FROM storage_objects ORDER BY checked`)
	if err != nil {
		return Report{}, fmt.Errorf("storage: %w", err)
	}
	var ids []ShareID
	for rows.Next() {
		var b []byte
		if rows.Scan(&b) == nil {
			var id ShareID
			copy(id[:], b)
			ids = append(ids, id)
		}
	}
	rows.Close()
	var (
		r     Report
		mu    sync.Mutex
		wg    sync.WaitGroup
		next  = make(chan ShareID)
		limit = rate.NewLimiter(checkRate, CheckWorkers)
	)
	for range min(CheckWorkers, len(ids)) {
		wg.Go(func() {
			for id := range next {
				h, err := s.Check(ctx, id)
				mu.Lock()
				r.Objects++
				r.Repaired += h.Repaired
				r.RepairIn += h.RepairIn
				r.RepairOut += h.RepairOut
				switch {
				case err == nil && h.Healthy == h.N:
					r.Healthy++
				case err != nil || h.Err != "" || h.Healthy < h.N:
					r.Failing++
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, id := range ids {
		if limit.Wait(ctx) != nil {
			break
		}
		select {
		case next <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return r, ctx.Err()
}

// renew extends the leases that end within a third of the lease period.
func (s *Service) renew(ctx context.Context) error {
	soon := time.Now().Add(s.cfg.Lease / 3).Unix()
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT p.object, p.idx, p.holder, o.ref FROM storage_placements p
		JOIN storage_objects o ON o.id = p.object WHERE p.expires < ? AND p.ok = 1`, soon)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	type item struct {
		oid    []byte
		idx    int
		holder string
		ref    []byte
	}
	var items []item
	for rows.Next() {
		var it item
		if rows.Scan(&it.oid, &it.idx, &it.holder, &it.ref) == nil {
			items = append(items, it)
		}
	}
	rows.Close()
	for _, it := range items {
		ref, err := UnmarshalRef(it.ref)
		p, perr := peer.Decode(it.holder)
		if err != nil || perr != nil || it.idx >= ref.N {
			continue
		}
		exp, err := s.renewShare(ctx, p, ref.Shares[it.idx], ref.ShareSize(), s.cfg.Lease)
		if err != nil {
			s.log.Info("storage: renew failed", "peer", p, "err", err)
			continue
		}
		_, _ = s.cfg.DB.ExecContext(ctx, `UPDATE storage_placements SET expires = ? WHERE object = ? AND idx = ?`, exp, it.oid, it.idx)
	}
	return nil
}
