// Package backup backs folders up onto other peers' disks through the
// storage layer and restores them anywhere from one string.
//
// A snapshot is made restic's way: every file is cut into content-defined
// chunks (github.com/restic/chunker, with a polynomial secret to this home
// so chunk boundaries reveal nothing to whoever sees share sizes), and a
// chunk this owner stored before (in any snapshot) is not stored again: a
// keyed BLAKE3 hash of each chunk, keyed by a secret of this home, finds it
// in the local index. Each new chunk is one storage object (encrypted
// under its own key, erasure-coded, placed on n peers). The snapshot's
// manifest (paths, modes, sizes, hashes and every chunk's reference, keys
// included) is itself one storage object, so the capability string, which
// is the manifest's reference, is all a fresh home needs to restore: the
// key of the manifest, its share ids and their first holders.
//
// Nothing here talks to the network: the storage layer does, behind
// [Store], which the node implements over internal/storage.
package backup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/restic/chunker"
	"github.com/zeebo/blake3"

	"github.com/peerpath/peerpath/internal/store"
)

// Store keeps objects on other peers (the node implements it over
// internal/storage). A ref is the object's reference as a string: it
// carries the key, so it stays in this home or inside another object.
type Store interface {
	Put(ctx context.Context, plain []byte, k, n int) (ref string, err error)
	Get(ctx context.Context, ref string) ([]byte, error)
	Delete(ctx context.Context, ref string) error
	// Check challenges the holders of an owned object's shares (and
	// repairs it if needed); it reports healthy shares of n and the
	// repairs done so far.
	Check(ctx context.Context, ref string) (healthy, n, repairs int, err error)
}

// Errors.
var (
	// ErrNotFound is returned for an unknown snapshot.
	ErrNotFound = errors.New("backup: snapshot not found")
	// ErrBadCap is returned for a string that is neither a snapshot id
	// nor a capability.
	ErrBadCap = errors.New("backup: not a snapshot id or capability")
	// ErrBadManifest is returned when a manifest does not decode or names
	// a path outside the restore folder.
	ErrBadManifest = errors.New("backup: malformed manifest")
	// ErrInvalid is returned for bad arguments.
	ErrInvalid = errors.New("backup: invalid request")
)

// CapPrefix starts every capability string.
const CapPrefix = "ppbackup1:"

// Config configures a [Service].
type Config struct {
	DB     *store.DB
	Store  Store
	Logger *slog.Logger
}

// Service makes, lists, restores and forgets snapshots.
type Service struct {
	cfg    Config
	log    *slog.Logger
	pol    chunker.Pol
	secret []byte
}

var migrations = []store.Migration{{Version: 1, SQL: `
CREATE TABLE backup_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
-- Chunks this owner stored, by a keyed hash of their plaintext (dedup).
CREATE TABLE backup_chunks (hash BLOB PRIMARY KEY, ref TEXT NOT NULL, size INTEGER NOT NULL);
CREATE TABLE backup_snapshots (
	id       TEXT PRIMARY KEY,
	name     TEXT NOT NULL,
	created  INTEGER NOT NULL,
	cap      TEXT NOT NULL,
	files    INTEGER NOT NULL,
	bytes    INTEGER NOT NULL,
	stored   INTEGER NOT NULL,
	manifest BLOB NOT NULL
);
`}}

// New opens the backup service, creating this home's chunking polynomial
// and dedup key on first use.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Store == nil {
		return nil, errors.New("backup: Config needs DB and Store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.DB.Migrate(ctx, "backup", migrations); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger}
	polS, err := s.metaOr(ctx, "polynomial", func() (string, error) {
		p, err := chunker.RandomPolynomial()
		return strconv.FormatUint(uint64(p), 16), err
	})
	if err != nil {
		return nil, err
	}
	pv, err := strconv.ParseUint(polS, 16, 64)
	if err != nil {
		return nil, fmt.Errorf("backup: polynomial: %w", err)
	}
	s.pol = chunker.Pol(pv)
	sec, err := s.metaOr(ctx, "dedup_key", func() (string, error) {
		b := make([]byte, 32)
		rand.Read(b)
		return hex.EncodeToString(b), nil
	})
	if err != nil {
		return nil, err
	}
	if s.secret, err = hex.DecodeString(sec); err != nil || len(s.secret) != 32 {
		return nil, fmt.Errorf("backup: dedup key corrupt")
	}
	return s, nil
}

