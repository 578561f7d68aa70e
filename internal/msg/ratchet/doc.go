// Package ratchet is the Double Ratchet of Signal's published specification
// (Trevor Perrin and Moxie Marlinspike, "The Double Ratchet Algorithm",
// revision 1, 2016-11-20), with an X3DH-style initial key agreement keyed
// to the peers' libp2p Ed25519 identities (x3dh.go). It is written here
// from the specification; no ratchet library is used.
//
// # Primitives (the specification's section 5.2 recommendations, with an AEAD)
//
//   - GENERATE_DH, DH: X25519 (golang.org/x/crypto/curve25519).
//   - KDF_RK(rk, dh_out): HKDF-SHA256 with rk as salt, dh_out as input key
//     material and info "peerpath ratchet root"; 64 bytes of output split
//     into the new root key and a chain key.
//   - KDF_CK(ck): HMAC-SHA256(ck, 0x01) is the message key,
//     HMAC-SHA256(ck, 0x02) the next chain key.
//   - ENCRYPT(mk, pt, ad): HKDF-SHA256(mk, salt 0, info "peerpath ratchet
//     message") gives a 32-byte key and a 12-byte nonce for
//     ChaCha20-Poly1305; each message key is used once, so the derived
//     nonce never repeats under its key. The associated data is AD (from
//     the key agreement) followed by the encoded header.
//
// Header encryption (the specification's section 4) is not used: the
// header carries the sender's current ratchet public key and two counters,
// none of which names either party; the envelope around it (package msg)
// hides the sender's identity in the first messages.
//
// # Properties the tests check
//
// Forward secrecy (a leaked current state, chain keys and root key
// included, decrypts none of the earlier messages, TestLeakedStateCannotDecryptEarlier),
// post-compromise security (once both sides have ratcheted past a
// leak, the leaked state decrypts nothing new,
// TestPostCompromiseSecurity), out-of-order and lost messages within
// [MaxSkip] (TestOutOfOrder), a bound on stored skipped keys
// ([MaxSkippedKeys]), and transactional decryption: a message that fails
// to authenticate leaves the state exactly as it was (TestFailedDecryptChangesNothing).
//
// A [State] is a value the caller persists: [State.Encrypt] and
// [State.Decrypt] return the new state beside their result and never
// change the receiver, so the caller can store the new state in the same
// transaction as the message and switch to it only once that committed
// (package msg does). A kill at any moment thus neither loses a key nor
// uses one twice.
package ratchet
