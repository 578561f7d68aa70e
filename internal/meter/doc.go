// Package meter counts what this node gives to and takes from each peer,
// issues and collects signed traffic receipts, and settles their payments
// through the ledger.
//
// [Meter] counts, per peer, the chunk bytes uploaded and downloaded (it is
// the transfer layer's Meter) and the compute units run each way. The
// downloader signs [TrafficReceipt]s for the verified bytes it received:
// cumulative ranges (Start, End] of its own count since its Epoch, sent over
// [ReceiptProtocol] to the peer that served them every ReceiptEvery (or
// early after ReceiptBytes). A receipt is stored before it is sent and sent
// again, unchanged, until acknowledged, so a lost answer never makes two
// receipts cover the same bytes; the receiver refuses overlapping ranges.
//
// With traffic billing (Config.PricePerGiB > 0) a receipt carries a
// KindTransfer from the payer to the payee of Owed(End) - Owed(Start)
// micro-credits, signed by the payer, with an ID derived from the range:
// an ordinary transfer, so the voters check the payer's signature and
// balance as for any other, and it applies once whoever submits it. The
// payee settles the pending ones every SettleEvery and counts one paid
// only on the ledger's receipt of that very transfer (ID, payer, payee,
// amount); one the ledger refuses for good (overdraft, expired, its ID
// already spent by the payer on another transfer) fails and drops its
// payer's priority.
// [Meter.Priority] ranks peers for scarce upload: those that paid at this
// node's price within the last hour, then those that uploaded back at least
// half of what they took, then the rest.
//
// # The ledger
//
// A receipt's payment is an ordinary ledger transfer (ledger.KindTransfer),
// signed through a ledger.Wallet; the meter needs nothing else of the
// ledger than a way to submit a payment (Config.Submit), and imports
// package ledger for the transfer and receipt types only. That makes
// meter -> ledger the second allowed arrow between services (after
// market -> ledger; see docs/architecture.md). Its tables live in the
// node's database under the component name "meter", and the receipt's
// signed form and wire protocol are unchanged from when the meter was
// part of package ledger, so stored receipts and peers of either version
// read each other's.
package meter