func (s *Service) metaOr(ctx context.Context, k string, mk func() (string, error)) (string, error) {
	var v string
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT v FROM backup_meta WHERE k = ?`, k).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("backup: %w", err)
	}
	if v, err = mk(); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	if _, err := s.cfg.DB.ExecContext(ctx, `INSERT INTO backup_meta(k, v) VALUES (?, ?)`, k, v); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	return v, nil
}

// Manifest is a snapshot's table of contents. It is stored encrypted
// like any other object; its decoder ([decodeManifest]) is the edge where
// a capability's content enters.
type Manifest struct {
	Version int       `json:"v"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Dirs    []string  `json:"dirs,omitempty"`
	Files   []File    `json:"files"`
}

// File is one backed-up file.
type File struct {
	Path   string  `json:"path"` // slash-separated, relative
	Mode   uint32  `json:"mode"`
	Size   int64   `json:"size"`
	MTime  int64   `json:"mtime"`
	Hash   string  `json:"hash"` // BLAKE3 of the content, hex
	Chunks []Chunk `json:"chunks"`
}

// Chunk is one stored chunk of a file.
type Chunk struct {
	Ref  string `json:"ref"`
	Size int    `json:"size"`
	Hash string `json:"hash"` // BLAKE3 of the chunk's plaintext, hex
}

// Limits on what a manifest may hold.
const (
	// MaxManifest bounds a manifest's encoded size.
	MaxManifest = 32 << 20
	maxPath     = 4096
)

// CreateOptions configures [Service.Create].
type CreateOptions struct {
	Name string
	K, N int
	// Progress, if set, is told the bytes read so far and the total.
	Progress func(done, total int64)
}

// Result is what [Service.Create] made.
type Result struct {
	Snapshot string `json:"snapshot"`
	Cap      string `json:"cap"`
	Files    int    `json:"files"`
	Bytes    int64  `json:"bytes"`
	// Stored is the plaintext bytes of the chunks stored by this snapshot
	// (the rest were already stored by an earlier one).
	Stored int64 `json:"stored"`
}

