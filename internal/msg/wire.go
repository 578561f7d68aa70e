package msg

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/peerpath/peerpath/internal/msg/ratchet"
)

// Protocol IDs.
const (
	// ProtocolID carries envelopes straight to their recipient.
	ProtocolID = "/peerpath/msg/1.0.0"
	// MailboxProtocol stores, hands out and deletes envelopes for peers
	// that are offline, and prekey bundles.
	MailboxProtocol = "/peerpath/mailbox/1.0.0"
)

// Limits of the wire formats.
const (
	// MaxText is the longest message text, in bytes.
	MaxText = 16 << 10
	// maxPayload bounds a decrypted payload (text, group data, JSON).
	maxPayload = 48 << 10
	// maxEnvelope bounds an encoded envelope.
	maxEnvelope = 2 + ratchet.InitSize + ratchet.HeaderSize + maxPayload + 64
	// tagSize is the size of a recipient tag.
	tagSize = 20
	// sidSize is the size of a session id.
	sidSize = 16
	// idSize is the size of a message id (hex: twice that).
	idSize = 16
	// maxRefs bounds the ids a receipt acknowledges.
	maxRefs = 256
)

var errMalformed = errors.New("msg: malformed input")

// envelope is what travels: to the recipient directly, or through
// mailboxes. Its first messages carry the X3DH init (which hides the
// sender's identity inside), later ones the session's id.
type envelope struct {
	Init   []byte // ratchet.InitSize bytes, or nil
	SID    [sidSize]byte
	Header ratchet.Header
	CT     []byte
}

const (
	envVersion = 1
	envHasInit = 1
)

func (e envelope) encode() []byte {
	var b bytes.Buffer
	b.WriteByte(envVersion)
	if e.Init != nil {
		b.WriteByte(envHasInit)
		b.Write(e.Init)
	} else {
		b.WriteByte(0)
		b.Write(e.SID[:])
	}
	b.Write(e.Header.Encode())
	b.Write(e.CT)
	return b.Bytes()
}

func decodeEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) < 2 || len(b) > maxEnvelope || b[0] != envVersion || b[1]&^envHasInit != 0 {
		return e, fmt.Errorf("%w: envelope", errMalformed)
	}
	p := b[2:]
	if b[1]&envHasInit != 0 {
		if len(p) < ratchet.InitSize {
			return e, fmt.Errorf("%w: envelope init", errMalformed)
		}
		e.Init = bytes.Clone(p[:ratchet.InitSize])
		p = p[ratchet.InitSize:]
	} else {
		if len(p) < sidSize {
			return e, fmt.Errorf("%w: envelope sid", errMalformed)
		}
		copy(e.SID[:], p)
		p = p[sidSize:]
	}
	if len(p) < ratchet.HeaderSize {
		return e, fmt.Errorf("%w: envelope header", errMalformed)
	}
	h, err := ratchet.DecodeHeader(p[:ratchet.HeaderSize])
	if err != nil {
		return e, err
	}
	e.Header = h
	e.CT = bytes.Clone(p[ratchet.HeaderSize:])
	return e, nil
}

// Payload kinds.
const (
	kindText    = "text"  // a message to show
	kindReceipt = "rcpt"  // Refs arrived (through mailboxes)
	kindRead    = "read"  // Refs were read
	kindGroup   = "group" // a group's members and the sender's key for it
)

// payload is what an envelope's ciphertext decrypts to.
type payload struct {
	Kind  string        `json:"k"`
	ID    string        `json:"i,omitempty"`
	Time  int64         `json:"t,omitempty"` // unix milliseconds, the sender's clock
	Text  string        `json:"x,omitempty"`
	Refs  []string      `json:"r,omitempty"`
	Group *groupPayload `json:"g,omitempty"`
	// GID marks a text of group GID relayed over the pairwise session (to
	// a member that was offline: it goes through mailboxes).
	GID string `json:"gm,omitempty"`
}

