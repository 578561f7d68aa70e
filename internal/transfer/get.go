package transfer

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/zeebo/blake3"

	"github.com/peerpath/peerpath/internal/content"
)

// GetOptions configures one [Service.Get].
type GetOptions struct {
	// Output is the path of the file or folder to create; empty means the
	// id's string in the current directory.
	Output string
	// Timeout bounds how long Get goes without progress (no manifest and no
	// verified chunk from any provider) before it fails with
	// ErrNoProviders; 0 means DefaultTimeout.
	Timeout time.Duration
	// Progress, if set, is called from time to time (at most every 100 ms,
	// and once at the end) with the download's progress. Calls never
	// overlap; it must not block for long.
	Progress func(Progress)
	// Plan, if set, is called once the whole tree is known and within the
	// limits (every folder manifest fetched and checked), before anything
	// is written, with the number of files and their total size.
	Plan func(Plan)
	// MaxEntries bounds the files and folders one download may create, all
	// folders expanded; 0 means DefaultMaxEntries.
	MaxEntries int
	// MaxSize bounds the total size of one download, in bytes; 0 means
	// DefaultMaxSize.
	MaxSize int64
}

// Plan describes a download before it starts writing: what the manifests
// say it will create.
type Plan struct {
	// Files and Dirs count the files and folders (the root folder
	// included) it will create.
	Files, Dirs int
	// Size is the total size of the files, in bytes.
	Size int64
}

// Limits of one download, when GetOptions does not set them.
const (
	// DefaultMaxEntries is the default bound on files and folders per
	// download; it matches what one folder manifest may hold.
	DefaultMaxEntries = content.MaxDirEntries
	// DefaultMaxSize is the default bound on the total size of one
	// download: the largest file a manifest may describe (1 TiB).
	DefaultMaxSize = content.MaxFileSize
)

// Progress is a snapshot of a download.
type Progress struct {
	// Done and Total are bytes of file content: present (verified) and in
	// all. Total grows as folder manifests arrive.
	Done, Total int64
	// Sources is the number of providers currently sending chunks.
	Sources int
	// Rate is the average download rate of this run, in bytes per second.
	Rate float64
}

// Result describes a completed download.
type Result struct {
	// ID is the downloaded id; Path where it was written.
	ID   cid.Cid
	Path string
	// Dir reports whether it is a folder; Files counts the files in it (1
	// for a file).
	Dir   bool
	Files int
	// Size is the total size of the content, in bytes.
	Size int64
	// Fetched is the number of chunk bytes received from peers in this run
	// (including duplicates); Resumed the bytes already present.
	Fetched, Resumed int64
	// Chunks is the number of chunks fetched and written in this run.
	Chunks int
	// Peers is the number of distinct peers that delivered verified chunks.
	Peers int
	// Duration is how long Get took.
	Duration time.Duration
}

// session is the state shared by everything one Get downloads.
type session struct {
	s       *Service
	root    cid.Cid
	out     string // cleaned root output path
	timeout time.Duration
	opt     GetOptions

	mu      sync.Mutex
	known   map[peer.ID]peer.AddrInfo
	order   []peer.ID
	bad     map[peer.ID]bool
	res     Result
	peers   map[peer.ID]bool
	prog    Progress
	start   time.Time
	lastCb  time.Time
	progFn  func(Progress)
	cbMu    sync.Mutex // serializes progFn calls
	fetched int64
	// answered and busy: the providers tried, and those whose last answer
	// was busy (with its message); see noteAnswer.
	answered map[peer.ID]bool
	busy     map[peer.ID]string
	// refused holds the providers that answered "refused by content
	// policy".
	refused map[peer.ID]bool
	// batches counts the batches started (they take turns over the
	// sources); dirty holds the folders batches renamed files into, to
	// sync at the end (see batch.go).
	batches atomic.Int64
	dirty   map[string]bool
	// written holds the manifests of the files batches wrote, by path
	// below out, for the Seeder (one small manifest per small file, so
	// it grows as the plan, which is bounded).
	written map[string]*content.FileManifest
	// local: copy from the node's own Source first (see local.go).
	local bool
}

