// Package searchsim is the search simulation: a network of real search
// Services on a go-libp2p mocknet, measured for recall, latency, messages
// per query, churn and spam. It is a harness, not part of the daemon: only
// tests and cmd/peerpath-bench import it (internal/deptest checks that no
// production package does), so the daemon does not link mocknet.
//
// Simulate builds N real libp2p hosts on a go-libp2p mocknet with 20 ms
// links, each with a kad-dht (prefix /peerpath, server mode, k = 10,
// alpha = 3) and a Service over its own SQLite file, from a generated
// catalogue of 50,000 names with Zipf popularity, and measures recall,
// latency and messages per query (every DHT RPC, search request and manifest
// fetch a query sends), then recall while 20% of the peers leave, then
// precision@10 with 30% of the peers spamming. To fit N = 1000 on two cores
// it fills the routing tables and seeds the keyword records from global
// knowledge instead of bootstrapping and announcing (search's TestKadDHTAnnounceAndSearch
// covers the real announce path); the query traffic measured is real.
// cmd/peerpath-bench search prints the figures.
//
// SimulateReal (peerpath-bench search --real-announce) takes no such
// shortcut: every peer joins through bootstrap peers and fills its routing
// table itself, every search Service announces its own keywords through
// its kad-dht, and rounds of probe queries measure recall over time. It
// reports the time until 95% recall, the messages per announced file and
// per query, counting every DHT request as each peer writes it (by kad-dht
// message type) and every search stream.
//
// It reaches the search package only through its exported API plus the
// hooks in internal/search/hooks.go (Keywords, Tokenize, Service.SyncIndex
// and HandleAnswers, with which its spammers answer over the real wire
// format).
package searchsim
