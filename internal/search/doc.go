// Package search is Napster's "type a name, see who has it" without a
// central server: every peer indexes what it shares, keyword provider
// records in the DHT route a query to the peers that can answer it, and the
// answers are checked so junk does not reach the top.
//
// # Local index
//
// Each peer keeps an SQLite FTS5 index (tables search_entries and
// search_fts) of its shared files and folders: the name, the path within the
// share, and metadata read from the file (ID3v1/ID3v2 tags of MP3, Vorbis
// comments of FLAC, Ogg Vorbis and Opus, image dimensions such as "640x480"
// for PNG, JPEG and GIF, the <title> of HTML and a literal /Title of PDF).
// The tag parsers are small and ours (no well-kept Go tag library is
// available); each reads at most 256 KiB plus the last 128 bytes of a file,
// checks every length against its input, and has a fuzz test. The tokenizer
// is "unicode61 remove_diacritics 2", so case and accents do not matter
// ("beyonce" finds "Beyoncé"), and a query's words are all required
// ("beatles hey jude" finds "The Beatles - Hey Jude.mp3"). The index is
// re-synced from the Catalog every SyncInterval and on Refresh; only new
// entries are read from disk.
//
// Queries are free words plus filters type:T (audio, video, image,
// document, archive, software, other, folder), size>N and size<N (N with a
// unit: 10MB, 1GiB). A query over MaxQueryBytes or MaxQueryTerms is refused
// (ErrQueryTooLarge). Words are quoted before they reach FTS5, so no query
// syntax can be injected. Ranking is bm25 (name weighted over metadata over
// path) squashed into [0,1), plus 0.5·ln(1+independent providers), plus
// 0.5·the providers' mean reputation.
//
// # Routing: keyword provider records (eMule Kad style)
//
// Every peer announces, for each distinct keyword of its names and metadata
// (normalised; stop words, file extensions and 1-character tokens dropped),
// a provider record in the DHT under KeywordKey(keyword), a CIDv1 of
// SHA-256("peerpath-kw:"+keyword). Announcements are rate limited
// (AnnounceRate, default 20/s, 8 in flight), and repeated every 22 h
// (kad-dht keeps records 48 h). The most useful come first: the longest
// keywords of every file (a search looks up its longest words, so a file is
// findable by its name once these are out), then the rest; within each
// group the keyword shared by more files first (one record covers them all). A search looks up the providers of its two longest
// keywords in parallel (kad-dht GET_PROVIDERS, O(log N) messages each),
// intersects the sets (a set that hit the 300-provider cap is too common to
// filter by), and asks the peers in the intersection directly over
// ProtocolID, most promising first (more keywords, better reputation, then
// at random). Three things bound the messages per query:
//   - a keyword lookup stops 50 ms after its first provider record arrives:
//     every record holder stores the same records, so walking on to the rest
//     of the k closest costs messages for nothing;
//   - at most MaxPeers (50) valid answers and 2·MaxPeers requests;
//   - the asking stops once 12 valid answers in a row brought no new
//     result: with Zipf popularity a popular file's copies grow with the
//     network, and the 13th peer holding it adds nothing. This keeps the
//     cost flat in N, at the price of missing, now and then, a rare match
//     hidden among many copies of a popular one (measured in the recall).
//
// Pure flooding would cost O(N) per query; this costs O(log N) DHT messages
// plus a bounded number of requests. kad-dht provider records fit: they need
// no validator, the DHT replicates and expires them, and the node already
// runs the DHT. Their limit is that a record says "this peer has the
// keyword", not which file, so the peers are asked; storing file records at
// the keyword holders (as eMule did) would save that step but needs a
// storage protocol of its own.
//
// # Search protocol
//
// One request and one response per stream, framed by p2p.WriteMsg and
// bounded before reading (2 KiB requests, 128 KiB responses, 50 results per
// query, names ≤ 255 bytes). The request carries a random nonce and one or
// two queries (the real one and, often, a canary, in random order). The
// response is JSON signed by the answering peer's libp2p key over the exact
// body bytes, names the peer and the nonce, and is verified against the key
// the connection's handshake proved; a forged or replayed answer is dropped.
//
// # Spam defences, working together
//   - Canaries: a request to a peer not yet trusted (and 20% of requests to
//     trusted ones) also carries a query of random pronounceable nonsense
//     words no honest index matches, indistinguishable from a real query in
//     position and form. A peer that matches it is a spammer: its answer is
//     dropped, it is never asked again, and the verdict is stored
//     (search_peers). Spammers that answer everything are recognised on the
//     first request an origin sends them, so in the simulation not one fake
//     answer is accepted.
//   - Manifest cross-checks: every answer of a peer not yet trusted
//     (ManifestCheckRate, default 1) and 5% of trusted peers' answers have
//     one sampled result's manifest fetched from that peer through
//     ManifestFetcher, before the answer is used; it must hash to the CID and
//     have the claimed size, and a false claim is a strike. This is what stops
//     spammers that recognise canaries (searchsim.Config.SmartSpam): they can only
//     answer with CIDs whose manifests they cannot produce. Trust is earned
//     only by verified claims and downloads (two), never by passing canaries,
//     which a canary-aware spammer passes every time.
//   - Results outside the query's own filters are a strike.
//   - Reputation from completed, verified downloads (RecordDownload) and
//     verified claims: it orders the peers asked and adds to the score.
//   - Independent providers: a CID claimed with another size by a second
//     peer does not count that peer as a provider; more providers rank
//     higher.
//   - Per-peer rate limits on incoming queries (QueryRate, default 10/s,
//     burst 40): a faster peer is answered "throttled". One person's UI
//     searching as they type stays far below it (TestTypingNotThrottledFloodIs).
//   - Connected peers (the 4 newest connections) are asked directly by
//     every search, beside the DHT lookups, so a file just shared by a
//     connected peer is found before its keyword records are out
//     (Config.DirectPeers).
//   - A persistent local blocklist (Block, Unblock, Blocked): blocked peers
//     are not asked, their queries are refused.
//
// # Simulation
//
// The simulation that measures all of this at N = 100 to 1000 lives in
// internal/search/searchsim, outside this package, so the daemon does not
// link go-libp2p's mocknet; cmd/peerpath-bench search prints its figures.
package search
