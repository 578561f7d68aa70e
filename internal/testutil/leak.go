// Package testutil holds helpers shared by tests: goroutine-leak options,
// Eventually, random bytes, Race. Only _test.go files (and test harnesses)
// import it; internal/deptest keeps production packages from doing so.
package testutil

import "go.uber.org/goleak"

// LeakOptions lists the process-wide background goroutines that
// dependencies start on first use and keep for the life of the process, by
// design. Tests pass them to goleak.VerifyTestMain; anything else left
// running is a leak.
func LeakOptions(extra ...goleak.Option) []goleak.Option {
	return append([]goleak.Option{
		// go-flow-metrics (libp2p's bandwidth counter) runs one global sweeper.
		goleak.IgnoreAnyFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"),
		// go-log's global writer.
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		// opencensus's global view worker (pulled in through kad-dht).
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		// go-libp2p's resource manager keeps a process-wide metrics worker
		// once a host started.
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*stats).background"),
	}, extra...)
}