// Get downloads id (a file or folder manifest id) to opt.Output. It returns
// once the content is complete and renamed into place, or with an error that
// leaves the verified partial data in place for the next Get to resume.
func (s *Service) Get(ctx context.Context, id cid.Cid, opt GetOptions) (Result, error) {
	if !content.IsFile(id) && !content.IsDir(id) {
		return Result{}, fmt.Errorf("%w: %s is not a file or folder id", ErrBadContent, id)
	}
	if s.refuses(id) {
		return Result{}, fmt.Errorf("%w: %s", ErrRefused, id)
	}
	ss := s.newSession(id, opt)
	defer ss.reportPeers()
	abs, err := filepath.Abs(ss.out)
	if err != nil {
		return Result{}, errorf("output %s: %w", ss.out, err)
	}
	s.outMu.Lock()
	if s.outputs[abs] {
		s.outMu.Unlock()
		return Result{}, fmt.Errorf("%w: %s", ErrInProgress, abs)
	}
	s.outputs[abs] = true
	s.outMu.Unlock()
	defer func() {
		s.outMu.Lock()
		delete(s.outputs, abs)
		s.outMu.Unlock()
	}()

	ss.local = ss.canCopyLocally(ctx, id) // see local.go
	raw, m, err := ss.fetchManifest(ctx, id, nil)
	if err == nil {
		switch m := m.(type) {
		case *content.FileManifest:
			if err = ss.checkPlan(Plan{Files: 1, Size: m.Size}); err != nil {
				break
			}
			if err = os.MkdirAll(filepath.Dir(ss.out), 0o755); err != nil {
				err = errorf("create folder of %s: %w", ss.out, err)
				break
			}
			err = ss.getFile(ctx, id, m, ss.out, []cid.Cid{id})
		case *content.DirManifest:
			var tree *planDir
			tree, err = ss.planTree(ctx, m)
			if err != nil {
				break
			}
			err = ss.getDir(ctx, tree, ss.out)
		}
	}
	ss.mu.Lock()
	ss.res.Duration = time.Since(ss.start)
	ss.res.Fetched = ss.fetched
	ss.res.Peers = len(ss.peers)
	res := ss.res
	ss.mu.Unlock()
	ss.report(true)
	if err != nil {
		return res, err
	}
	if s.cfg.Seeder != nil {
		ss.mu.Lock()
		files := ss.written
		ss.written = nil
		ss.mu.Unlock()
		if err := s.cfg.Seeder.AddDownloaded(ctx, ss.out, id, raw, files); err != nil {
			s.log.Warn("transfer: could not seed download", "path", ss.out, "err", err)
		}
	}
	return res, nil
}

func (s *Service) newSession(id cid.Cid, opt GetOptions) *session {
	out := opt.Output
	if out == "" {
		out = id.String()
	}
	ss := &session{
		s:       s,
		root:    id,
		out:     filepath.Clean(out),
		timeout: opt.Timeout,
		opt:     opt,
		known:   make(map[peer.ID]peer.AddrInfo),
		bad:     make(map[peer.ID]bool),
		peers:   make(map[peer.ID]bool),
		start:   time.Now(),
		progFn:  opt.Progress,
	}
	if ss.timeout <= 0 {
		ss.timeout = DefaultTimeout
	}
	ss.res = Result{ID: id, Path: ss.out, Dir: content.IsDir(id)}
	return ss
}

// getDir creates the folder dir and downloads the planned tree's entries
// (and subfolders) into it, up to parallelFiles files at once.
func (ss *session) getDir(ctx context.Context, tree *planDir, dir string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g := &fileGroup{sem: make(chan struct{}, parallelFiles), cancel: cancel}
	err := ss.walkDir(ctx, g, tree, dir)
	if err == nil {
		err = g.flush(ctx, ss)
	}
	if err != nil {
		cancel(err)
	}
	g.wg.Wait()
	// The first file's failure is the cause; the walk, cut short by it,
	// would only say "context canceled".
	if g.err != nil {
		err = g.err
	}
	if err == nil {
		err = ss.syncTree()
	}
	return err
}

// fileGroup runs the file downloads of a folder concurrently, cancelling
// them all on the first error.
type fileGroup struct {
	sem    chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	cancel context.CancelCauseFunc

	// The small files gathered for the next batch (see batch.go).
	batch      []*batchFile
	batchBytes int64
}

