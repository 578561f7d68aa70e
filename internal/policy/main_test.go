package policy

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}
