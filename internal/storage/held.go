package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/blake3"

	"github.com/peerpath/peerpath/internal/store"
)

// Errors of the storing side, answered to the client as "refused".
var (
	// ErrNoOffer is returned when this node offers no storage.
	ErrNoOffer = errors.New("storage: this node offers no storage")
	// ErrQuota is returned when a share would exceed the offer or the
	// client's part of it.
	ErrQuota = errors.New("storage: over the storage offered")
	// ErrNotYours is returned when a peer asks to delete or renew a share
	// it did not store (and holds no secret for).
	ErrNotYours = errors.New("storage: share not stored by this peer")
	// ErrNotFound is returned for a share this node does not hold.
	ErrNotFound = errors.New("storage: share not found")
)

// heldStore is the shares this node holds for others: one file per share
// under dir (named by the share id in hex, so no name from a peer reaches
// the file system), one row per (share, client) in storage_held. A file
// is written to a temporary name, synced and renamed before its row is
// inserted; on open, rows without a file and files without a row (a kill
// -9 between the two) are dropped.
type heldStore struct {
	db  *store.DB
	dir string

	mu        sync.Mutex
	off       Offer
	used      int64 // bytes of held records, plus reservations
	perClient map[string]int64
}

func openHeld(ctx context.Context, db *store.DB, dir string) (*heldStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	h := &heldStore{db: db, dir: dir, perClient: map[string]int64{}}
	var err error
	if h.off.Bytes, err = meta(ctx, db, "offer"); err != nil {
		return nil, err
	}
	if h.off.PricePerGiBMonth, err = meta(ctx, db, "price"); err != nil {
		return nil, err
	}
	if h.off.PerClient, err = meta(ctx, db, "per_client"); err != nil {
		return nil, err
	}
	if err := h.reconcile(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *heldStore) path(id ShareID) string {
	x := id.String()
	return filepath.Join(h.dir, x[:2], x)
}

// reconcile makes disk and rows agree and recounts usage.
func (h *heldStore) reconcile(ctx context.Context) error {
	rows, err := h.db.QueryContext(ctx, `SELECT id, client, size FROM storage_held`)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	type rec struct {
		id     ShareID
		client string
		size   int64
	}
	var recs []rec
	for rows.Next() {
		var b []byte
		var r rec
		if err := rows.Scan(&b, &r.client, &r.size); err != nil {
			rows.Close()
			return fmt.Errorf("storage: %w", err)
		}
		copy(r.id[:], b)
		recs = append(recs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	known := map[string]bool{}
	for _, r := range recs {
		fi, err := os.Stat(h.path(r.id))
		if err != nil || fi.Size() != r.size {
			if _, err := h.db.ExecContext(ctx, `DELETE FROM storage_held WHERE id = ?`, r.id[:]); err != nil {
				return fmt.Errorf("storage: %w", err)
			}
			continue
		}
		known[r.id.String()] = true
		h.used += r.size
		h.perClient[r.client] += r.size
	}
	return filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if !known[d.Name()] {
			os.Remove(p) // a temporary file, or a share whose row never made it
		}
		return nil
	})
}

func (h *heldStore) offer() (Offer, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.off, h.used
}

func (h *heldStore) setOffer(ctx context.Context, o Offer) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, v := range map[string]int64{"offer": o.Bytes, "price": o.PricePerGiBMonth, "per_client": o.PerClient} {
		if _, err := h.db.ExecContext(ctx, `INSERT INTO storage_meta(k, v) VALUES (?, ?)
			ON CONFLICT(k) DO UPDATE SET v = excluded.v`, k, strconv.FormatInt(v, 10)); err != nil {
			return fmt.Errorf("storage: save offer: %w", err)
		}
	}
	h.off = o
	return nil
}

func (o Offer) perClient() int64 {
	if o.PerClient > 0 {
		return min(o.PerClient, o.Bytes)
	}
	return o.Bytes / 2
}

// free is what client may still store here.
func (h *heldStore) free(client string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.off.Bytes <= 0 {
		return 0
	}
	return max(0, min(h.off.Bytes-h.used, h.off.perClient()-h.perClient[client]))
}

// reserve sets size bytes aside for client, or refuses; the caller calls
// the returned release unless the share was committed.
func (h *heldStore) reserve(client string, size int64) (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.off.Bytes <= 0 {
		return nil, ErrNoOffer
	}
	if h.used+size > h.off.Bytes || h.perClient[client]+size > h.off.perClient() {
		return nil, fmt.Errorf("%w: %d bytes asked, %d free for this peer", ErrQuota, size,
			max(0, min(h.off.Bytes-h.used, h.off.perClient()-h.perClient[client])))
	}
	h.used += size
	h.perClient[client] += size
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			h.used -= size
			h.perClient[client] -= size
			h.mu.Unlock()
		})
	}, nil
}

// lookup returns the lease end and the delete-secret hash of (id, client).
func (h *heldStore) lookup(ctx context.Context, id ShareID, client string) (expires int64, ok bool, err error) {
	err = h.db.QueryRowContext(ctx, `SELECT expires FROM storage_held WHERE id = ? AND client = ?`, id[:], client).Scan(&expires)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("storage: %w", err)
	}
	return expires, true, nil
}

