// Package share is a node's sharing catalog. It shares files and folders in
// place (nothing is copied): it hashes them into content manifests, keeps
// the catalog in the node's SQLite database, watches shared folders and
// re-indexes what changes, serves chunks after verifying them against their
// hash, and announces provider records for what it shares.
//
// Verification at this edge means a chunk read from a shared file that has
// changed on disk since it was indexed is never served: [Service.Chunk]
// refuses it with an error wrapping [content.ErrHashMismatch] and schedules
// a re-index of the share.
//
// Catalog writes for one share happen in one transaction, so a kill -9
// while indexing leaves either the old or the new catalog of that share.
package share

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"golang.org/x/time/rate"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/store"
)

// ErrNotFound is returned (wrapped) by [Service.Manifest] and
// [Service.Chunk] when the catalog has no such id (or, for a chunk, no
// shared file holding it can be read any more). It wraps [fs.ErrNotExist],
// so consumers that cannot import this package can test for that.
var ErrNotFound = fmt.Errorf("share: not found (%w)", fs.ErrNotExist)

// ErrServing is returned by [Service.Serve] when it is already running.
var ErrServing = errors.New("share: already serving")

// ErrNotShared is returned (wrapped) by [Service.Remove] when the path is
// not shared.
var ErrNotShared = errors.New("share: path not shared")

// Announcer publishes provider records for content ids; the node implements
// it with a DHT provide.
type Announcer interface {
	Provide(ctx context.Context, id cid.Cid) error
}

// Config configures a [Service]. Only DB is required.
type Config struct {
	// DB is the node's database. Required.
	DB *store.DB
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// Announcer announces shared ids; nil disables announcing.
	Announcer Announcer
	// Workers is the number of hashing goroutines; 0 means GOMAXPROCS.
	Workers int
	// ChunkSize is the preferred chunk size for new files; 0 means
	// [content.DefaultChunkSize].
	ChunkSize int
	// ReannounceEvery is how often every shared id is announced again; 0
	// means 12 hours.
	ReannounceEvery time.Duration
	// WatchDebounce is how long the watcher waits after the last change in
	// a share before re-indexing it; 0 means one second. A share that keeps
	// changing is re-indexed at least every 10 debounce periods.
	WatchDebounce time.Duration
	// AnnounceRate limits announcements per second; 0 means 10.
	AnnounceRate rate.Limit
	// AnnounceBurst is the burst of the announcement limiter; 0 means 10.
	AnnounceBurst int
	// AnnounceTimeout bounds one Provide call; 0 means one minute.
	AnnounceTimeout time.Duration
	// AnnounceParallel is how many Provide calls may be in flight; 0 means
	// 4. The rate limit applies across all of them.
	AnnounceParallel int
	// Ignore, if not nil, leaves out of every shared folder the entries it
	// returns true for (rel is the slash-separated path inside the share),
	// and changes to them do not trigger a re-index. A node sharing its
	// download folder would ignore in-progress "*.part" files here.
	Ignore func(rel string, isDir bool) bool
	// Internal are folders where the node shares its own files (compute's
	// modules and results, the market's listings and goods): they are
	// served and announced like any share, but [Service.List] leaves them
	// out, so a person sees only what they shared or downloaded.
	Internal []string
	// Private are folders whose shares are for one peer each (the files a
	// node sends, HOME/outbox): never announced nor listed nor searchable,
	// and served only to the peers MayServe allows (see private.go).
	Private []string
	// MayServe reports whether peer p may fetch the private share whose
	// root id is rootCID; nil: no peer may.
	MayServe mayServeFunc
}

// Share is one shared file or folder.
type Share struct {
	CID        string    `json:"cid"`
	Name       string    `json:"name"`
	Path       string    `json:"path"`
	Dir        bool      `json:"dir"`
	Size       int64     `json:"size"`
	Files      int       `json:"files"`
	Downloaded bool      `json:"downloaded"`
	Added      time.Time `json:"added"`
	Indexed    time.Time `json:"indexed"`
}

