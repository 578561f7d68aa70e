package searchsim

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions(
		// go-libp2p's resource manager and address manager keep process-wide
		// workers once started (as in internal/transfer's tests).
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*stats).background"),
	)...)
}
