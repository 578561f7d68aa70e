package publish

import (
	"bytes"
	"testing"
	"time"

	"github.com/peerpath/peerpath/internal/storage"
	"github.com/peerpath/peerpath/internal/testutil"
)

// BenchmarkPublishFetch measures a publish and a fetch by URL of a 4 MiB
// document, 3 of 10, on 12 loopback nodes, beside the storage layer's Put
// and Get of the same bytes in the same run: what the records add.
//
//	go test -run '^$' -bench PublishFetch -benchtime 5x ./internal/publish/
func BenchmarkPublishFetch(b *testing.B) {
	ms := clusterB(b, 12)
	ctx := b.Context()
	plain := testutil.RandBytes(4 << 20)
	reader := ms[11]
	var storePut, storeGet, pubPut, pubGet time.Duration
	viaStorage := func() (time.Duration, time.Duration) {
		t0 := time.Now()
		ref, err := ms[0].st.Put(ctx, plain, storage.PutOptions{K: 3, N: 10})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		got, err := reader.st.Get(ctx, ref)
		if err != nil || !bytes.Equal(got, plain) {
			b.Fatal(err)
		}
		t2 := time.Now()
		ms[0].st.Delete(ctx, ref, nil)
		return t1.Sub(t0), t2.Sub(t1)
	}
	viaPublish := func() (time.Duration, time.Duration) {
		t0 := time.Now()
		pub, err := ms[0].p.Publish(ctx, "d", plain, 3, 10)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		_, got, err := reader.p.Fetch(ctx, pub.URL)
		if err != nil || !bytes.Equal(got, plain) {
			b.Fatal(err)
		}
		t2 := time.Now()
		ms[0].p.Delete(ctx, pub.URL, "")
		return t1.Sub(t0), t2.Sub(t1)
	}
	i := 0
	for b.Loop() {
		// Alternate which goes first, so neither gets the warm caches.
		var sp, sg, pp, pg time.Duration
		if i%2 == 0 {
			sp, sg = viaStorage()
			pp, pg = viaPublish()
		} else {
			pp, pg = viaPublish()
			sp, sg = viaStorage()
		}
		i++
		storePut, storeGet, pubPut, pubGet = storePut+sp, storeGet+sg, pubPut+pp, pubGet+pg
	}
	n := time.Duration(b.N)
	b.Logf("4 MiB, 3 of 10: storage Put %v, publish %v (%.2fx); storage Get %v, fetch by URL %v (%.2fx)",
		storePut/n, pubPut/n, float64(pubPut)/float64(storePut), storeGet/n, pubGet/n, float64(pubGet)/float64(storeGet))
}
