// Package market is peerpath's marketplace: sellers list digital goods,
// anyone finds them through the network search, buyers pay in ledger
// credits and get the goods, which travel peer to peer encrypted so any
// peer can help distribute them without being able to read them.
//
// # Design
//
// Selling (Service.Sell): the file is encrypted with age to a fresh X25519
// identity, whose string form is the content key; the ciphertext is shared
// like any file (its CID is what peers fetch and seed). The listing — title,
// description, tags, price, ciphertext CID and size, SHA-256 commitment to
// the key, seller peer ID, expiry — is signed by the seller (Listing, Sign)
// and its ID is a hash of the signed content. The key is sealed (X25519 +
// HKDF + XChaCha20-Poly1305) to each current ledger voter, whose X25519 key
// is derived from its Ed25519 peer ID, and registered in the replicated
// ledger with a KindList operation signed by the seller (ledger.ListingKey).
// The signed listing document is then shared as a small file named after
// the title and tags and ending in ListingSuffix, so the existing search
// layer (FTS5 index over shared names, keyword provider records, signed
// answers) finds it with no change to search.
//
// Finding (Service.Search): a network search for the words; results that
// are listing documents are fetched (their bytes are verified against the
// CID by the transfer layer), decoded with bounds (DecodeListing), their
// signature and expiry checked, and compared with the ledger's record
// (seller, price, ciphertext, commitment, not withdrawn). Anything else is
// dropped and counted. Ranking: sponsored listings (the seller paid the
// ledger operator, KindSponsor) first, then relevance weighted by the
// seller's mean rating.
//
// Buying (Service.Buy) while the seller may be offline: the buyer signs a
// KindBuy carrying a one-time X25519 public key (derived from the node key
// and the order ID, so nothing secret is stored); the ledger moves price
// plus fee into escrow. A voter's market service (Service.Serve on a node
// that is a ledger voter) sees the pending order, opens its sealed copy of
// the key, checks it against the commitment and submits KindRelease with
// the key and the key re-sealed to the buyer (ledger.Release) — every
// voter's state machine checks the key against the commitment, then moves
// escrow to the seller and the fee to the operator, atomically with
// recording the sealed copy — or KindRefund when its copy is wrong. Only
// the ledger's current voters may settle (the listing's key must be sealed
// to current voters to be registered at all, and Buy refuses a listing
// whose copies are not), so nothing a seller chooses lets it settle its
// own orders. The buyer reads the order, opens the key, checks the
// commitment again, fetches the ciphertext from any peers and decrypts. If
// no voter settles the order within ledger.OrderTimeout, the buyer may
// refund it (Service.Refund). The ledger applies at most one settlement per
// order (the FSM refuses a second one; another voter's late settlement is
// ignored), so a purchase ends in exactly one of: seller paid and buyer holding
// a key matching the commitment, or buyer refunded.
//
// Why voters: they are already the network's replicated trusted role (a
// quorum of them decides every balance), they are online by design, and the
// ledger gives atomicity between payment and key release for free. The cost
// is that a voter sees content keys; a seller who does not trust the voters
// cannot use offline sales. A voter that released a key not matching the
// commitment would be caught by the buyer's own check (ErrWrongKey) but
// cannot be undone by the ledger: the trust placed in voters is the same as
// for balances.
//
// Trust: ratings are ledger operations (KindRate) signed by the buyer of a
// released order, at most one per order, so they are replicated and cannot
// be forged or stuffed by non-buyers. A replayed order (same signed bytes,
// or any purchase naming an order ID the ledger holds) is refused by the
// voters with ledger.ErrReplayed and never pays twice; one older than the
// ledger's ID window is refused with ledger.ErrExpired.
package market