// add gathers a small file for a batch, starting the batch when full.
func (g *fileGroup) add(ctx context.Context, ss *session, f *batchFile) error {
	g.batch = append(g.batch, f)
	g.batchBytes += f.e.Size
	if len(g.batch) < batchFiles && g.batchBytes < batchBytes {
		return nil
	}
	return g.flush(ctx, ss)
}

// flush starts the gathered batch.
func (g *fileGroup) flush(ctx context.Context, ss *session) error {
	if len(g.batch) == 0 {
		return nil
	}
	b := g.batch
	g.batch, g.batchBytes = nil, 0
	return g.spawn(ctx, func() error { return ss.batchRun(ctx, b) })
}

func (g *fileGroup) spawn(ctx context.Context, fn func() error) error {
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	g.wg.Go(func() {
		defer func() { <-g.sem }()
		if err := fn(); err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
			}
			g.mu.Unlock()
			g.cancel(err)
		}
	})
	return nil
}

func (ss *session) walkDir(ctx context.Context, g *fileGroup, tree *planDir, dir string) error {
	if err := ss.checkInside(dir); err != nil {
		return err
	}
	if fi, err := os.Lstat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%w: %s is not a folder", ErrExists, dir)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return errorf("create %s: %w", dir, err)
	}
	for _, e := range tree.m.Entries {
		// Checked when planning; again here, where the path is made.
		if err := content.ValidName(e.Name); err != nil {
			return fmt.Errorf("%w: %q: %w", ErrUnsafeName, e.Name, err)
		}
		p := filepath.Join(dir, e.Name)
		if err := ss.checkInside(p); err != nil {
			return err
		}
		if sub := tree.subs[e.Name]; sub != nil {
			if err := ss.walkDir(ctx, g, sub, p); err != nil {
				return err
			}
			continue
		}
		f := &batchFile{e: e, path: p}
		var err error
		if e.Size <= batchMaxFile {
			err = g.add(ctx, ss, f)
		} else {
			err = g.spawn(ctx, func() error { return ss.fileByFile(ctx, f) })
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// planDir is a folder of a download's tree, with its subfolders' manifests
// fetched and checked.
type planDir struct {
	m    *content.DirManifest
	id   cid.Cid
	subs map[string]*planDir // by entry name
}

// planner walks a folder tree before anything is written.
type planner struct {
	// fetch returns the verified, decoded manifest id; prefetch, if set,
	// is told of the sub-folders of each folder planned, which fetch will
	// be asked for next (see prefetcher).
	fetch    func(ctx context.Context, id cid.Cid) (any, error)
	prefetch func(cid.Cid)
	// refuses, if set, names content the node's policy refuses: a tree
	// holding any is refused before anything is written.
	refuses    func(cid.Cid) bool
	plan       Plan
	entries    int
	maxEntries int
	maxSize    int64
	seen       map[string]*planDir // folder manifests fetched, by id
	// distinct counts the entries of the folder manifests fetched; reused
	// those counted again for a folder named twice (see reuseSlack).
	distinct, reused int
}

// planTree fetches every folder manifest below root and checks the whole
// tree against the download's limits before anything is written: depth, the
// number of files and folders with every folder expanded, the total size,
// and every name. A non-empty folder manifest named a second time anywhere
// in the tree is refused: reusing a sub-folder multiplies the tree, so a few
// tiny manifests could describe billions of files (a manifest bomb). Each
// folder manifest is fetched once, and the walk stops at the first breach,
// so its cost is bounded by the limits, not by what the manifests claim.
func (ss *session) planTree(ctx context.Context, root *content.DirManifest) (*planDir, error) {
	fetch := func(ctx context.Context, id cid.Cid) (any, error) {
		_, m, err := ss.fetchManifest(ctx, id, []cid.Cid{ss.root})
		return m, err
	}
	tree, plan, err := planTree(ctx, root, ss.root, cmp.Or(ss.opt.MaxEntries, DefaultMaxEntries),
		cmp.Or(ss.opt.MaxSize, DefaultMaxSize), fetch, ss.s.refuses)
	if err != nil {
		return nil, err
	}
	if err := ss.checkPlan(plan); err != nil {
		return nil, err
	}
	return tree, nil
}

// planTree plans the tree of the folder manifest root (whose id is id),
// fetching folder manifests with fetch, which is called from several
// goroutines at once (see prefetcher); see [session.planTree].
func planTree(ctx context.Context, root *content.DirManifest, id cid.Cid, maxEntries int, maxSize int64,
	fetch func(context.Context, cid.Cid) (any, error), refuses func(cid.Cid) bool) (*planDir, Plan, error) {
	pf := newPrefetcher(ctx, fetch)
	defer pf.close()
	pl := &planner{
		fetch:      pf.get,
		prefetch:   pf.want,
		refuses:    refuses,
		maxEntries: maxEntries,
		maxSize:    maxSize,
		seen:       make(map[string]*planDir),
		entries:    1, // the root folder
	}
	tree, err := pl.dir(ctx, root, id, "", 0)
	if err == nil && pl.reused > pl.distinct {
		err = pl.bomb("", id)
	}
	if err != nil {
		return nil, Plan{}, err
	}
	return tree, pl.plan, nil
}

// reuseSlack: a tree may name a folder manifest it already named (an
// identical sub-folder) as long as the entries added by such reuse stay
// within the entries of the distinct manifests fetched, plus reuseSlack
// while the walk goes on. A reuse costs no fetch, so without this bound a
// few tiny manifests could describe billions of files (a manifest bomb);
// with it, a tree is at most twice what its peer actually sent, and the walk
// stops as soon as it is more.
const reuseSlack = 1024

func (pl *planner) bomb(rel string, id cid.Cid) error {
	return fmt.Errorf("%w: folder %q reuses folder manifest %s named elsewhere in the tree more than the tree's own size; "+
		"a reused sub-folder multiplies the tree (manifest bomb)", ErrBadContent, rel, id)
}

// again counts a folder already planned once more, where it is named a
// second time (rel), with every limit checked as for a new one.
func (pl *planner) again(pd *planDir, rel string, depth int) error {
	if depth > maxDirDepth {
		return fmt.Errorf("%w: folders nested deeper than %d", ErrBadContent, maxDirDepth)
	}
	pl.plan.Dirs++
	pl.entries += len(pd.m.Entries)
	pl.reused += len(pd.m.Entries)
	if pl.entries > pl.maxEntries {
		return fmt.Errorf("%w: too many entries: the folder holds more than %d files and folders", ErrTooBig, pl.maxEntries)
	}
	if pl.reused > pl.distinct+reuseSlack {
		return pl.bomb(rel, pd.id)
	}
	for _, e := range pd.m.Entries {
		erel := path.Join(rel, e.Name)
		if content.IsDir(e.ID) {
			sub := pd.subs[e.Name]
			if sub == nil {
				return fmt.Errorf("%w: entry %q: folder not planned", ErrBadContent, erel)
			}
			if err := pl.again(sub, erel, depth+1); err != nil {
				return err
			}
			continue
		}
		pl.plan.Files++
		pl.plan.Size += e.Size
		if e.Size < 0 || pl.plan.Size > pl.maxSize {
			return fmt.Errorf("%w: too large: the folder holds more than %d bytes", ErrTooBig, pl.maxSize)
		}
	}
	return nil
}

func (pl *planner) dir(ctx context.Context, m *content.DirManifest, id cid.Cid, rel string, depth int) (*planDir, error) {
	if depth > maxDirDepth {
		return nil, fmt.Errorf("%w: folders nested deeper than %d", ErrBadContent, maxDirDepth)
	}
	pl.plan.Dirs++
	pl.entries += len(m.Entries) // this folder was counted by its parent
	pl.distinct += len(m.Entries)
	if pl.entries > pl.maxEntries {
		return nil, fmt.Errorf("%w: too many entries: the folder holds more than %d files and folders", ErrTooBig, pl.maxEntries)
	}
	pd := &planDir{m: m, id: id}
	pl.seen[id.KeyString()] = pd
	if pl.prefetch != nil {
		for _, e := range m.Entries {
			if content.IsDir(e.ID) && pl.seen[e.ID.KeyString()] == nil {
				pl.prefetch(e.ID)
			}
		}
	}
	for _, e := range m.Entries {
		if err := content.ValidName(e.Name); err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrUnsafeName, e.Name, err)
		}
		erel := path.Join(rel, e.Name)
		if pl.refuses != nil && pl.refuses(e.ID) {
			return nil, fmt.Errorf("%w: %q (%s)", ErrRefused, erel, e.ID)
		}
		switch {
		case content.IsFile(e.ID):
			pl.plan.Files++
			pl.plan.Size += e.Size
			if e.Size < 0 || pl.plan.Size > pl.maxSize {
				return nil, fmt.Errorf("%w: too large: the folder holds more than %d bytes", ErrTooBig, pl.maxSize)
			}
		case content.IsDir(e.ID):
			if prev := pl.seen[e.ID.KeyString()]; prev != nil {
				// The same sub-folder twice (real trees have some: Go's
				// src holds identical test folders). Counted again in
				// full, without fetching; see reuseSlack.
				if err := pl.again(prev, erel, depth+1); err != nil {
					return nil, err
				}
				mak(&pd.subs)[e.Name] = prev
				continue
			}
			v, err := pl.fetch(ctx, e.ID)
			if err != nil {
				return nil, err
			}
			dm, ok := v.(*content.DirManifest)
			if !ok {
				return nil, fmt.Errorf("%w: entry %q: not a folder manifest", ErrBadContent, erel)
			}
			sub, err := pl.dir(ctx, dm, e.ID, erel, depth+1)
			if err != nil {
				return nil, err
			}
			mak(&pd.subs)[e.Name] = sub
		default:
			return nil, fmt.Errorf("%w: entry %q is neither file nor folder", ErrBadContent, erel)
		}
	}
	return pd, nil
}

