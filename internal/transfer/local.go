package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/content"
)

// A Get of content this node serves itself (one of its own shares, a file
// it downloaded earlier) is copied from its own Source, with no network:
// no other peer may have it, and a host cannot dial itself, so such a Get
// used to wait for providers until it timed out. The copy goes through
// the same planner, limits, names checks, .part files and renames as a
// download, and every manifest and chunk is verified as one from a peer
// is. It is taken only when the output does not exist yet (a resume goes
// the usual way), and when any part is missing locally (a shared file
// changed since it was indexed) the Get goes on from the network.

// localManifest returns manifest id from the node's own Source, verified.
func (ss *session) localManifest(ctx context.Context, id cid.Cid) ([]byte, any, error) {
	src := ss.s.cfg.Source
	if src == nil {
		return nil, nil, fmt.Errorf("%w: no local source", ErrNotFound)
	}
	raw, err := src.Manifest(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	v, err := content.Decode(id, raw)
	if err != nil {
		return nil, nil, err
	}
	return raw, v, nil
}

// localChunk returns chunk id from the node's own Source, verified.
func (ss *session) localChunk(ctx context.Context, id cid.Cid, buf []byte) ([]byte, error) {
	data, err := ss.s.cfg.Source.Chunk(ctx, id, buf)
	if err != nil {
		return nil, err
	}
	if err := content.Verify(id, data); err != nil {
		return nil, err
	}
	return data, nil
}

// canCopyLocally reports whether a Get of id to ss.out can be a local
// copy: the Source has id's manifest and nothing is at the output yet.
func (ss *session) canCopyLocally(ctx context.Context, id cid.Cid) bool {
	if ss.s.cfg.Source == nil {
		return false
	}
	for _, p := range []string{ss.out, PartPath(ss.out)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	_, _, err := ss.localManifest(ctx, id)
	return err == nil
}

// runLocal fills what it can of j's missing chunks from the node's own
// Source; the rest is left to the network (j.run).
func (j *fileJob) runLocal(ctx context.Context) error {
	ss := j.ss
	buf := ss.s.getBuf(int(j.lay.chunkSize))
	defer ss.s.putBuf(buf)
	for i := range j.lay.chunks {
		if j.state[i].done {
			continue
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		off, n := j.lay.rangeOf(i)
		data, err := ss.localChunk(ctx, j.lay.chunks[i], (*buf)[:0])
		if err != nil || int64(len(data)) != n {
			continue
		}
		if _, err := j.f.WriteAt(data, off); err != nil {
			return errorf("write %s: %w", j.f.Name(), err)
		}
		j.state[i].done = true
		j.remaining--
		j.fetched++
		ss.addDone(n, ss.s.cfg.Host.ID())
	}
	return nil
}

// batchLocal writes a batch of small files from the node's own Source and
// commits them as batchFetch does; what it cannot find locally is left
// for the file-by-file path.
func (ss *session) batchLocal(ctx context.Context, files []*batchFile) ([]*batchFile, error) {
	self := ss.s.cfg.Host.ID()
	var rest, written []*batchFile
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		_, v, err := ss.localManifest(ctx, f.e.ID)
		if err != nil {
			rest = append(rest, f)
			continue
		}
		fm, ok := v.(*content.FileManifest)
		if !ok || fm.Size != f.e.Size {
			return nil, fmt.Errorf("%w: entry %q: manifest does not match the folder's entry", ErrBadContent, f.e.Name)
		}
		if _, err := layoutOf(fm); err != nil {
			return nil, err
		}
		f.m = fm
		if len(fm.Chunks) > 1 {
			rest = append(rest, f)
			continue
		}
		var data []byte
		if len(fm.Chunks) == 1 {
			buf := ss.s.getBuf(int(fm.Size))
			data, err = ss.localChunk(ctx, fm.Chunks[0], (*buf)[:0])
			if err != nil || int64(len(data)) != fm.Size {
				ss.s.putBuf(buf)
				rest = append(rest, f)
				continue
			}
			err = writePart(f.path, data)
			ss.s.putBuf(buf)
		} else {
			err = writePart(f.path, nil)
		}
		if err != nil {
			return nil, err
		}
		written = append(written, f)
	}
	if err := ss.batchCommit(written, self); err != nil {
		return nil, err
	}
	return rest, nil
}
