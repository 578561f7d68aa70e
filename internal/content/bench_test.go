package content

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/peerpath/peerpath/internal/testutil"
)

// benchSize is the data hashed by each benchmark iteration; HashFile and
// raw BLAKE3 hash the same bytes so their MB/s compare directly:
//
//	go test -run '^$' -bench 'HashFile|BLAKE3' -benchtime 5x ./internal/content
const benchSize = 256 << 20

var (
	benchOnce sync.Once
	benchData []byte
)

func benchBytes() []byte {
	benchOnce.Do(func() { benchData = testutil.SeededBytes(42, benchSize) })
	return benchData
}

// BenchmarkBLAKE3 hashes benchSize bytes in memory, chunk by chunk, on one
// core and on all cores: the ceiling HashFile is measured against.
func BenchmarkBLAKE3(b *testing.B) {
	data := benchBytes()
	b.Run("cores=1", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			for off := 0; off < len(data); off += DefaultChunkSize {
				_ = blake3.Sum256(data[off : off+DefaultChunkSize])
			}
		}
	})
	procs := runtime.GOMAXPROCS(0)
	b.Run(fmt.Sprintf("cores=%d", procs), func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			var next atomic.Int64
			var wg sync.WaitGroup
			for range procs {
				wg.Go(func() {
					for {
						off := int(next.Add(DefaultChunkSize)) - DefaultChunkSize
						if off >= len(data) {
							return
						}
						_ = blake3.Sum256(data[off : off+DefaultChunkSize])
					}
				})
			}
			wg.Wait()
		}
	})
}

// BenchmarkHashFile hashes a benchSize file (in the page cache after the
// first read) with one worker and with GOMAXPROCS workers.
func BenchmarkHashFile(b *testing.B) {
	p := filepath.Join(b.TempDir(), "bench.bin")
	if err := os.WriteFile(p, benchBytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	want := HashBytes(benchBytes(), DefaultChunkSize).ID()
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				m, err := HashFile(context.Background(), p, DefaultChunkSize, workers)
				if err != nil {
					b.Fatal(err)
				}
				if !m.ID().Equals(want) {
					b.Fatal("wrong id")
				}
			}
		})
	}
}