// mak returns *m, made first if nil.
func mak[K comparable, V any](m *map[K]V) map[K]V {
	if *m == nil {
		*m = make(map[K]V)
	}
	return *m
}

// checkPlan checks a plan against the download's limits, then shows it
// (GetOptions.Plan) and counts its size into the progress.
func (ss *session) checkPlan(p Plan) error {
	maxEntries := cmp.Or(ss.opt.MaxEntries, DefaultMaxEntries)
	maxSize := cmp.Or(ss.opt.MaxSize, DefaultMaxSize)
	switch {
	case p.Files+p.Dirs > maxEntries:
		return fmt.Errorf("%w: too many entries: %d files and folders, more than %d", ErrTooBig, p.Files+p.Dirs, maxEntries)
	case p.Size > maxSize:
		return fmt.Errorf("%w: too large: %d bytes, more than %d", ErrTooBig, p.Size, maxSize)
	}
	if ss.opt.Plan != nil {
		ss.opt.Plan(p)
	}
	ss.addTotal(p.Size)
	return nil
}

// checkInside refuses a path that is not the output or below it, or that
// is a symbolic link (which could point anywhere).
func (ss *session) checkInside(p string) error {
	clean := filepath.Clean(p)
	if clean != ss.out {
		rel, err := filepath.Rel(ss.out, clean)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			return fmt.Errorf("%w: %s escapes %s", ErrUnsafeName, p, ss.out)
		}
	}
	if fi, err := os.Lstat(clean); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%w: %s is a symbolic link", ErrUnsafeName, p)
	}
	return nil
}

