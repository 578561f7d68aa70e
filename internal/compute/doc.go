// Package compute runs volunteer computations: a submitter splits a job
// into work units, peers' workers run them in the wasm sandbox, results are
// cross-checked before they are accepted, and workers are paid.
package compute
