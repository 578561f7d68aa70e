package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/restic/chunker"
	"github.com/spf13/cobra"

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
	cmd.Flags().BoolVar(&restore, "restore", false, "measure restore with n-k holders stopped, against one source, and repair, on loopback")
	return cmd
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
	fmt.Printf("store pipeline, one core (GOMAXPROCS=1), %d MiB of random data, k=%d n=%d\n", size>>20, k, n)

	// The limit: AES-256-GCM alone over the same bytes, 1 MiB at a time.
	var key [32]byte
	start := time.Now()
	for off := int64(0); off < size; off += 1 << 20 {
		storage.Seal(&key, data[off:min(off+1<<20, size)])
	}
	aead := time.Since(start)

	// Chunking alone.
	start = time.Now()
	c := chunker.New(bytes.NewReader(data), pol)
	buf := make([]byte, chunker.MaxSize)
	chunks := 0
	for {
		_, err := c.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		chunks++
	}
	chunkOnly := time.Since(start)

	// The full pipeline: chunk, pad, encrypt, code, hash every share.
	start = time.Now()
	c.Reset(bytes.NewReader(data), pol)
	var stored int64
	for {
		ch, err := c.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		ref, _, err := storage.EncodeObject(ch.Data, k, n)
		if err != nil {
			return err
		}
		stored += int64(ref.ShareSize() * n)
	}
	pipe := time.Since(start)
	// The AEAD again, after the pipeline warmed the heap: keep the faster
	// of its two runs, so the ratio is against its best.
	start = time.Now()
	for off := int64(0); off < size; off += 1 << 20 {
		storage.Seal(&key, data[off:min(off+1<<20, size)])
	}
	aead = min(aead, time.Since(start))

	gbs := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e9 }
	fmt.Printf("  AES-256-GCM alone:          %6.2f GB/s\n", gbs(aead))
	fmt.Printf("  chunking alone:             %6.2f GB/s  (%d chunks, %.0f KiB average)\n", gbs(chunkOnly), chunks, float64(size)/float64(chunks)/1024)
	fmt.Printf("  full pipeline:              %6.2f GB/s  = %.2f× the AEAD alone  (target ≥ 0.6 GB/s)\n", gbs(pipe), aead.Seconds()/pipe.Seconds())
	fmt.Printf("  storage overhead %d-of-%d:  %6.3f×  (n/k = %.3f; padding and tags add the rest); survives the loss of any %d peers\n",
		k, n, float64(stored)/float64(size), float64(n)/float64(k), n-k)
	fmt.Printf("  triple replication:         %6.3f×  survives the loss of any 2 peers\n", 3.0)
	return nil
}