// getFile downloads the file id (manifest m) to path, resuming from path.part.
func (ss *session) getFile(ctx context.Context, id cid.Cid, m *content.FileManifest, path string, lookup []cid.Cid) error {
	s := ss.s
	lay, err := layoutOf(m)
	if err != nil {
		return err
	}
	ss.mu.Lock()
	ss.res.Files++
	ss.res.Size += lay.size
	ss.mu.Unlock()

	part := PartPath(path)
	// Already there (a previous run finished, or the same file)?
	if fi, err := os.Lstat(path); err == nil {
		if !fi.Mode().IsRegular() || fi.Size() != lay.size || verifyFile(path, lay, s) != nil {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		ss.addResumed(lay.size)
		clog, err := openChunkLog(ctx, s.cfg.DB, part, id)
		if err == nil {
			clog.remove(ctx)
		}
		os.Remove(part)
		return nil
	}

	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return errorf("open %s: %w", part, err)
	}
	defer f.Close()
	clog, err := openChunkLog(ctx, s.cfg.DB, part, id)
	if err != nil {
		return err
	}
	defer clog.close()
	recorded, err := clog.load(ctx)
	if err != nil {
		return err
	}
	j := &fileJob{
		ss:        ss,
		lay:       lay,
		f:         f,
		lookup:    lookup,
		clog:      clog,
		state:     make([]chunkState, len(lay.chunks)),
		remaining: len(lay.chunks),
		changed:   make(chan struct{}),
		lastProg:  time.Now(),
	}
	// Resume: re-verify the recorded chunks, which the record says are on
	// disk (the data was fsynced before they were recorded).
	buf := s.getBuf(int(lay.chunkSize))
	for _, i := range recorded {
		if i < 0 || i >= len(lay.chunks) || j.state[i].done {
			continue
		}
		off, n := lay.rangeOf(i)
		b := (*buf)[:n]
		if _, err := f.ReadAt(b, off); err != nil {
			continue
		}
		if content.Verify(lay.chunks[i], b) != nil {
			continue
		}
		j.state[i].done = true
		j.remaining--
		ss.addResumed(n)
	}
	s.putBuf(buf)
	if err := f.Truncate(lay.size); err != nil {
		return errorf("size %s: %w", part, err)
	}

	if j.remaining > 0 && ss.local {
		if err := j.runLocal(ctx); err != nil {
			return err
		}
		if j.remaining == 0 {
			ss.mu.Lock()
			ss.res.Chunks += j.fetched
			ss.mu.Unlock()
		}
	}
	if j.remaining > 0 {
		err := j.run(ctx)
		ss.mu.Lock()
		ss.res.Chunks += j.fetched
		ss.mu.Unlock()
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("transfer: %s: %w: free some space and run the same get again to resume (partial data kept in %s)", path, err, part)
		}
		if err != nil {
			return fmt.Errorf("transfer: %s: %w (partial data kept in %s)", path, err, part)
		}
	}
	if err := f.Sync(); err != nil {
		return errorf("sync %s: %w", part, err)
	}
	DropCache(f)
	if err := f.Close(); err != nil {
		return errorf("close %s: %w", part, err)
	}
	if err := os.Rename(part, path); err != nil {
		return errorf("rename %s: %w", part, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return errorf("sync folder of %s: %w", path, err)
	}
	if err := clog.remove(ctx); err != nil {
		s.log.Warn("transfer: could not remove download record", "path", part, "err", err)
	}
	return nil
}

