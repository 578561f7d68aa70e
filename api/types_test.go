package api

import (
	"encoding/json"
	"testing"
	"time"
)

// The named answers that replaced ad-hoc maps write the same JSON the maps
// did, so the web app and older clients read them unchanged.
func TestNamedAnswersKeepTheirJSON(t *testing.T) {
	started := time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    any
		want string
	}{
		{Connected{Connected: "/ip4/1.2.3.4/tcp/1/p2p/X"}, `{"connected":"/ip4/1.2.3.4/tcp/1/p2p/X"}`},
		{ShareRemoved{Removed: "/a"}, `{"removed":"/a"}`},
		{Indexing{}, `{}`},
		{Indexing{Path: "/a", Files: 0, Bytes: 5, Started: started}, `{"path":"/a","files":0,"bytes":5,"started":"2026-12-03T16:00:00Z"}`},
		{Blocked{Blocked: "X"}, `{"blocked":"X"}`},
		{Unblocked{Unblocked: "X"}, `{"unblocked":"X"}`},
		{LedgerCreated{Created: true, Supply: "300"}, `{"created":true,"supply":300}`},
		{VoterAdded{Added: "X"}, `{"added":"X"}`},
		{VoterRemoved{Removed: "X"}, `{"removed":"X"}`},
		{JobCreated{ID: "j"}, `{"id":"j"}`},
		{JobCancelled{Cancelled: "j"}, `{"cancelled":"j"}`},
		{MarketWithdrawn{Withdrawn: "l"}, `{"withdrawn":"l"}`},
		{MarketSponsored{Sponsored: "l"}, `{"sponsored":"l"}`},
		{MarketRated{Rated: "o"}, `{"rated":"o"}`},
		{MarketRefunded{Refunded: "o"}, `{"refunded":"o"}`},
		{UILogin{URL: "http://x/ui/login?code=c"}, `{"url":"http://x/ui/login?code=c"}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("%T: %s %v, want %s", c.v, b, err, c.want)
		}
	}
	var back Indexing
	if err := json.Unmarshal([]byte(`{}`), &back); err != nil || back.Path != "" {
		t.Errorf("decode {}: %+v %v", back, err)
	}
}
