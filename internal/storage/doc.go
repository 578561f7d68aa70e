// Package storage keeps encrypted, erasure-coded objects on other peers'
// disks, and other peers' shares on this one's. It is the layer that
// backups (internal/backup) and published documents build on; docs/storage.md
// describes its API, its protocol and its threat model.
//
// An object's way out of the node ([EncodeObject]): its plaintext is padded
// (to 4 KiB, then to within 6.25%), sealed with AES-256-GCM under a fresh
// random key, and cut by Reed-Solomon into n shares of which any k rebuild
// it. Each share is named by its [ShareID], a two-level BLAKE3 hash that
// lets anyone holding the id check one segment of the share without the
// rest (challenges). The owner keeps a [Ref]: k, n, the key, the share ids
// and their first holders.
//
// A storing peer sees only shares: ciphertext of padded length under ids
// that are hashes of ciphertext. Nothing in a share, its id or the request
// that stores it names the object, its size beyond the padding, or the
// other shares of the same object (each goes to another peer). It
// stores only within the offer its operator made, bounds what each client
// may hold, and keeps a share only while its lease is paid.
//
// The protocol (/peerpath/storage/1.0.0, wire.go) is one request per
// stream: every stream has a deadline for its first bytes and a whole-
// request deadline, every message is read against a limit this side
// chooses (a share against [MaxShareSize], never a length the sender
// declared), and every share is checked against its id before it is kept,
// served or used. Gets also have a session protocol ([FetchProtocolID],
// fetchwire.go): one long-lived stream per holder with gets pipelined on
// it, each with its own deadline, which is what makes a restore fast.
package storage