// maxNameLen is the longest file name (in bytes) the file systems we run
// on accept; content.MaxNameLen allows names this long.
const maxNameLen = 255

// partSuffix and stateSuffix end the temporary names of a download: the
// data file, and the sidecar record kept beside it when there is no
// database.
const (
	partSuffix  = ".part"
	stateSuffix = ".state"
)

// PartPath returns the temporary file a download to path writes until it is
// complete: path + ".part" when that name (and its ".part.state" sidecar)
// fits in [maxNameLen] bytes, else a shortened name: the file name cut to
// fit (at a UTF-8 boundary), "~" and 16 hex digits of a hash of the full
// name, then ".part". The same path always gives the same temporary name,
// so a download resumes; different names give different ones.
func PartPath(path string) string {
	dir, base := filepath.Split(path)
	if len(base)+len(partSuffix)+len(stateSuffix) <= maxNameLen {
		return path + partSuffix
	}
	sum := blake3.Sum256([]byte(base))
	tag := "~" + hex.EncodeToString(sum[:8])
	keep := maxNameLen - len(partSuffix) - len(stateSuffix) - len(tag)
	for keep > 0 && !utf8.RuneStart(base[keep]) {
		keep--
	}
	return dir + base[:keep] + tag + partSuffix
}

// verifyFile checks that the file at path holds exactly lay's chunks.
func verifyFile(path string, lay layout, s *Service) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := s.getBuf(int(lay.chunkSize))
	defer s.putBuf(buf)
	for i, id := range lay.chunks {
		off, n := lay.rangeOf(i)
		b := (*buf)[:n]
		if _, err := f.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && int64(len(b)) == n) {
			return err
		}
		if err := content.Verify(id, b); err != nil {
			return err
		}
	}
	return nil
}