// FileEntry is one indexed file or folder, for the search index.
type FileEntry struct {
	CID string `json:"cid"`
	// Name is the base name.
	Name string `json:"name"`
	// RelPath is the slash-separated path inside the share; "" for the
	// shared file or folder itself.
	RelPath string `json:"rel_path"`
	Size    int64  `json:"size"`
	Dir     bool   `json:"dir"`
	// Share is the path of the share holding the entry.
	Share string `json:"share"`
	// ShareCID is the root id of that share.
	ShareCID string `json:"share_cid"`
}

// Service is the sharing catalog. Create it with [New]; its methods are
// safe for concurrent use. [Service.Serve] runs the watcher and announcer.
type Service struct {
	db     *store.DB
	log    *slog.Logger
	cfg    Config
	ann    *announceQueue
	wakeW  chan struct{} // watch list needs syncing
	wakeIx chan struct{} // a share became dirty

	indexMu sync.Mutex // one indexing at a time
	serving atomic.Bool
	current atomic.Pointer[indexing] // the indexing under way, if any
	// onFile, set by tests, is called after each file is counted.
	onFile func()
	// onChange is the function [Service.OnChange] set, or nil.
	onChange atomic.Pointer[func()]

	mu    sync.Mutex
	roots map[int64]rootInfo
	dirty map[int64]*dirtyShare

	// privateRoots is set while some share lies in a Config.Private
	// folder: set before such a share is committed, cleared only by a
	// Remove that leaves none (both under indexMu), so it is never
	// false while one exists. Without one, a manifest needs no query to
	// be served (see manifestAllowed).
	privateRoots atomic.Bool
}

// indexing counts the progress of one index run.
type indexing struct {
	path    string
	started time.Time
	files   atomic.Int64
	bytes   atomic.Int64
}

// IndexProgress describes the indexing under way: the files (and their
// bytes) reached so far, hashed or found unchanged.
type IndexProgress struct {
	Path    string    `json:"path"`
	Files   int64     `json:"files"`
	Bytes   int64     `json:"bytes"`
	Started time.Time `json:"started"`
}

// Indexing reports the indexing under way; ok is false when none runs.
func (s *Service) Indexing() (p IndexProgress, ok bool) {
	cur := s.current.Load()
	if cur == nil {
		return IndexProgress{}, false
	}
	return IndexProgress{Path: cur.path, Files: cur.files.Load(), Bytes: cur.bytes.Load(), Started: cur.started}, true
}

type rootInfo struct {
	path  string
	isDir bool
}

type dirtyShare struct {
	first, due time.Time
	force      map[string]bool // rel paths to rehash regardless of size/mtime
}

