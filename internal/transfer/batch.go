package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
)

// Small files in a folder download in batches, not one by one: a file of a
// folder costs a manifest and usually one chunk, so per-file streams, chunk
// records, fsyncs and goroutines would cost far more than its bytes (Go's
// src, 11,478 files of 11 KiB on average, took 54 s one by one where a tar
// pipe takes 8 s).
//
// A batch of up to batchFiles files (batchBytes in all) takes one stream to
// one source: every manifest request is written at once (the protocol
// pipelines requests on a stream, see wire.go), then every chunk request,
// and each answer is checked as it arrives (the manifest against its id and
// the folder's entry, the chunk against its id, every length before the body
// is read). Each file is written to its NAME.part with no chunk record and no
// fsync of its own; once the batch is written, one sync of its file system
// (syncBatch) makes every file durable, and only then is each renamed to
// NAME. So a kill -9, or a crash, at any moment leaves each file either
// complete under its name or absent (at most a NAME.part, rewritten by the
// next Get); the next Get verifies files already there against their
// manifests before it counts them as done. The folders are synced once at
// the end of the Get.
//
// Anything the batch cannot finish (a file of more than one chunk, a file
// or .part already there, a source that does not have a block, is busy,
// breaks the protocol or sends bad bytes) falls back to the file-by-file
// path, which retries, changes source and resumes; a source that sent bad
// bytes is also dropped and scored down, as there.
const (
	// batchMaxFile is the largest folder entry sent to a batch.
	batchMaxFile = content.DefaultChunkSize
	batchFiles   = 64
	batchBytes   = 8 << 20
)

// batchFile is one file of a batch.
type batchFile struct {
	e    content.DirEntry
	path string
	m    *content.FileManifest // once fetched
}

