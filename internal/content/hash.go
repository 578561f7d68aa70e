package content

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	"github.com/zeebo/blake3"
)

// ErrFileChanged is returned (wrapped) by [HashFile] and [BuildDir] when a
// file's size or modification time changed while it was being hashed, so
// the manifest would not describe any single version of it.
var ErrFileChanged = errors.New("content: file changed while hashing")

// ErrTooLarge is returned (wrapped) by [HashFile] and [HashReader] for
// files larger than [MaxFileSize].
var ErrTooLarge = errors.New("content: file too large")

// testHookChunkRead, if set (by tests only), runs after HashFile reads
// each chunk.
var testHookChunkRead func(i int)

var bufPools sync.Map // chunk size -> *sync.Pool of *[]byte

// getBuf returns a pooled buffer of exactly size bytes; give it back with
// putBuf.
func getBuf(size int) *[]byte {
	p, _ := bufPools.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}})
	return p.(*sync.Pool).Get().(*[]byte)
}

func putBuf(b *[]byte) {
	if p, ok := bufPools.Load(len(*b)); ok {
		p.(*sync.Pool).Put(b)
	}
}

// HashFile reads the regular file at path and returns its manifest. Chunks
// are read with ReadAt into pooled buffers and hashed in parallel on workers
// goroutines (0 means GOMAXPROCS). The chunk size is chunkSize (0 means
// [DefaultChunkSize]) adjusted by [ChooseChunkSize]. It returns an error
// wrapping [ErrFileChanged] if the file changed while being read, and ctx's
// error if ctx ends first.
func HashFile(ctx context.Context, path string, chunkSize, workers int) (*FileManifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("content: hash: %w", err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("content: hash: %w", err)
	}
	return hashOpen(ctx, f, before, path, chunkSize, workers)
}

// hashOpen is HashFile over the open file f, whose Stat is before; path
// names it in errors.
func hashOpen(ctx context.Context, f *os.File, before os.FileInfo, path string, chunkSize, workers int) (*FileManifest, error) {
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("content: hash %s: not a regular file", path)
	}
	size := before.Size()
	if size > MaxFileSize {
		return nil, fmt.Errorf("%w: %s is %d bytes > %d", ErrTooLarge, path, size, int64(MaxFileSize))
	}
	cs := ChooseChunkSize(size, chunkSize)
	n := int(NumChunks(size, cs))
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	m := &FileManifest{Size: size, ChunkSize: cs, Chunks: make([]cid.Cid, n)}

	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		failed   atomic.Bool
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	work := func() {
		bp := getBuf(cs)
		defer putBuf(bp)
		for !failed.Load() {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			off, ln := m.ChunkRange(i)
			buf := (*bp)[:ln]
			got, err := f.ReadAt(buf, off)
			if got < len(buf) {
				if err == nil || errors.Is(err, io.EOF) {
					err = fmt.Errorf("%w: %s shrank", ErrFileChanged, path)
				}
				fail(fmt.Errorf("content: hash %s: %w", path, err))
				return
			}
			if testHookChunkRead != nil {
				testHookChunkRead(i)
			}
			m.Chunks[i] = IDFromDigest(CodecRaw, blake3.Sum256(buf))
		}
	}
	if workers == 1 {
		work()
	} else {
		for range workers {
			wg.Go(work)
		}
		wg.Wait()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	after, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("content: hash: %w", err)
	}
	if after.Size() != size || !after.ModTime().Equal(before.ModTime()) {
		return nil, fmt.Errorf("%w: %s", ErrFileChanged, path)
	}
	return m, nil
}

// HashReader reads r to the end and returns its manifest at chunkSize (0
// means [DefaultChunkSize]; it must be within [MinChunkSize, MaxChunkSize]
// since the length is not known in advance). It hashes on the calling
// goroutine.
func HashReader(r io.Reader, chunkSize int) (*FileManifest, error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if chunkSize < MinChunkSize || chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("content: chunk size %d out of range [%d,%d]", chunkSize, MinChunkSize, MaxChunkSize)
	}
	bp := getBuf(chunkSize)
	defer putBuf(bp)
	m := &FileManifest{ChunkSize: chunkSize}
	for {
		n, err := io.ReadFull(r, *bp)
		if n > 0 {
			m.Size += int64(n)
			if m.Size > MaxFileSize || len(m.Chunks) >= MaxChunks {
				return nil, fmt.Errorf("%w: more than %d bytes or %d chunks", ErrTooLarge, int64(MaxFileSize), MaxChunks)
			}
			m.Chunks = append(m.Chunks, IDFromDigest(CodecRaw, blake3.Sum256((*bp)[:n])))
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("content: hash: %w", err)
		}
	}
}

// HashBytes returns the manifest of data at chunkSize (0 means
// [DefaultChunkSize]). It is a convenience for tests and in-memory use and
// panics if chunkSize is out of range or data is larger than [MaxFileSize].
func HashBytes(data []byte, chunkSize int) *FileManifest {
	m, err := HashReader(bytes.NewReader(data), chunkSize)
	if err != nil {
		panic(err)
	}
	return m
}