// New opens the catalog in cfg.DB, applying its migrations.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.DB == nil {
		return nil, errors.New("share: Config.DB is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Workers = cmp.Or(cfg.Workers, runtime.GOMAXPROCS(0))
	cfg.ChunkSize = cmp.Or(cfg.ChunkSize, content.DefaultChunkSize)
	cfg.ReannounceEvery = cmp.Or(cfg.ReannounceEvery, 12*time.Hour)
	cfg.WatchDebounce = cmp.Or(cfg.WatchDebounce, time.Second)
	cfg.AnnounceRate = cmp.Or(cfg.AnnounceRate, 10)
	cfg.AnnounceBurst = cmp.Or(cfg.AnnounceBurst, 10)
	cfg.AnnounceTimeout = cmp.Or(cfg.AnnounceTimeout, time.Minute)
	cfg.AnnounceParallel = cmp.Or(cfg.AnnounceParallel, 4)
	if err := cfg.DB.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("share: %w", err)
	}
	s := &Service{
		db:     cfg.DB,
		log:    cfg.Logger,
		cfg:    cfg,
		ann:    newAnnounceQueue(cfg.Announcer != nil, cfg.ReannounceEvery/2),
		wakeW:  make(chan struct{}, 1),
		wakeIx: make(chan struct{}, 1),
		roots:  make(map[int64]rootInfo),
		dirty:  make(map[int64]*dirtyShare),
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, path, is_dir FROM share_roots`)
	if err != nil {
		return nil, fmt.Errorf("share: load: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var ri rootInfo
		if err := rows.Scan(&id, &ri.path, &ri.isDir); err != nil {
			return nil, fmt.Errorf("share: load: %w", err)
		}
		s.roots[id] = ri
		if s.isPrivate(ri.path) {
			s.privateRoots.Store(true)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("share: load: %w", err)
	}
	return s, nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func cleanPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("share: %w", err)
	}
	return abs, nil
}

// Add shares the file or folder at path in place and returns it once it is
// indexed. A folder becomes a [content.DirManifest] over its entries, with
// subfolders as nested folder manifests; symlinks leaving the folder,
// special files and unreadable files are skipped and logged. Adding a path
// that is already shared re-indexes it, rehashing only files whose size or
// modification time changed.
func (s *Service) Add(ctx context.Context, path string) (Share, error) {
	abs, err := cleanPath(path)
	if err != nil {
		return Share{}, err
	}
	sh, err := s.index(ctx, abs, indexOpts{})
	if err == nil {
		s.changed()
	}
	return sh, err
}

// OnChange sets f to be called after every change of what is shared
// through [Service.Add] and [Service.Remove] (the search service re-syncs
// its index on it). f must not block; nil stops the calls.
func (s *Service) OnChange(f func()) {
	if f == nil {
		s.onChange.Store(nil)
		return
	}
	s.onChange.Store(&f)
}

func (s *Service) changed() {
	if f := s.onChange.Load(); f != nil {
		(*f)()
	}
}

// AddDownloaded registers a completed download at path, whose id is id and
// encoded manifest manifestBytes, so the node seeds it. For a file the
// manifest is trusted (the transfer verified every chunk) once the file's
// size matches it; a folder is indexed again and must hash to id, its
// files in files (slash-separated paths below path, manifests the
// transfer verified) trusted in the same way and the others hashed.
// Errors wrap [content.ErrHashMismatch] when the bytes on disk or
// manifestBytes do not match id. Every chunk served is verified on read
// ([Service.Chunk]), so a file changed on disk after the download is
// never served as the manifest's.
func (s *Service) AddDownloaded(ctx context.Context, path string, id cid.Cid, manifestBytes []byte, files map[string]*content.FileManifest) error {
	abs, err := cleanPath(path)
	if err != nil {
		return err
	}
	v, err := content.Decode(id, manifestBytes)
	if err != nil {
		return fmt.Errorf("share: add downloaded %s: %w", abs, err)
	}
	switch m := v.(type) {
	case *content.FileManifest:
		info, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("share: add downloaded: %w", err)
		}
		if !info.Mode().IsRegular() || info.Size() != m.Size {
			return fmt.Errorf("share: add downloaded %s: %w: on disk %d bytes, manifest %d", abs, content.ErrHashMismatch, info.Size(), m.Size)
		}
		fid, _ := content.FileIDOf(info)
		tree := &content.Node{Name: filepath.Base(abs), ID: id, Size: m.Size, ModTime: info.ModTime(), FileID: fid, File: m}
		_, err = s.store(ctx, abs, tree, true)
		return err
	default:
		_, err := s.index(ctx, abs, indexOpts{downloaded: true, expect: id, trusted: files})
		return err
	}
}

// Remove stops sharing path (as given to Add, made absolute). It returns an
// error wrapping [ErrNotShared] if path is not shared.
func (s *Service) Remove(ctx context.Context, path string) error {
	abs, err := cleanPath(path)
	if err != nil {
		return err
	}
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("share: remove: %w", err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `DELETE FROM share_roots WHERE path = ? RETURNING id`, abs).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", ErrNotShared, abs)
	}
	if err != nil {
		return fmt.Errorf("share: remove: %w", err)
	}
	if err := gcManifests(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("share: remove: %w", err)
	}
	s.mu.Lock()
	delete(s.roots, id)
	delete(s.dirty, id)
	private := false
	for _, r := range s.roots {
		private = private || s.isPrivate(r.path)
	}
	s.privateRoots.Store(private) // indexMu held: no share is being stored
	s.mu.Unlock()
	signal(s.wakeW)
	s.log.Info("share: removed", "path", abs)
	s.changed()
	return nil
}

func gcManifests(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx,
		`DELETE FROM share_manifests WHERE cid NOT IN (SELECT cid FROM share_files)`); err != nil {
		return fmt.Errorf("share: gc manifests: %w", err)
	}
	return nil
}

const shareCols = `path, name, root_cid, is_dir, size, files, downloaded, added_ns, indexed_ns`

func scanShare(sc interface{ Scan(...any) error }) (Share, error) {
	var sh Share
	var added, indexed int64
	err := sc.Scan(&sh.Path, &sh.Name, &sh.CID, &sh.Dir, &sh.Size, &sh.Files, &sh.Downloaded, &added, &indexed)
	sh.Added = time.Unix(0, added).UTC()
	sh.Indexed = time.Unix(0, indexed).UTC()
	return sh, err
}

// List returns every share a person made (or downloaded), ordered by path:
// not the node's own internal files (see [Config.Internal]).
func (s *Service) List(ctx context.Context) ([]Share, error) {
	all, err := s.ListAll(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(sh Share) bool { return s.IsInternal(sh.Path) || s.isPrivate(sh.Path) }), nil
}

// IsInternal reports whether path lies in one of [Config.Internal]'s folders.
func (s *Service) IsInternal(path string) bool {
	for _, dir := range s.cfg.Internal {
		if dir == "" {
			continue
		}
		if rel, err := filepath.Rel(dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// ListAll returns every share, the node's internal ones too, ordered by path.
func (s *Service) ListAll(ctx context.Context) ([]Share, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+shareCols+` FROM share_roots ORDER BY path`)
	if err != nil {
		return nil, fmt.Errorf("share: list: %w", err)
	}
	defer rows.Close()
	var out []Share
	for rows.Next() {
		sh, err := scanShare(rows)
		if err != nil {
			return nil, fmt.Errorf("share: list: %w", err)
		}
		out = append(out, sh)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("share: list: %w", err)
	}
	return out, nil
}

// Manifest returns the encoded manifest (file or folder) of id, or an error
// wrapping [ErrNotFound].
func (s *Service) Manifest(ctx context.Context, id cid.Cid) ([]byte, error) {
	if !s.manifestAllowed(ctx, id.String()) {
		return nil, fmt.Errorf("%w: manifest %s", ErrNotFound, id)
	}
	var data []byte
	st, err := s.db.Prepared(ctx, qManifest)
	if err == nil {
		err = st.QueryRowContext(ctx, id.String()).Scan(&data)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: manifest %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("share: manifest %s: %w", id, err)
	}
	return data, nil
}

// Has reports whether the catalog holds id: a chunk of a shared file, or a
// file or folder manifest. For chunks the answer comes from the 64-bit
// lookup key, so it is advisory; [Service.Chunk] verifies.
func (s *Service) Has(ctx context.Context, id cid.Cid) bool {
	q, arg := `SELECT 1 FROM share_manifests WHERE cid = ?`, any(id.String())
	if content.IsChunk(id) {
		d, err := content.Digest(id)
		if err != nil {
			return false
		}
		q, arg = `SELECT 1 FROM share_chunks WHERE key = ? LIMIT 1`, chunkKey(d[:])
	}
	st, err := s.db.Prepared(ctx, q)
	if err != nil {
		return false
	}
	var one int
	return st.QueryRowContext(ctx, arg).Scan(&one) == nil
}

// Files returns every indexed file and folder of every share (including
// each share's root), for the search index.
func (s *Service) Files(ctx context.Context) ([]FileEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT f.cid, f.name, f.rel_path, f.size, f.is_dir, r.path, r.root_cid
		FROM share_files f JOIN share_roots r ON r.id = f.share_id ORDER BY r.path, f.rel_path`)
	if err != nil {
		return nil, fmt.Errorf("share: files: %w", err)
	}
	defer rows.Close()
	var out []FileEntry
	for rows.Next() {
		var e FileEntry
		if err := rows.Scan(&e.CID, &e.Name, &e.RelPath, &e.Size, &e.Dir, &e.Share, &e.ShareCID); err != nil {
			return nil, fmt.Errorf("share: files: %w", err)
		}
		if s.isPrivate(e.Share) {
			continue
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("share: files: %w", err)
	}
	return out, nil
}