func validID(id string) bool {
	if len(id) != 2*idSize {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func decodePayload(b []byte) (payload, error) {
	var p payload
	if len(b) > maxPayload {
		return p, fmt.Errorf("%w: payload of %d bytes", errMalformed, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: payload: %v", errMalformed, err)
	}
	switch p.Kind {
	case kindText:
		if !validID(p.ID) || len(p.Text) > MaxText || !utf8.ValidString(p.Text) || p.Group != nil && p.Group.validate() != nil ||
			p.GID != "" && (!validID(p.GID) || p.Group != nil) {
			return p, fmt.Errorf("%w: text payload", errMalformed)
		}
	case kindReceipt, kindRead:
		if p.GID != "" || len(p.Refs) == 0 || len(p.Refs) > maxRefs {
			return p, fmt.Errorf("%w: receipt payload", errMalformed)
		}
		for _, r := range p.Refs {
			if !validID(r) {
				return p, fmt.Errorf("%w: receipt payload", errMalformed)
			}
		}
	case kindGroup:
		if p.GID != "" || p.Group == nil || p.Group.validate() != nil || !validID(p.ID) {
			return p, fmt.Errorf("%w: group payload", errMalformed)
		}
	default:
		return p, fmt.Errorf("%w: payload kind %q", errMalformed, p.Kind)
	}
	return p, nil
}

// Mailbox operations: one request frame per stream, one answer frame.
const (
	opPut       = 1 // tag ‖ envelope
	opGet       = 2 // tags
	opAck       = 3 // (tag ‖ item id)…
	opPutBundle = 4 // bundle (the stream's peer's own)
	opGetBundle = 5 // peer id bytes
)

// Mailbox answers' first byte.
const (
	stOK       = 0
	stFull     = 1
	stBad      = 2
	stNotFound = 3
	stRefused  = 4
)

const (
	maxMailboxRequest = 1 + tagSize + maxEnvelope
	maxGetTags        = 64
	maxGetAnswer      = 1 << 20
	itemIDSize        = 16
)

// mailboxRequest is a decoded mailbox request.
type mailboxRequest struct {
	Op    byte
	Tags  [][tagSize]byte
	Blob  []byte             // opPut: the envelope; opPutBundle: the bundle; opGetBundle: the peer id
	Items [][itemIDSize]byte // opAck, beside Tags
}

func encodeMailboxRequest(r mailboxRequest) []byte {
	b := []byte{r.Op}
	switch r.Op {
	case opPut:
		b = append(b, r.Tags[0][:]...)
		b = append(b, r.Blob...)
	case opGet:
		for _, t := range r.Tags {
			b = append(b, t[:]...)
		}
	case opAck:
		for i, t := range r.Tags {
			b = append(b, t[:]...)
			b = append(b, r.Items[i][:]...)
		}
	case opPutBundle, opGetBundle:
		b = append(b, r.Blob...)
	}
	return b
}

func decodeMailboxRequest(b []byte) (mailboxRequest, error) {
	var r mailboxRequest
	if len(b) < 1 || len(b) > maxMailboxRequest {
		return r, fmt.Errorf("%w: mailbox request", errMalformed)
	}
	r.Op, b = b[0], b[1:]
	switch r.Op {
	case opPut:
		if len(b) <= tagSize || len(b)-tagSize > maxEnvelope {
			return r, fmt.Errorf("%w: put", errMalformed)
		}
		r.Tags = [][tagSize]byte{[tagSize]byte(b[:tagSize])}
		r.Blob = bytes.Clone(b[tagSize:])
	case opGet:
		if len(b) == 0 || len(b)%tagSize != 0 || len(b)/tagSize > maxGetTags {
			return r, fmt.Errorf("%w: get", errMalformed)
		}
		for ; len(b) > 0; b = b[tagSize:] {
			r.Tags = append(r.Tags, [tagSize]byte(b[:tagSize]))
		}
	case opAck:
		const per = tagSize + itemIDSize
		if len(b) == 0 || len(b)%per != 0 || len(b)/per > maxGetTags*16 {
			return r, fmt.Errorf("%w: ack", errMalformed)
		}
		for ; len(b) > 0; b = b[per:] {
			r.Tags = append(r.Tags, [tagSize]byte(b[:tagSize]))
			r.Items = append(r.Items, [itemIDSize]byte(b[tagSize:per]))
		}
	case opPutBundle:
		if len(b) != ratchet.BundleSize {
			return r, fmt.Errorf("%w: bundle", errMalformed)
		}
		r.Blob = bytes.Clone(b)
	case opGetBundle:
		if len(b) == 0 || len(b) > 64 {
			return r, fmt.Errorf("%w: get bundle", errMalformed)
		}
		r.Blob = bytes.Clone(b)
	default:
		return r, fmt.Errorf("%w: mailbox op %d", errMalformed, r.Op)
	}
	return r, nil
}

// item is one stored envelope handed out by a mailbox.
type item struct {
	Tag  [tagSize]byte
	ID   [itemIDSize]byte
	Blob []byte
}

func encodeItems(items []item) []byte {
	b := []byte{stOK}
	for _, it := range items {
		b = append(b, it.Tag[:]...)
		b = append(b, it.ID[:]...)
		b = binary.AppendUvarint(b, uint64(len(it.Blob)))
		b = append(b, it.Blob...)
	}
	return b
}

// decodeItems parses a get answer (after its status byte).
func decodeItems(b []byte) ([]item, error) {
	var out []item
	for len(b) > 0 {
		if len(b) < tagSize+itemIDSize+1 || len(out) >= maxGetTags*16 {
			return nil, fmt.Errorf("%w: items", errMalformed)
		}
		var it item
		it.Tag = [tagSize]byte(b[:tagSize])
		it.ID = [itemIDSize]byte(b[tagSize : tagSize+itemIDSize])
		b = b[tagSize+itemIDSize:]
		n, k := binary.Uvarint(b)
		if k <= 0 || k != len(binary.AppendUvarint(nil, n)) || n > maxEnvelope || uint64(len(b)-k) < n {
			return nil, fmt.Errorf("%w: item length", errMalformed)
		}
		it.Blob = bytes.Clone(b[k : k+int(n)])
		b = b[k+int(n):]
		out = append(out, it)
	}
	return out, nil
}
