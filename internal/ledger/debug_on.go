//go:build ledgerdebug

package ledger

// debugInvariant: built with -tags ledgerdebug, every applied batch checks
// sum(balances) == supply and no negative balance, and panics otherwise.
const debugInvariant = true