// fetchManifest fetches and verifies the manifest id from any provider of id
// (or of the extra lookup ids), retrying with backoff until the session's
// timeout passes without success.
func (ss *session) fetchManifest(ctx context.Context, id cid.Cid, extra []cid.Cid) ([]byte, any, error) {
	if ss.local {
		if raw, v, err := ss.localManifest(ctx, id); err == nil {
			return raw, v, nil
		}
	}
	lookup := append([]cid.Cid{id}, extra...)
	deadline := time.Now().Add(ss.timeout)
	backoff := 250 * time.Millisecond
	tried := make(map[peer.ID]bool)
	asked := false
	for {
		refused := false
		for _, ai := range ss.candidates() {
			if tried[ai.ID] || !time.Now().Before(deadline) {
				continue
			}
			tried[ai.ID] = true
			raw, m, err := ss.manifestFrom(ctx, ai, id)
			ss.noteAnswer(ai.ID, err)
			if err == nil {
				return raw, m, nil
			}
			if ctx.Err() != nil {
				return nil, nil, context.Cause(ctx)
			}
			var re *RemoteError
			switch {
			case errors.Is(err, content.ErrBadManifest):
				// The bytes hash to id, so every provider would send the
				// same hostile manifest: refuse the content itself.
				return nil, nil, fmt.Errorf("%w: manifest %s: %w", ErrBadContent, id, err)
			case errors.Is(err, ErrProtocol), errors.Is(err, content.ErrHashMismatch),
				errors.Is(err, content.ErrManifestTooLarge):
				ss.s.log.Warn("transfer: dropping peer that sent a bad manifest", "peer", ai.ID, "id", id, "err", err)
				ss.s.addScore(ai.ID, scoreBadChunk)
				ss.drop(ai.ID)
			case errors.As(err, &re) && re.Refused():
				refused = true
			case errors.As(err, &re):
				// It does not have it (yet), or is busy: next round.
			default:
				// Unreachable now: next round.
			}
		}
		if !time.Now().Before(deadline) {
			return nil, nil, ss.noDelivery("manifest %s: not delivered within %v", id, ss.timeout)
		}
		if refused && asked {
			// A provider refused it by its content policy and no one
			// found so far delivered: say so now rather than wait out
			// the timeout for a provider that may never come.
			return nil, nil, ss.noDelivery("manifest %s", id)
		}
		if asked {
			t := time.NewTimer(min(backoff, time.Until(deadline)))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, nil, context.Cause(ctx)
			}
			backoff = min(2*backoff, 5*time.Second)
			clear(tried) // give everyone another chance
		}
		ss.ask(ctx, lookup...)
		asked = true
	}
}

// manifestFrom fetches manifest id from one peer and decodes it.
func (ss *session) manifestFrom(ctx context.Context, ai peer.AddrInfo, id cid.Cid) ([]byte, any, error) {
	ctx, cancel := context.WithTimeout(ctx, min(idleTimeout, ss.timeout))
	defer cancel()
	st, err := ss.openStream(ctx, ai)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	if _, err := st.Write(appendRequest(nil, opManifest, id)); err != nil {
		st.Reset()
		return nil, nil, errorf("request manifest from %s: %w", ai.ID, err)
	}
	n, err := readResponseHeader(st, 1, content.MaxManifestSize)
	if err != nil {
		st.Reset()
		return nil, nil, fmt.Errorf("transfer: manifest %s from %s: %w", id, ai.ID, err)
	}
	raw := make([]byte, n)
	if err := ss.s.down.Load().readFull(ctx, st, ai.ID, raw); err != nil {
		st.Reset()
		return nil, nil, fmt.Errorf("transfer: manifest %s from %s: %w", id, ai.ID, err)
	}
	st.Close()
	m, err := content.Decode(id, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("transfer: manifest %s from %s: %w", id, ai.ID, err)
	}
	return raw, m, nil
}

