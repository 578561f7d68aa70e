package search

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/testutil"
)

func TestParseQuery(t *testing.T) {
	q, err := parseQuery("Beyoncé  HALO type:audio size>10MB size<1GB")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(q.Words, ",") != "beyonce,halo" || q.Type != TypeAudio || q.MinSize != 10e6 || q.MaxSize != 1e9 {
		t.Fatalf("parsed %+v", q)
	}
	for _, bad := range []string{"", "type:foo x", "size>lots x", "type:audio", "   "} {
		if _, err := parseQuery(bad); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%q: err %v, want ErrBadQuery", bad, err)
		}
	}
	if _, err := parseQuery(strings.Repeat("a", MaxQueryBytes+1)); !errors.Is(err, ErrQueryTooLarge) {
		t.Errorf("long query: %v", err)
	}
	if _, err := parseQuery(strings.Repeat("ab ", MaxQueryTerms+1)); !errors.Is(err, ErrQueryTooLarge) {
		t.Errorf("many terms: %v", err)
	}
	if routable("a") || routable("the") || routable("mp3") || !routable("jude") {
		t.Error("routable() wrong")
	}
}

func TestLocalSearchCaseAccentsFilters(t *testing.T) {
	tn := newTestNet(t, 1, nil)
	p := tn.peers[0]
	p.cat.add(testEntry(t, "The Beatles - Hey Jude.mp3", 7e6))
	p.cat.add(testEntry(t, "Beyoncé - Halo.flac", 30e6))
	p.cat.add(testEntry(t, "Hey Jude (live).mkv", 2e9))
	p.cat.add(testEntry(t, "holiday photo.jpg", 3e6))
	p.svc.Refresh()
	waitIndexed(t, p, "holiday")
	cases := []struct {
		q    string
		want []string
	}{
		{"beatles hey jude", []string{"The Beatles - Hey Jude.mp3"}},
		{"beyonce", []string{"Beyoncé - Halo.flac"}},
		{"BEYONCÉ halo", []string{"Beyoncé - Halo.flac"}},
		{"hey jude", []string{"The Beatles - Hey Jude.mp3", "Hey Jude (live).mkv"}},
		{"hey jude type:video", []string{"Hey Jude (live).mkv"}},
		{"hey jude size<100MB", []string{"The Beatles - Hey Jude.mp3"}},
		{"jude size>10MB", []string{"Hey Jude (live).mkv"}},
		{"music", []string{"The Beatles - Hey Jude.mp3", "Beyoncé - Halo.flac", "Hey Jude (live).mkv", "holiday photo.jpg"}}, // path within share
		{"nothing matches this", nil},
	}
	for _, c := range cases {
		got, err := collect(t, p.svc, c.q, Options{LocalOnly: true})
		if err != nil {
			t.Fatalf("%q: %v", c.q, err)
		}
		names := map[string]bool{}
		for _, r := range got {
			names[r.Name] = true
			if len(r.Providers) != 1 || r.Providers[0] != p.h.ID().String() {
				t.Errorf("%q: providers %v", c.q, r.Providers)
			}
		}
		if len(names) != len(c.want) {
			t.Errorf("%q: got %v, want %v", c.q, names, c.want)
		}
		for _, w := range c.want {
			if !names[w] {
				t.Errorf("%q: %q missing (got %v)", c.q, w, names)
			}
		}
	}
	if _, err := collect(t, p.svc, strings.Repeat("x", 300), Options{}); !errors.Is(err, ErrQueryTooLarge) {
		t.Errorf("oversized query: %v", err)
	}
	// No routable word: asked of the connected peers only (none here).
	if _, err := collect(t, p.svc, "the a", Options{}); err != nil {
		t.Errorf("no routable word: %v", err)
	}
}

