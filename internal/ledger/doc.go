// Package ledger is peerpath's replicated credits ledger: one ledger for
// the whole network (bandwidth, compute, sales), kept by a set of voters
// that run hashicorp/raft, with raft traffic over libp2p streams
// (RaftProtocol: authenticated and encrypted by the libp2p connection,
// never plain TCP).
//
// # Pieces
//
//   - StreamLayer adapts a libp2p host to raft.StreamLayer: a raft
//     ServerAddress is a peer ID string. Incoming raft streams from peers
//     that are not voters in the current configuration are reset before
//     raft sees them (a voter with no configuration yet accepts only the
//     voters of the Invitation it accepted or, with none, the peers in
//     Config.Voters, so it can be bootstrapped or added).
//   - Invitation (invite.go) is how a fresh voter learns whom to trust:
//     Create and AddVoter send each new voter the voter set and genesis
//     hash, signed; it accepts only from a peer it was told of
//     (Config.Voters, else Config.Inviters), from one inviter only, and
//     persists it. Create bootstraps nothing until every voter accepted.
//   - FSM is the state machine: balances, supply, applied transfer IDs,
//     grant bookkeeping, a short history per account. Log entries are
//     batches of signed transfers stamped with the leader's clock, or the
//     genesis. Each voter checks every payer's signature itself before
//     applying (a per-voter memo lets that check run earlier, off the apply
//     goroutine; see sigMemo), so no voter can spend another's credits.
//   - The raft log and stable store are one SQLite file per voter
//     (raft.db in Config.Dir, WAL, synchronous=FULL); snapshots are raft
//     file snapshots in the same directory.
//   - Service ties it together: New, Serve, Create, Submit, Balance,
//     History, Status, AddVoter, RemoveVoter. The leader batches submitted
//     transfers (up to MaxBatch per entry, lingering BatchDelay only while
//     earlier batches are in flight) and gives each its own result. Other
//     nodes reach a voter over ClientProtocol (length-prefixed JSON, one
//     request per stream, 1 MiB limit).
//
// # Rules (all deterministic, all replicated)
//
//   - Accounts are peer ID strings; amounts are int64 micro-credits
//     (ParseCredits, FormatCredits). An account never seen has balance
//     zero; sending to it creates it; sending from it is an overdraft.
//   - A transfer ID is scoped to its signer and applies at most once: the
//     state remembers (signer, ID), so no account can make another's ID
//     "already applied". A retry with the same content (every signed field
//     but Time) returns the original receipt (Receipt.Replay set) and
//     changes nothing; the same ID with other content is refused with
//     ErrConflict; a purchase (KindBuy) replayed is refused with
//     ErrReplayed. A transfer that failed (overdraft, say) does not consume
//     its ID. A Receipt names the kind, payer and payee, so a caller (the
//     meter) checks it is the receipt of the transfer it submitted.
//   - Applied IDs are remembered for Genesis.IDWindow (default 15 minutes)
//     of ledger time: a transfer whose own Time is further than that from
//     the ledger clock (the newest leader time seen) is refused with
//     ErrExpired, so forgetting older IDs can never let one apply twice.
//   - No balance goes negative: the payer needs amount plus fee; an amount
//     whose sum with its fee overflows is ErrInvalid (a bad request).
//   - The operator fee is Genesis.FeeBPS basis points of the amount,
//     rounded up (any payment pays at least one micro-credit when the fee
//     is on, so splitting a payment saves nothing), paid by the payer to
//     Genesis.Operator on top of the amount; the receiver gets exactly the
//     amount. A payment that opens an account the ledger has never seen
//     pays OpenFee more to the operator, so each account in the voters'
//     state costs its maker 0.001 credits.
//   - Rule sets are versioned in the state (RulesV1, RulesV2): a leader of
//     this version writes cmdBatchV2 entries and the state moves to
//     RulesV2 (for good) at the first one; entries written before it apply
//     under the rules they were written for (IDs global, fees rounded
//     down, settlement by the accounts a seller named), so an old log
//     replays to the state it had. The voters the market rules need come
//     from raft's configuration entries (FSM.StoreConfiguration).
//   - Supply is the genesis total and changes only through grants: when
//     Genesis.Grant is set, an account that has never held credits may ask
//     once (NewGrantRequest, signed by itself) for Grant.Amount, at most
//     Grant.MaxPerHour grants per hour of ledger time network-wide.
//   - After every entry, balances sum to the supply (FSM.CheckInvariant).
//
// # Wallets
//
// [Wallet] is the one place a node turns an operation (pay X, list,
// buy, settle an order) into a signed transfer: it holds one account's
// key, fills in the signer, a fresh ID and the time, signs, and submits
// through a [Submitter] (*Service). The node's API, its compute payments
// and the market all sign through it; NewTransfer and NewGrantRequest are
// its shorthand for tests and benchmarks.
//
// # Reads
//
// Balance and History on a voter read its own state, which may trail the
// leader by entries not yet applied there; a non-voter asks a voter.
// History keeps at least the last 100 transfers per account.
//
// # Metering
//
// Traffic and compute metering, signed traffic receipts and their
// settlement are package internal/meter: a receipt's payment is an
// ordinary KindTransfer, which the meter submits here, counting it paid
// only when the Receipt matches it (Receipt.Matches).
//
// Build with -tags ledgerdebug to panic if the invariant ever breaks
// after an entry (it costs a pass over all balances per entry).
package ledger
