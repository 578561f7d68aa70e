package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/klauspost/reedsolomon"
	"github.com/restic/chunker"
	"github.com/spf13/cobra"
	"github.com/zeebo/blake3"

	"github.com/peerpath/peerpath/internal/storage"
)

func storeCmd() *cobra.Command {
	var size int64
	var k, n int
	var restore bool
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Backup pipeline on one core (chunk, encrypt, erasure-code, hash) against AES-256-GCM alone; storage overhead",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if restore {
				return runStoreRestore(size, k, n)
			}
			return runStore(size, k, n)
		},
	}
	cmd.Flags().Int64Var(&size, "size", 256<<20, "bytes of random data to push through the pipeline")
	cmd.Flags().IntVar(&k, "k", 10, "shares needed")
	cmd.Flags().IntVar(&n, "n", 16, "shares made")
	cmd.Flags().BoolVar(&restore, "restore", false, "measure restore with n-k holders stopped against a single-source get of the same bytes, and repair, on loopback")
	return cmd
}

// cpuTime is the CPU time this process has used (user and system, every
// thread): on a machine shared with others, wall time measures the load
// as much as the code, CPU time the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// phase is a measured run: wall and CPU time.
type phase struct{ wall, cpu time.Duration }

func measure(f func() error) (phase, error) {
	runtime.GC()
	c0, t0 := cpuTime(), time.Now()
	err := f()
	return phase{time.Since(t0), cpuTime() - c0}, err
}

// best keeps the faster of two runs (by CPU time).
func best(a, b phase) phase {
	if b.cpu < a.cpu {
		return b
	}
	return a
}

func runStore(size int64, k, n int) error {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	data := make([]byte, size)
	rand.Read(data)
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return err
	}
	var load [3]float64
	readLoad(&load)
	fmt.Printf("store pipeline, one core (GOMAXPROCS=1), %d MiB of random data, k=%d n=%d, load average %.1f %.1f %.1f\n",
		size>>20, k, n, load[0], load[1], load[2])

	// The limit: AES-256-GCM alone over the same bytes, 1 MiB at a time,
	// sealing in place into one buffer as the pipeline does.
	frame := make([]byte, 1<<20+16)
	var key [32]byte
	aeadRun := func() error {
		for off := int64(0); off < size; off += 1 << 20 {
			m := copy(frame, data[off:min(off+1<<20, size)])
			storage.SealInPlace(&key, frame[:m])
		}
		return nil
	}
	aead, _ := measure(aeadRun)

	// The other primitives alone, each over what the pipeline feeds it:
	// chunking over the data, RS over the sealed bytes, BLAKE3 over all n
	// shares (n/k times the data).
	c := chunker.New(bytes.NewReader(data), pol)
	buf := make([]byte, chunker.MaxSize)
	chunks := 0
	chunkOnly, err := measure(func() error {
		for {
			_, err := c.Next(buf)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			chunks++
		}
	})
	if err != nil {
		return err
	}
	rs, err := reedsolomon.New(k, n-k)
	if err != nil {
		return err
	}
	const obj = 1 << 20
	shareSize := (obj + k - 1) / k
	shardBuf := make([]byte, shareSize*n)
	shards := make([][]byte, n)
	for i := range shards {
		shards[i] = shardBuf[i*shareSize : (i+1)*shareSize]
	}
	rsOnly, _ := measure(func() error {
		for off := int64(0); off < size; off += obj {
			copy(shardBuf, data[off:min(off+obj, size)])
			rs.Encode(shards)
		}
		return nil
	})
	hashOnly, _ := measure(func() error {
		for off := int64(0); off < size; off += obj {
			for _, s := range shards {
				for lo := 0; lo < len(s); lo += storage.SegmentSize {
					blake3.Sum256(s[lo:min(lo+storage.SegmentSize, len(s))])
				}
			}
		}
		return nil
	})

	// The full pipeline: chunk, pad, encrypt, code, hash every share, in
	// one reused Encoder (as a backup's puts are).
	var enc storage.Encoder
	var stored int64
	pipeRun := func() error {
		stored = 0
		c.Reset(bytes.NewReader(data), pol)
		for {
			ch, err := c.Next(buf)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			ref, _, err := enc.Encode(ch.Data, k, n)
			if err != nil {
				return err
			}
			stored += int64(ref.ShareSize() * n)
		}
	}
	pipe, err := measure(pipeRun)
	if err != nil {
		return err
	}
	// Each again, keeping the better run: the first pass of a run pays for
	// fresh memory.
	a2, _ := measure(aeadRun)
	aead = best(aead, a2)
	p2, err := measure(pipeRun)
	if err != nil {
		return err
	}
	pipe = best(pipe, p2)

	gbs := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e9 }
	sum := aead.cpu + chunkOnly.cpu + rsOnly.cpu + hashOnly.cpu
	fmt.Printf("  %-34s %7s %9s\n", "", "wall", "CPU time")
	row := func(name string, p phase, note string) {
		fmt.Printf("  %-34s %6.2f GB/s %6.2f GB/s  %s\n", name, gbs(p.wall), gbs(p.cpu), note)
	}
	row("AES-256-GCM alone (the limit)", aead, "")
	row("chunking alone", chunkOnly, fmt.Sprintf("(%d chunks, %.0f KiB average)", chunks, float64(size)/float64(chunks)/1024))
	row(fmt.Sprintf("RS(%d,%d) alone", k, n), rsOnly, "")
	row(fmt.Sprintf("BLAKE3 of the %d shares alone", n), hashOnly, "")
	fmt.Printf("  %-34s %18.2f GB/s  (the pipeline's ceiling on one core)\n", "sum of the four", gbs(sum))
	row("full pipeline", pipe, fmt.Sprintf("= %.2f× the AEAD alone (CPU; wall %.2f×), %.2f× the sum of its parts (target ≥ 0.6 GB/s)",
		aead.cpu.Seconds()/pipe.cpu.Seconds(), aead.wall.Seconds()/pipe.wall.Seconds(), sum.Seconds()/pipe.cpu.Seconds()))
	fmt.Printf("  storage overhead %d-of-%d:  %6.3f×  (n/k = %.3f; padding and tags add the rest); survives the loss of any %d peers\n",
		k, n, float64(stored)/float64(size), float64(n)/float64(k), n-k)
	fmt.Printf("  triple replication:         %6.3f×  survives the loss of any 2 peers\n", 3.0)
	return nil
}

// readLoad reads the load averages (zeros where /proc is missing).
func readLoad(l *[3]float64) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	fmt.Sscanf(string(b), "%f %f %f", &l[0], &l[1], &l[2])
}