// openStream opens a ProtocolID stream to ai, dialling it if needed.
func (ss *session) openStream(ctx context.Context, ai peer.AddrInfo) (network.Stream, error) {
	h := ss.s.cfg.Host
	if len(ai.Addrs) > 0 {
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	st, err := h.NewStream(ctx, ai.ID, ProtocolID)
	if err != nil {
		return nil, errorf("open stream to %s: %w", ai.ID, err)
	}
	return st, nil
}

// ask asks the finder for providers of ids and adds them to the candidates.
func (ss *session) ask(ctx context.Context, ids ...cid.Cid) {
	f := ss.s.cfg.Finder
	if f == nil {
		return
	}
	for _, id := range ids {
		actx, cancel := context.WithTimeout(ctx, min(ss.timeout, 30*time.Second))
		ais, err := f.FindProviders(actx, id)
		cancel()
		if err != nil {
			ss.s.log.Debug("transfer: finding providers failed", "id", id, "err", err)
		}
		ss.mu.Lock()
		for _, ai := range ais {
			if ai.ID == "" || ai.ID == ss.s.cfg.Host.ID() {
				continue
			}
			old, ok := ss.known[ai.ID]
			if !ok {
				ss.order = append(ss.order, ai.ID)
			}
			old.ID = ai.ID
			for _, a := range ai.Addrs {
				if !slices.ContainsFunc(old.Addrs, a.Equal) {
					old.Addrs = append(old.Addrs, a)
				}
			}
			ss.known[ai.ID] = old
		}
		ss.mu.Unlock()
	}
}

// candidates returns the known providers not dropped or banned, best score
// first.
func (ss *session) candidates() []peer.AddrInfo {
	ss.mu.Lock()
	var out []peer.AddrInfo
	for _, p := range ss.order {
		if !ss.bad[p] {
			out = append(out, ss.known[p])
		}
	}
	ss.mu.Unlock()
	out = slices.DeleteFunc(out, func(ai peer.AddrInfo) bool { return ss.s.banned(ai.ID) })
	slices.SortStableFunc(out, func(a, b peer.AddrInfo) int { return ss.s.PeerScore(b.ID) - ss.s.PeerScore(a.ID) })
	return out
}

// drop excludes p for the rest of this Get.
// reportPeers tells the service's peer reporter (see
// [Service.OnPeerReport]) how each peer did in this session: a peer dropped
// for bad data or a protocol violation did badly, one that delivered
// verified chunks and was never dropped did well.
func (ss *session) reportPeers() {
	f := ss.s.peerReport.Load()
	if f == nil {
		return
	}
	ss.mu.Lock()
	var good, bad []peer.ID
	for p := range ss.bad {
		bad = append(bad, p)
	}
	for p := range ss.peers {
		if !ss.bad[p] {
			good = append(good, p)
		}
	}
	ss.mu.Unlock()
	for _, p := range bad {
		(*f)(p, false)
	}
	for _, p := range good {
		(*f)(p, true)
	}
}

func (ss *session) drop(p peer.ID) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.bad[p] = true
}

func (ss *session) addTotal(n int64) {
	ss.mu.Lock()
	ss.prog.Total += n
	ss.mu.Unlock()
	ss.report(false)
}

func (ss *session) addResumed(n int64) {
	ss.mu.Lock()
	ss.prog.Done += n
	ss.res.Resumed += n
	ss.mu.Unlock()
	ss.report(false)
}

func (ss *session) addDone(n int64, p peer.ID) {
	ss.mu.Lock()
	ss.prog.Done += n
	if p != ss.s.cfg.Host.ID() { // not the local copy's
		ss.peers[p] = true
	}
	ss.mu.Unlock()
	ss.report(false)
}

func (ss *session) addFetched(n int64) {
	ss.mu.Lock()
	ss.fetched += n
	ss.mu.Unlock()
}

func (ss *session) addSources(delta int) {
	ss.mu.Lock()
	ss.prog.Sources += delta
	ss.mu.Unlock()
	ss.report(false)
}

// report calls the progress callback, at most every 100 ms unless final.
func (ss *session) report(final bool) {
	if ss.progFn == nil {
		return
	}
	ss.mu.Lock()
	now := time.Now()
	if !final && now.Sub(ss.lastCb) < 100*time.Millisecond {
		ss.mu.Unlock()
		return
	}
	ss.lastCb = now
	p := ss.prog
	if el := now.Sub(ss.start).Seconds(); el > 0 {
		p.Rate = float64(ss.fetched) / el
	}
	ss.mu.Unlock()
	ss.cbMu.Lock()
	defer ss.cbMu.Unlock()
	ss.progFn(p)
}