// AnnounceProgress returns how many announcements have been made (or given
// up) and how many were queued, since the service started.
func (s *Service) AnnounceProgress() (done, total int) {
	return s.ann.progress()
}

// fileRow is a share_files row as the indexer needs it.
type fileRow struct {
	id     int64
	isDir  bool
	size   int64
	mtime  int64
	fid    content.FileID
	cid    string
	reused bool
}

// indexOpts tune index.
type indexOpts struct {
	force      map[string]bool // rel paths to rehash whatever their size and mtime
	downloaded bool            // mark the share as a completed download
	mustExist  bool            // refuse (ErrNotShared) a path not shared (any more)
	expect     cid.Cid         // if defined, store only if the root hashes to it
	// trusted are manifests of files just downloaded and verified, by
	// rel path, used instead of hashing when the size on disk matches.
	trusted map[string]*content.FileManifest
}

// index hashes the share at abs, reusing unchanged files' manifests, and
// stores the result.
func (s *Service) index(ctx context.Context, abs string, o indexOpts) (Share, error) {
	force := o.force
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	if o.mustExist {
		var one int
		if err := s.db.QueryRowContext(ctx, `SELECT 1 FROM share_roots WHERE path = ?`, abs).Scan(&one); err != nil {
			return Share{}, fmt.Errorf("%w: %s (%w)", ErrNotShared, abs, err)
		}
	}
	existing, err := s.loadFiles(ctx, abs)
	if err != nil {
		return Share{}, err
	}
	prog := &indexing{path: abs, started: time.Now()}
	s.current.Store(prog)
	defer s.current.Store(nil)
	opts := content.BuildOptions{
		ChunkSize: s.cfg.ChunkSize,
		Workers:   s.cfg.Workers,
		Reuse: func(rel string, info fs.FileInfo) *content.FileManifest {
			prog.files.Add(1)
			prog.bytes.Add(info.Size())
			if s.onFile != nil {
				s.onFile()
			}
			if m := o.trusted[rel]; m != nil && m.Size == info.Size() && !force[rel] {
				return m
			}
			row, ok := existing[rel]
			fid, _ := content.FileIDOf(info)
			if !ok || row.isDir || force[rel] || row.size != info.Size() || row.mtime != info.ModTime().UnixNano() || row.fid != fid {
				return nil
			}
			m, err := s.loadFileManifest(ctx, row.cid)
			if err != nil {
				s.log.Debug("share: cannot reuse manifest", "rel", rel, "err", err)
				return nil
			}
			return m
		},
		Ignore: s.cfg.Ignore,
		Skipped: func(rel string, err error) {
			s.log.Warn("share: skipped", "share", abs, "rel", rel, "err", err)
		},
	}
	started := time.Now()
	tree, err := content.BuildDir(ctx, abs, opts)
	if err != nil {
		return Share{}, fmt.Errorf("share: index %s: %w", abs, err)
	}
	if o.expect.Defined() && !tree.ID.Equals(o.expect) {
		return Share{}, fmt.Errorf("share: %s: %w: hashes to %s, want %s", abs, content.ErrHashMismatch, tree.ID, o.expect)
	}
	return s.storeLocked(ctx, abs, tree, o.downloaded, existing, started.Add(-racyWindow))
}

// store records an already built tree (a verified download) for abs.
func (s *Service) store(ctx context.Context, abs string, tree *content.Node, downloaded bool) (Share, error) {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	existing, err := s.loadFiles(ctx, abs)
	if err != nil {
		return Share{}, err
	}
	return s.storeLocked(ctx, abs, tree, downloaded, existing, time.Time{})
}