// Create backs up paths (files or folders, absolute) as one snapshot.
// Each top-level path appears in the snapshot under its base name. A run
// killed halfway can simply be run again: the chunks it stored are found
// in the dedup index and not stored twice.
func (s *Service) Create(ctx context.Context, paths []string, opt CreateOptions) (Result, error) {
	if len(paths) == 0 {
		return Result{}, fmt.Errorf("%w: no path", ErrInvalid)
	}
	if opt.K == 0 {
		opt.K = 10
	}
	if opt.N == 0 {
		opt.N = 16
	}
	m := Manifest{Version: 1, Name: opt.Name, Created: time.Now().UTC().Truncate(time.Second)}
	type todo struct {
		abs, rel string
		fi       fs.FileInfo
	}
	var files []todo
	var total int64
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return Result{}, fmt.Errorf("%w: %s is not an absolute path", ErrInvalid, p)
		}
		p = filepath.Clean(p)
		base := filepath.Base(p)
		err := filepath.WalkDir(p, func(abs string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(p, abs)
			rel = filepath.ToSlash(filepath.Join(base, rel))
			switch {
			case d.IsDir():
				m.Dirs = append(m.Dirs, rel)
			case d.Type().IsRegular():
				fi, err := d.Info()
				if err != nil {
					return err
				}
				files = append(files, todo{abs, rel, fi})
				total += fi.Size()
			}
			return nil // symlinks and devices are not backed up
		})
		if err != nil {
			return Result{}, fmt.Errorf("backup: %w", err)
		}
	}
	if opt.Name == "" {
		m.Name = filepath.Base(filepath.Clean(paths[0]))
	}
	res := Result{}
	var done int64
	buf := make([]byte, chunker.MaxSize)
	for _, f := range files {
		entry, stored, err := s.backupFile(ctx, f.abs, f.rel, f.fi, opt, buf, func(n int) {
			done += int64(n)
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
		})
		if err != nil {
			return Result{}, err
		}
		m.Files = append(m.Files, entry)
		res.Bytes += entry.Size
		res.Stored += stored
	}
	res.Files = len(m.Files)
	raw, err := json.Marshal(m)
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	if len(raw) > MaxManifest {
		return Result{}, fmt.Errorf("%w: manifest of %d bytes (limit %d): back up fewer files at once", ErrInvalid, len(raw), MaxManifest)
	}
	ref, err := s.cfg.Store.Put(ctx, raw, opt.K, opt.N)
	if err != nil {
		return Result{}, fmt.Errorf("backup: store manifest: %w", err)
	}
	res.Cap = CapPrefix + ref
	res.Snapshot = snapshotID(res.Cap)
	_, err = s.cfg.DB.ExecContext(ctx, `INSERT OR REPLACE INTO backup_snapshots(id, name, created, cap, files, bytes, stored, manifest)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, res.Snapshot, m.Name, m.Created.Unix(), res.Cap, res.Files, res.Bytes, res.Stored, raw)
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	return res, nil
}

// snapshotID names a snapshot locally: a hash of its capability.
func snapshotID(capStr string) string {
	sum := blake3.Sum256([]byte(capStr))
	return hex.EncodeToString(sum[:8])
}

// backupFile chunks one file, storing the chunks not stored before.
func (s *Service) backupFile(ctx context.Context, abs, rel string, fi fs.FileInfo, opt CreateOptions, buf []byte, progress func(int)) (File, int64, error) {
	f, err := os.Open(abs)
	if err != nil {
		return File{}, 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	entry := File{Path: rel, Mode: uint32(fi.Mode().Perm()), MTime: fi.ModTime().Unix(), Chunks: []Chunk{}}
	whole := blake3.New()
	c := chunker.New(f, s.pol)
	var stored int64
	for {
		if err := ctx.Err(); err != nil {
			return File{}, 0, err
		}
		ch, err := c.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return File{}, 0, fmt.Errorf("backup: read %s: %w", abs, err)
		}
		whole.Write(ch.Data)
		sum := blake3.Sum256(ch.Data)
		key := s.dedupKey(sum)
		var ref string
		err = s.cfg.DB.QueryRowContext(ctx, `SELECT ref FROM backup_chunks WHERE hash = ?`, key).Scan(&ref)
		if errors.Is(err, sql.ErrNoRows) {
			if ref, err = s.cfg.Store.Put(ctx, ch.Data, opt.K, opt.N); err != nil {
				return File{}, 0, fmt.Errorf("backup: store a chunk of %s: %w", rel, err)
			}
			if _, err = s.cfg.DB.ExecContext(ctx, `INSERT OR IGNORE INTO backup_chunks(hash, ref, size) VALUES (?, ?, ?)`, key, ref, len(ch.Data)); err != nil {
				return File{}, 0, fmt.Errorf("backup: %w", err)
			}
			stored += int64(len(ch.Data))
		} else if err != nil {
			return File{}, 0, fmt.Errorf("backup: %w", err)
		}
		entry.Chunks = append(entry.Chunks, Chunk{Ref: ref, Size: len(ch.Data), Hash: hex.EncodeToString(sum[:])})
		entry.Size += int64(len(ch.Data))
		progress(len(ch.Data))
	}
	entry.Hash = hex.EncodeToString(whole.Sum(nil))
	return entry, stored, nil
}

// dedupKey is the key a chunk is found under in the dedup index: a keyed
// hash (the owner's secret) of the chunk's BLAKE3 hash, so the index
// reveals no content hash, and the chunk is hashed once, not twice.
func (s *Service) dedupKey(sum [32]byte) []byte {
	h, _ := blake3.NewKeyed(s.secret)
	h.Write(sum[:])
	return h.Sum(nil)
}

// Snapshot is one snapshot this node made.
type Snapshot struct {
	ID      string    `json:"snapshot"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Cap     string    `json:"cap"`
	Files   int       `json:"files"`
	Bytes   int64     `json:"bytes"`
	Stored  int64     `json:"stored"`
}