// commit writes a verified share and its record. The reservation the
// caller holds becomes the record's usage.
func (h *heldStore) commit(ctx context.Context, id ShareID, client string, data []byte, expires int64, auth [32]byte, paid int64) error {
	p := h.path(id)
	if fi, err := os.Stat(p); err != nil || fi.Size() != int64(len(data)) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		if err := writeSynced(p, data); err != nil {
			return err
		}
	}
	var authv any
	if auth != ([32]byte{}) {
		authv = auth[:]
	}
	_, err := h.db.ExecContext(ctx, `INSERT INTO storage_held(id, client, size, stored, expires, auth, paid) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		id[:], client, len(data), time.Now().Unix(), expires, authv, paid)
	if err != nil {
		return fmt.Errorf("storage: record share: %w", err)
	}
	return nil
}

// writeSynced writes data to p through a temporary file that is synced
// and renamed, then syncs the folder: after a crash p is whole or absent.
func writeSynced(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("storage: write share: %w", err)
	}
	return syncDir(filepath.Dir(p))
}

// read returns a held share's bytes, at most MaxShareSize.
func (h *heldStore) read(ctx context.Context, id ShareID) ([]byte, error) {
	return h.readInto(ctx, id, nil, 0)
}

// readInto reads the share id into buf[off:] when buf has room for it
// (else into a new buffer with off bytes in front) and returns buf up to
// the share's end.
func (h *heldStore) readInto(ctx context.Context, id ShareID, buf []byte, off int) ([]byte, error) {
	var n int
	if err := h.db.QueryRowContext(ctx, `SELECT count(*) FROM storage_held WHERE id = ?`, id[:]).Scan(&n); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if n == 0 {
		return nil, ErrNotFound
	}
	f, err := os.Open(h.path(id))
	if err != nil {
		return nil, ErrNotFound
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() > MaxShareSize {
		return nil, fmt.Errorf("%w: share %s on disk", ErrCorrupt, id)
	}
	size := int(fi.Size())
	if cap(buf) < off+size {
		buf = make([]byte, off+size)
	}
	b := buf[:off+size]
	if _, err := f.ReadAt(b[off:], 0); err != nil && size > 0 {
		return nil, fmt.Errorf("storage: read share: %w", err)
	}
	return b, nil
}

// remove drops client's record of id (or, with a secret, the record whose
// delete-secret hash matches), and the file once no record is left.
func (h *heldStore) remove(ctx context.Context, id ShareID, client string, secret [32]byte) error {
	var res sql.Result
	var err error
	var size int64
	var owner string
	if secret == ([32]byte{}) {
		owner = client
		err = h.db.QueryRowContext(ctx, `SELECT size FROM storage_held WHERE id = ? AND client = ?`, id[:], client).Scan(&size)
	} else {
		auth := blake3.Sum256(secret[:])
		err = h.db.QueryRowContext(ctx, `SELECT client, size FROM storage_held WHERE id = ? AND auth = ? LIMIT 1`, id[:], auth[:]).Scan(&owner, &size)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotYours
	}
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if res, err = h.db.ExecContext(ctx, `DELETE FROM storage_held WHERE id = ? AND client = ?`, id[:], owner); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		h.mu.Lock()
		h.used -= size
		h.perClient[owner] -= size
		h.mu.Unlock()
	}
	return h.dropFileIfUnused(ctx, id)
}

func (h *heldStore) dropFileIfUnused(ctx context.Context, id ShareID) error {
	var n int
	if err := h.db.QueryRowContext(ctx, `SELECT count(*) FROM storage_held WHERE id = ?`, id[:]).Scan(&n); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if n == 0 {
		if err := os.Remove(h.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("storage: %w", err)
		}
	}
	return nil
}

// renew extends client's lease of id to until.
func (h *heldStore) renew(ctx context.Context, id ShareID, client string, until, paid int64) error {
	res, err := h.db.ExecContext(ctx, `UPDATE storage_held SET expires = max(expires, ?), paid = paid + ? WHERE id = ? AND client = ?`,
		until, paid, id[:], client)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotYours
	}
	return nil
}

// expire drops the records whose lease ended before before.
func (h *heldStore) expire(ctx context.Context, before time.Time) (int, error) {
	rows, err := h.db.QueryContext(ctx, `SELECT id, client, size FROM storage_held WHERE expires < ?`, before.Unix())
	if err != nil {
		return 0, fmt.Errorf("storage: %w", err)
	}
	type rec struct {
		id     ShareID
		client string
		size   int64
	}
	var recs []rec
	for rows.Next() {
		var b []byte
		var r rec
		if err := rows.Scan(&b, &r.client, &r.size); err == nil {
			copy(r.id[:], b)
			recs = append(recs, r)
		}
	}
	rows.Close()
	for _, r := range recs {
		if _, err := h.db.ExecContext(ctx, `DELETE FROM storage_held WHERE id = ? AND client = ?`, r.id[:], r.client); err != nil {
			return 0, fmt.Errorf("storage: %w", err)
		}
		h.mu.Lock()
		h.used -= r.size
		h.perClient[r.client] -= r.size
		h.mu.Unlock()
		if err := h.dropFileIfUnused(ctx, r.id); err != nil {
			return 0, err
		}
	}
	return len(recs), nil
}

func (h *heldStore) status(ctx context.Context) (Status, error) {
	st := Status{Clients: []ClientUsage{}}
	st.Offer, _ = h.offer()
	rows, err := h.db.QueryContext(ctx, `SELECT client, count(*), sum(size), sum(paid) FROM storage_held GROUP BY client ORDER BY sum(size) DESC`)
	if err != nil {
		return st, fmt.Errorf("storage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c ClientUsage
		if err := rows.Scan(&c.Peer, &c.Shares, &c.Bytes, &c.Paid); err != nil {
			return st, fmt.Errorf("storage: %w", err)
		}
		st.Clients = append(st.Clients, c)
		st.Used += c.Bytes
		st.Shares += c.Shares
		st.Earned += c.Paid
	}
	return st, rows.Err()
}

// heldFiles lists the files under dir, for tests that look at a storing
// peer's disk.
func heldFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}
