package ledgerbench

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}

func TestBenchSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 1500
	if testutil.Race {
		n = 300
	}
	res, err := Bench(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bench: %d transfers, %.0f/s, p50 %v, p99 %v", res.N, res.TPS, res.P50, res.P99)
	if res.Failures != 0 || res.N != n || res.TPS <= 0 || res.P50 <= 0 || res.P99 < res.P50 {
		t.Fatalf("bench result %+v", res)
	}
}

// BenchmarkLedger3Voters reports Bench's figures as benchmark metrics:
// go test -run XXX -bench Ledger3Voters -benchtime 20000x ./internal/ledger/ledgerbench
func BenchmarkLedger3Voters(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Bench(ctx, max(b.N, 1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.TPS, "transfers/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
}