// List returns this node's snapshots, newest first.
func (s *Service) List(ctx context.Context) ([]Snapshot, error) {
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT id, name, created, cap, files, bytes, stored FROM backup_snapshots ORDER BY created DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer rows.Close()
	out := []Snapshot{}
	for rows.Next() {
		var sn Snapshot
		var created int64
		if err := rows.Scan(&sn.ID, &sn.Name, &created, &sn.Cap, &sn.Files, &sn.Bytes, &sn.Stored); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		sn.Created = time.Unix(created, 0).UTC()
		out = append(out, sn)
	}
	return out, rows.Err()
}

// local returns a snapshot's capability and manifest.
func (s *Service) local(ctx context.Context, id string) (string, Manifest, error) {
	var capStr string
	var raw []byte
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT cap, manifest FROM backup_snapshots WHERE id = ?`, id).Scan(&capStr, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return "", Manifest{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return "", Manifest{}, fmt.Errorf("backup: %w", err)
	}
	m, err := decodeManifest(raw)
	return capStr, m, err
}

// FileHealth is the health of one file of a snapshot: the fewest healthy
// shares of any of its chunks.
type FileHealth struct {
	Path    string `json:"path"`
	Chunks  int    `json:"chunks"`
	Healthy int    `json:"healthy"` // fewest healthy shares over its chunks
	N       int    `json:"n"`
}

// Status is the health of a snapshot.
type Status struct {
	Snapshot string       `json:"snapshot"`
	Name     string       `json:"name"`
	Files    []FileHealth `json:"files"`
	Manifest int          `json:"manifest_healthy"`
	Repairs  int          `json:"repairs"`
}

// Status challenges the holders of every chunk of a snapshot (repairing
// what fell to the threshold) and reports shares alive per file.
func (s *Service) Status(ctx context.Context, id string) (Status, error) {
	capStr, m, err := s.local(ctx, id)
	if err != nil {
		return Status{}, err
	}
	st := Status{Snapshot: id, Name: m.Name, Files: []FileHealth{}}
	checked := map[string][2]int{}
	check := func(ref string) (int, int) {
		if v, ok := checked[ref]; ok {
			return v[0], v[1]
		}
		h, n, rep, err := s.cfg.Store.Check(ctx, ref)
		if err != nil {
			h = 0
		}
		st.Repairs += rep
		checked[ref] = [2]int{h, n}
		return h, n
	}
	st.Manifest, _ = check(strings.TrimPrefix(capStr, CapPrefix))
	for _, f := range m.Files {
		fh := FileHealth{Path: f.Path, Chunks: len(f.Chunks), Healthy: -1}
		for _, c := range f.Chunks {
			h, n := check(c.Ref)
			if fh.Healthy < 0 || h < fh.Healthy {
				fh.Healthy = h
			}
			fh.N = max(fh.N, n)
		}
		st.Files = append(st.Files, fh)
	}
	return st, nil
}

// Forget drops a snapshot: its manifest and the chunks no other snapshot
// of this node uses are deleted from their holders.
func (s *Service) Forget(ctx context.Context, id string) error {
	capStr, m, err := s.local(ctx, id)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT manifest FROM backup_snapshots WHERE id != ?`, id)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for rows.Next() {
		var raw []byte
		if rows.Scan(&raw) == nil {
			if other, err := decodeManifest(raw); err == nil {
				for _, f := range other.Files {
					for _, c := range f.Chunks {
						used[c.Ref] = true
					}
				}
			}
		}
	}
	rows.Close()
	if _, err := s.cfg.DB.ExecContext(ctx, `DELETE FROM backup_snapshots WHERE id = ?`, id); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	drop := func(ref string) {
		if err := s.cfg.Store.Delete(ctx, ref); err != nil {
			s.log.Info("backup: delete", "err", err)
		}
	}
	for _, f := range m.Files {
		for _, c := range f.Chunks {
			if used[c.Ref] {
				continue
			}
			used[c.Ref] = true // once
			drop(c.Ref)
			_, _ = s.cfg.DB.ExecContext(ctx, `DELETE FROM backup_chunks WHERE ref = ?`, c.Ref)
		}
	}
	drop(strings.TrimPrefix(capStr, CapPrefix))
	return nil
}