func TestIndexFollowsCatalog(t *testing.T) {
	tn := newTestNet(t, 1, nil)
	p := tn.peers[0]
	p.cat.add(testEntry(t, "alpha song.mp3", 1000))
	p.svc.Refresh()
	waitIndexed(t, p, "alpha")
	p.cat.mu.Lock()
	p.cat.files = nil
	p.cat.mu.Unlock()
	p.svc.Refresh()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := collect(t, p.svc, "alpha", Options{LocalOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("removed file still found")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNetworkSearchMergesProviders(t *testing.T) {
	tn := newTestNet(t, 4, nil)
	song := testEntry(t, "The Beatles - Hey Jude.mp3", 7e6)
	tn.peers[2].cat.add(song)
	tn.peers[3].cat.add(song)
	tn.peers[3].cat.add(testEntry(t, "Beatles - Yesterday.mp3", 5e6))
	tn.peers[1].cat.add(testEntry(t, "unrelated.txt", 10))
	for _, p := range tn.peers[1:] {
		p.svc.Refresh()
	}
	waitIndexed(t, tn.peers[2], "beatles")
	waitIndexed(t, tn.peers[3], "yesterday")
	var st Stats
	start := time.Now()
	got, err := collect(t, tn.peers[0].svc, "beatles hey jude", Options{Stats: &st})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("search took %v", time.Since(start))
	}
	r, ok := got[song.CID]
	if len(got) != 1 || !ok {
		t.Fatalf("got %v", got)
	}
	if len(r.Providers) != 2 || r.Size != song.Size || r.Type != TypeAudio {
		t.Errorf("result %+v", r)
	}
	if st.PeersAsked != 2 || st.Answered != 2 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	// A query nothing matches returns quickly.
	start = time.Now()
	got, err = collect(t, tn.peers[0].svc, "qwxzzy plokkk", Options{Timeout: 5 * time.Second})
	if err != nil || len(got) != 0 {
		t.Fatalf("%v %v", got, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("empty query took %v", d)
	}
}

func TestRateLimitThrottles(t *testing.T) {
	tn := newTestNet(t, 2, func(i int, c *Config) { c.QueryRate, c.QueryBurst = 0.5, 3 })
	tn.peers[1].cat.add(testEntry(t, "rated thing.mp3", 1000))
	tn.peers[1].svc.Refresh()
	waitIndexed(t, tn.peers[1], "rated")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, throttled := 0, 0
	for range 6 {
		hits, _, err := tn.peers[0].svc.ask(ctx, tn.peers[1].h.ID(), "rated", "", 10)
		switch {
		case err == nil && len(hits) == 1:
			ok++
		case err != nil && strings.Contains(err.Error(), "throttled"):
			throttled++
		default:
			t.Fatalf("hits %v err %v", hits, err)
		}
	}
	if ok != 3 || throttled != 3 {
		t.Errorf("ok %d throttled %d, want 3 and 3", ok, throttled)
	}
}

func TestBlocklistPersists(t *testing.T) {
	ctx := context.Background()
	tn := newTestNet(t, 2, nil)
	a, b := tn.peers[0], tn.peers[1]
	b.cat.add(testEntry(t, "blocked answer.mp3", 1000))
	b.svc.Refresh()
	waitIndexed(t, b, "blocked")
	if err := b.svc.Block(ctx, a.h.ID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.svc.ask(ctx, b.h.ID(), "blocked", "", 10); err == nil || !strings.Contains(err.Error(), "blocked") {
		t.Errorf("blocked peer's query answered: %v", err)
	}
	// The querying side skips peers it blocked.
	if err := a.svc.Block(ctx, b.h.ID()); err != nil {
		t.Fatal(err)
	}
	var st Stats
	if _, err := collect(t, a.svc, "blocked answer", Options{Stats: &st}); err != nil || st.PeersAsked != 0 {
		t.Errorf("asked %d blocked peers (%v)", st.PeersAsked, err)
	}
	// A new Service on the same database still has the blocklist.
	db2 := b.db
	s2, err := New(ctx, Config{Host: b.h, DB: db2, Catalog: b.cat, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s2.Blocked(ctx)
	if err != nil || len(list) != 1 || list[0] != a.h.ID() || !s2.isBlocked(a.h.ID()) {
		t.Fatalf("blocked after reopen: %v %v", list, err)
	}
	if err := s2.Unblock(ctx, a.h.ID()); err != nil {
		t.Fatal(err)
	}
	if list, _ := s2.Blocked(ctx); len(list) != 0 {
		t.Errorf("still blocked: %v", list)
	}
}

// spamHandler answers every query with a made-up match, signed with key.
func spamHandler(t *testing.T, self peer.ID, key crypto.PrivKey, size int64, id string) network.StreamHandler {
	return func(st network.Stream) {
		defer st.Close()
		msg, err := p2p.ReadMsg(st, maxRequestBytes)
		if err != nil {
			return
		}
		req, err := decodeRequest(msg)
		if err != nil {
			return
		}
		a := answer{Nonce: req.Nonce, Peer: self.String()}
		for _, q := range req.Queries {
			a.Hits = append(a.Hits, []hit{{CID: id, Name: q + " best.mp3", Size: size, Type: TypeAudio, Score: MaxRelevance}})
		}
		b, err := sealAnswer(key, a)
		if err != nil {
			t.Error(err)
			return
		}
		_ = p2p.WriteMsg(st, b)
	}
}

// replaceHandler turns peer i into a spammer: announced for keywords, with
// handler h.
func (tn *testNet) spammer(t *testing.T, i int, h network.StreamHandler, kws ...string) {
	p := tn.peers[i]
	// Let the peer's own Serve register its handler first, then replace it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p.svc.mu.Lock()
		serving := p.svc.serving
		p.svc.mu.Unlock()
		if serving || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	p.h.SetStreamHandler(ProtocolID, h)
	r := peerRouting{sh: tn.sh, self: peer.AddrInfo{ID: p.h.ID(), Addrs: p.h.Addrs()}}
	for _, k := range kws {
		_ = r.Provide(context.Background(), KeywordKey(k), true)
	}
}

func TestCanaryCatchesSpammer(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	honest, spam := tn.peers[1], tn.peers[2]
	honest.cat.add(testEntry(t, "genuine tune.mp3", 4000))
	honest.svc.Refresh()
	waitIndexed(t, honest, "genuine")
	fake, _ := fileCID(t, "fake", 999)
	// Stop the spammer's own service answering, then answer everything.
	tn.spammer(t, 2, spamHandler(t, spam.h.ID(), spam.h.Peerstore().PrivKey(spam.h.ID()), 999, fake), "genuine", "tune")
	q := tn.peers[0]
	var st Stats
	got, err := collect(t, q.svc, "genuine tune", Options{Stats: &st})
	if err != nil {
		t.Fatal(err)
	}
	if _, bad := got[fake]; bad || len(got) != 1 {
		t.Errorf("results %v", got)
	}
	if !q.svc.IsSpammer(spam.h.ID()) || q.svc.IsSpammer(honest.h.ID()) {
		t.Error("spammer not recognised (or honest peer flagged)")
	}
	// Next query: the spammer is no longer asked.
	if _, err := collect(t, q.svc, "genuine tune", Options{Stats: &st}); err != nil || st.PeersAsked != 1 {
		t.Errorf("asked %d (%v)", st.PeersAsked, err)
	}
	// The verdict persists.
	s2, err := New(context.Background(), Config{Host: q.h, DB: q.db, Catalog: q.cat, Logger: quietLogger()})
	if err != nil || !s2.IsSpammer(spam.h.ID()) {
		t.Errorf("spammer forgotten after reopen (%v)", err)
	}
}

func TestForgedSignatureDropped(t *testing.T) {
	tn := newTestNet(t, 2, nil)
	liar := tn.peers[1]
	other, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := fileCID(t, "forged", 10)
	// Claims to be liar but signs with another key.
	tn.spammer(t, 1, spamHandler(t, liar.h.ID(), other, 10, id), "forged")
	var st Stats
	got, err := collect(t, tn.peers[0].svc, "forged", Options{Stats: &st})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || st.Dropped != 1 || st.Answered != 0 {
		t.Errorf("got %v, stats %+v", got, st)
	}
	// openResponse directly: a body altered after signing is refused.
	key := liar.h.Peerstore().PrivKey(liar.h.ID())
	nonce := make([]byte, nonceLen)
	b, err := sealAnswer(key, answer{Nonce: nonce, Peer: liar.h.ID().String(), Hits: [][]hit{{}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openResponse(b, liar.h.ID(), key.GetPublic(), nonce, 1); err != nil {
		t.Fatalf("genuine answer refused: %v", err)
	}
	tampered := []byte(strings.Replace(string(b), `"s":"`, `"s":"AAAA`, 1))
	if _, err := openResponse(tampered, liar.h.ID(), key.GetPublic(), nonce, 1); !errors.Is(err, errBadSignature) {
		t.Errorf("tampered signature: %v", err)
	}
	if _, err := openResponse(b, tn.peers[0].h.ID(), key.GetPublic(), nonce, 1); !errors.Is(err, errBadSignature) {
		t.Errorf("answer attributed to another peer: %v", err)
	}
}

type mapFetcher map[string][]byte

func (m mapFetcher) FetchManifest(_ context.Context, _ peer.ID, id cid.Cid) ([]byte, error) {
	if b, ok := m[id.String()]; ok {
		return b, nil
	}
	return nil, errors.New("not found")
}

func TestManifestCrossCheck(t *testing.T) {
	realID, man := fileCID(t, "real", 5000)
	tn := newTestNet(t, 2, func(i int, c *Config) {
		if i == 0 {
			c.Fetcher, c.ManifestCheckRate = mapFetcher{realID: man}, 1
		}
	})
	liar := tn.peers[1]
	// A real file id, but a false size: the manifest says 5000. The liar
	// answers the canary with nothing, so only the manifest catches it.
	tn.spammer(t, 1, func(st network.Stream) {
		defer st.Close()
		msg, _ := p2p.ReadMsg(st, maxRequestBytes)
		req, err := decodeRequest(msg)
		if err != nil {
			return
		}
		a := answer{Nonce: req.Nonce, Peer: liar.h.ID().String()}
		for _, q := range req.Queries {
			var hs []hit
			if strings.Contains(q, "claimed") {
				hs = []hit{{CID: realID, Name: "claimed file.mp3", Size: 123456, Type: TypeAudio, Score: 1}}
			}
			a.Hits = append(a.Hits, hs)
		}
		b, _ := sealAnswer(liar.h.Peerstore().PrivKey(liar.h.ID()), a)
		_ = p2p.WriteMsg(st, b)
	}, "claimed")
	var st Stats
	got, err := collect(t, tn.peers[0].svc, "claimed", Options{Stats: &st})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || st.ManifestFetches != 1 || !tn.peers[0].svc.IsSpammer(liar.h.ID()) {
		t.Errorf("got %v stats %+v spammer %v", got, st, tn.peers[0].svc.IsSpammer(liar.h.ID()))
	}
}

func TestRecordDownloadReputation(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tn := newTestNet(t, 1, nil)
	s, err := New(ctx, Config{Host: tn.peers[0].h, DB: db, Catalog: &memCatalog{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	good, bad := peer.ID("good-peer"), peer.ID("bad-peer")
	for range 4 {
		s.RecordDownload(good, true)
	}
	s.RecordDownload(bad, false)
	g, b := s.rep(good), s.rep(bad)
	if g.score() <= 0 || b.score() >= 0 || !g.trusted() || b.trusted() {
		t.Errorf("good %+v (%v) bad %+v (%v)", g, g.score(), b, b.score())
	}
	if scoreOf(5, 3, 0) <= scoreOf(5, 1, 0) || scoreOf(5, 1, 1) <= scoreOf(5, 1, -1) {
		t.Error("more providers or better reputation must rank higher")
	}
}

// TestSearchTimeoutInLocalMatch: a search whose own timeout runs out while
// the local index is still matching (a machine under heavy load) returns
// what arrived, nothing, and no error, as at any other timeout; the
// caller's own cancellation is still an error.
func TestSearchTimeoutInLocalMatch(t *testing.T) {
	tn := newTestNet(t, 1, nil)
	tn.peers[0].cat.add(testEntry(t, "slow machine.mp3", 1000))
	tn.peers[0].svc.Refresh()
	waitIndexed(t, tn.peers[0], "slow")
	got, err := collect(t, tn.peers[0].svc, "slow machine", Options{Timeout: time.Nanosecond})
	if err != nil || len(got) != 0 {
		t.Fatalf("timeout in the local match: %v, %v; want no results and no error", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tn.peers[0].svc.Search(ctx, "slow machine", Options{}, func(Result) {}); err == nil {
		t.Fatal("a search whose caller had cancelled returned no error")
	}
}

// TestExactNameFirst: a query that is a file's whole name finds that file
// first, among many names sharing its words (a thousand
// changelog.Debian.gz beside one ChangeLog.gz, as in /usr/share/doc).
func TestExactNameFirst(t *testing.T) {
	tn := newTestNet(t, 1, nil)
	p := tn.peers[0]
	for i := range 300 {
		e := testEntry(t, "changelog.Debian.gz", int64(1000+i))
		e.RelPath = fmt.Sprintf("pkg%03d/changelog.Debian.gz", i)
		p.cat.add(e)
	}
	want := testEntry(t, "ChangeLog.gz", 777)
	want.RelPath = "zlib/ChangeLog.gz"
	p.cat.add(want)
	p.svc.Refresh()
	testutil.Eventually(t, 10*time.Second, "all 301 indexed", func() bool {
		q, _ := parseQuery("changelog")
		hits, _ := p.svc.match(context.Background(), q, 1000)
		return len(hits) == 301
	})
	q, err := parseQuery("ChangeLog.gz")
	if err != nil {
		t.Fatal(err)
	}
	hits, err := p.svc.match(context.Background(), q, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].Name != "ChangeLog.gz" {
		var names []string
		for _, h := range hits {
			names = append(names, h.Name)
		}
		t.Fatalf("first hits %v, want ChangeLog.gz first", names)
	}
}