// batchRun downloads a batch of small files (see above). Files it cannot
// finish go through the file-by-file path in this goroutine.
func (ss *session) batchRun(ctx context.Context, files []*batchFile) error {
	var rest []*batchFile // for the file-by-file path
	fast := files
	// A file or .part already there needs the resume logic.
	fast = filter(fast, func(f *batchFile) bool {
		_, err1 := os.Lstat(f.path)
		_, err2 := os.Lstat(PartPath(f.path))
		ok := errors.Is(err1, os.ErrNotExist) && errors.Is(err2, os.ErrNotExist)
		if !ok {
			rest = append(rest, f)
		}
		return ok
	})
	var err error
	if len(fast) > 0 {
		var more []*batchFile
		if ss.local {
			more, err = ss.batchLocal(ctx, fast)
		} else {
			more, err = ss.batchFetch(ctx, fast)
		}
		rest = append(rest, more...)
	}
	if err != nil {
		return err
	}
	for _, f := range rest {
		if err := ss.fileByFile(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// fileByFile downloads one file of a folder on its own (the path of large
// files, and of what a batch could not finish).
func (ss *session) fileByFile(ctx context.Context, f *batchFile) error {
	m := f.m
	if m == nil {
		_, sub, err := ss.fetchManifest(ctx, f.e.ID, []cid.Cid{ss.root})
		if err != nil {
			return err
		}
		fm, ok := sub.(*content.FileManifest)
		if !ok || fm.Size != f.e.Size {
			return fmt.Errorf("%w: entry %q: manifest does not match the folder's entry", ErrBadContent, f.e.Name)
		}
		m = fm
	}
	return ss.getFile(ctx, f.e.ID, m, f.path, []cid.Cid{f.e.ID, ss.root})
}

// batchFetch fetches files from one source over one stream, writes them and
// makes them durable. It returns the files left for the file-by-file path,
// and an error only for what fails the whole Get (bad content, a local
// write error, ctx).
func (ss *session) batchFetch(ctx context.Context, files []*batchFile) ([]*batchFile, error) {
	cands := ss.candidates()
	if len(cands) == 0 {
		return files, nil
	}
	// Batches spread over the sources known, best first.
	ai := cands[int(ss.batches.Add(1)-1)%len(cands)]
	p := ai.ID
	sctx, cancel := context.WithTimeout(ctx, min(idleTimeout, ss.timeout))
	defer cancel()
	st, err := ss.openStream(sctx, ai)
	if err != nil {
		return files, nil
	}
	stop := context.AfterFunc(sctx, func() { st.Reset() })
	defer stop()
	r := deadlineStream{st: st, d: idleTimeout}
	lim := ss.s.down.Load()

	// fail ends the stream: a source that broke the protocol or sent bad
	// bytes is dropped and scored down; every file not written goes to the
	// file-by-file path.
	var written []*batchFile
	fail := func(err error, score int, todo []*batchFile) ([]*batchFile, error) {
		st.Reset()
		ss.noteAnswer(p, err)
		if score != 0 {
			ss.s.log.Warn("transfer: dropping peer", "peer", p, "err", err)
			ss.s.addScore(p, score)
			ss.drop(p)
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if err := ss.batchCommit(written, p); err != nil {
			return nil, err
		}
		return todo, nil
	}

	// Every manifest request at once.
	req := make([]byte, 0, len(files)*(2+MaxCIDLen))
	for _, f := range files {
		req = appendRequest(req, opManifest, f.e.ID)
	}
	if _, err := st.Write(req); err != nil {
		return fail(err, 0, files)
	}
	var rest, chunked []*batchFile
	for k, f := range files {
		n, err := readResponseHeader(r, 1, content.MaxManifestSize)
		var re *RemoteError
		if errors.As(err, &re) {
			rest = append(rest, f) // not there, or busy: another source
			continue
		}
		if err != nil {
			score := 0
			if errors.Is(err, ErrProtocol) {
				score = scoreProtocol
			}
			return fail(err, score, append(rest, files[k:]...))
		}
		raw := make([]byte, n)
		if err := lim.readFull(sctx, r, p, raw); err != nil {
			return fail(err, 0, append(rest, files[k:]...))
		}
		v, err := content.Decode(f.e.ID, raw)
		switch {
		case errors.Is(err, content.ErrBadManifest):
			// The bytes hash to the id: every provider would send them.
			st.Reset()
			return nil, fmt.Errorf("%w: manifest %s: %w", ErrBadContent, f.e.ID, err)
		case err != nil:
			return fail(err, scoreBadChunk, append(rest, files[k:]...))
		}
		fm, ok := v.(*content.FileManifest)
		if !ok || fm.Size != f.e.Size {
			st.Reset()
			return nil, fmt.Errorf("%w: entry %q: manifest does not match the folder's entry", ErrBadContent, f.e.Name)
		}
		if _, err := layoutOf(fm); err != nil {
			st.Reset()
			return nil, err
		}
		f.m = fm
		if len(fm.Chunks) > 1 {
			rest = append(rest, f)
			continue
		}
		chunked = append(chunked, f)
	}

	// Every chunk request at once; an empty file has none.
	req = req[:0]
	for _, f := range chunked {
		if len(f.m.Chunks) == 1 {
			req = appendRequest(req, opChunk, f.m.Chunks[0])
		}
	}
	if len(req) > 0 {
		if _, err := st.Write(req); err != nil {
			return fail(err, 0, append(rest, chunked...))
		}
	}
	for k, f := range chunked {
		if len(f.m.Chunks) == 0 {
			if err := writePart(f.path, nil); err != nil {
				st.Reset()
				return nil, err
			}
			written = append(written, f)
			continue
		}
		size := int(f.m.Size)
		_, err := readResponseHeader(r, size, size)
		var re *RemoteError
		if errors.As(err, &re) {
			rest = append(rest, f)
			continue
		}
		if err != nil {
			score := 0
			if errors.Is(err, ErrProtocol) {
				score = scoreProtocol
			}
			return fail(err, score, append(rest, chunked[k:]...))
		}
		buf := ss.s.getBuf(size)
		if err := lim.readFull(sctx, r, p, *buf); err != nil {
			ss.s.putBuf(buf)
			return fail(err, 0, append(rest, chunked[k:]...))
		}
		ss.addFetched(int64(size))
		if err := content.Verify(f.m.Chunks[0], *buf); err != nil {
			ss.s.putBuf(buf)
			return fail(fmt.Errorf("%w: %w", errBadChunk, err), scoreBadChunk, append(rest, chunked[k:]...))
		}
		if m := ss.s.cfg.Meter; m != nil {
			m.Received(p, size)
		}
		err = writePart(f.path, *buf)
		ss.s.putBuf(buf)
		if err != nil {
			st.Reset()
			return nil, err
		}
		ss.s.addScore(p, scoreChunk)
		written = append(written, f)
	}
	st.Close()
	ss.noteAnswer(p, nil)
	if err := ss.batchCommit(written, p); err != nil {
		return nil, err
	}
	return rest, nil
}

// writePart writes data to path's .part file, with no fsync (see
// batchCommit). The batch takes only files with no .part, so it creates
// the file without O_TRUNC: on ext4, truncating and rewriting a file
// makes its close start writeback at once (auto_da_alloc), which cost
// four times the write of a small file here.
func writePart(path string, data []byte) error {
	part := PartPath(path)
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		f, err = os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	}
	if err != nil {
		return errorf("create %s: %w", part, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errorf("write %s: %w", part, err)
	}
	return nil
}

// batchCommit makes the written .part files durable with one sync of their
// file systems, then renames each into place. The folders are synced at
// the end of the Get (syncTree).
func (ss *session) batchCommit(files []*batchFile, p peer.ID) error {
	if len(files) == 0 {
		return nil
	}
	dirs := make(map[string]bool)
	var parts []string
	for _, f := range files {
		dirs[filepath.Dir(f.path)] = true
		parts = append(parts, PartPath(f.path))
	}
	if err := syncBatch(dirs, parts); err != nil {
		return err
	}
	ss.mu.Lock()
	for d := range dirs {
		mak(&ss.dirty)[d] = true
	}
	ss.mu.Unlock()
	for _, f := range files {
		part := PartPath(f.path)
		if err := os.Rename(part, f.path); err != nil {
			return errorf("rename %s: %w", part, err)
		}
		ss.mu.Lock()
		if rel, err := filepath.Rel(ss.out, f.path); err == nil {
			mak(&ss.written)[filepath.ToSlash(rel)] = f.m
		}
		ss.res.Files++
		ss.res.Size += f.m.Size
		ss.res.Chunks += len(f.m.Chunks)
		ss.mu.Unlock()
		ss.addDone(f.m.Size, p)
	}
	return nil
}

// syncTree makes the renames of the batches durable: one sync of each file
// system the folders are on, or an fsync of each folder where there is no
// such call.
func (ss *session) syncTree() error {
	ss.mu.Lock()
	dirs := ss.dirty
	ss.dirty = nil
	ss.mu.Unlock()
	if len(dirs) == 0 {
		return nil
	}
	return syncBatch(dirs, nil)
}

// filter keeps the elements of s for which keep is true.
func filter[T any](s []T, keep func(T) bool) []T {
	var out []T
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}
