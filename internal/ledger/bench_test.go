package ledger

import (
	"context"
	"testing"
	"time"
)

func TestBenchSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Bench(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bench: %+v", res)
	if res.Failures != 0 || res.N != 1000 || res.TPS <= 0 || res.P99 < res.P50 {
		t.Fatalf("bench result %+v", res)
	}
}
