//go:build !ledgerdebug

package ledger

// debugInvariant is off in normal builds; tests check the invariant
// explicitly (FSM.CheckInvariant).
const debugInvariant = false
