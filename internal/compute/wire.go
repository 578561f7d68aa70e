package compute

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/p2p"
)

// Protocol is the libp2p protocol over which a worker asks a submitter for
// work, fetches a job's module and returns results.
const Protocol protocol.ID = "/peerpath/compute/1.0.0"

// Topic is the GossipSub topic on which submitters advertise their jobs.
const Topic = "/peerpath/jobs/1"

// Size limits of the wire protocol. Each is checked before the bytes are read.
const (
	// MaxInline is the largest unit input (stdin) and unit output (stdout)
	// carried inline in the compute protocol. Larger inputs are refused at
	// submission; a unit writing more than this fails with
	// sandbox.ErrOutputTooLarge.
	MaxInline = 4 << 20
	// MaxModuleBytes is the largest module a job may carry.
	MaxModuleBytes = sandbox.DefaultMaxModuleBytes

	// MaxUnitTimeout is the longest time budget a unit may ask for;
	// workers refuse longer ones.
	MaxUnitTimeout = time.Hour

	maxHeader = 64 << 10 // a message header (JSON)
	maxAdvert = 4 << 10  // a job advert (JSON)
	maxArgs   = 256      // arguments per unit
	maxEnv    = 64       // environment entries per unit
	maxString = 4 << 10  // one argument, environment entry, reason...
)

// Message operations.
const (
	opWork   = "work"   // worker → submitter: give me a unit of Job
	opModule = "module" // worker → submitter: send Job's module (body); submitter → worker: here it is
	opUnit   = "unit"   // submitter → worker: run this unit (body: stdin)
	opNone   = "none"   // submitter → worker: no unit now (RetryMS) or ever (Final)
	opResult = "result" // worker → submitter: the unit's output (body) or failure (ErrKind)
	opAck    = "ack"    // submitter → worker: result received
)

// Failure kinds a worker reports, one per sandbox sentinel.
const (
	kindTimeout = "timeout"
	kindMemory  = "memory"
	kindTrap    = "trap"
	kindExit    = "exit"
	kindOutput  = "output"
	kindInvalid = "invalid"
	kindOther   = "other" // the worker could not run the unit (not the module's fault)
)

var validKinds = map[string]bool{kindTimeout: true, kindMemory: true, kindTrap: true, kindExit: true, kindOutput: true, kindInvalid: true, kindOther: true}

// errProtocol is wrapped by the decoders for any malformed message.
var errProtocol = errors.New("compute: protocol violation")

// message is every message of the compute protocol after its framing: a
// JSON header in one frame, followed, when Body > 0, by Body raw bytes in a
// second frame.
type message struct {
	Op        string            `json:"op"`
	Job       string            `json:"job,omitempty"`
	Unit      int               `json:"unit,omitempty"`
	Attempt   string            `json:"attempt,omitempty"`
	Args      []string          `json:"args,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Memory    uint64            `json:"memory,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
	RetryMS   int64             `json:"retry_ms,omitempty"`
	Final     bool              `json:"final,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Hash      string            `json:"hash,omitempty"` // hex BLAKE3-256 of the body (results, modules)
	ErrKind   string            `json:"err_kind,omitempty"`
	Body      int               `json:"body,omitempty"`
}

// bodyLimit is the largest body a message with this op may carry.
func bodyLimit(op string) int {
	switch op {
	case opModule:
		return MaxModuleBytes
	case opUnit, opResult:
		return MaxInline
	}
	return 0
}

// decodeMessage parses and checks a message header from a remote peer.
func decodeMessage(data []byte) (message, error) {
	var m message
	if len(data) > maxHeader {
		return message{}, fmt.Errorf("%w: header of %d bytes", errProtocol, len(data))
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return message{}, fmt.Errorf("%w: %v", errProtocol, err)
	}
	switch m.Op {
	case opWork, opModule, opUnit, opNone, opResult, opAck:
	default:
		return message{}, fmt.Errorf("%w: unknown op %.32q", errProtocol, m.Op)
	}
	if m.Body < 0 || m.Body > bodyLimit(m.Op) {
		return message{}, fmt.Errorf("%w: %s body of %d bytes", errProtocol, m.Op, m.Body)
	}
	if m.Unit < 0 || m.TimeoutMS < 0 || m.TimeoutMS > MaxUnitTimeout.Milliseconds() || m.RetryMS < 0 || m.RetryMS > time.Hour.Milliseconds() {
		return message{}, fmt.Errorf("%w: negative field", errProtocol)
	}
	if len(m.Args) > maxArgs || len(m.Env) > maxEnv {
		return message{}, fmt.Errorf("%w: too many arguments", errProtocol)
	}
	if len(m.Job) > 64 || len(m.Attempt) > 64 || len(m.Reason) > maxString {
		return message{}, fmt.Errorf("%w: field too long", errProtocol)
	}
	if m.Hash != "" {
		if _, err := parseHash(m.Hash); err != nil {
			return message{}, err
		}
	}
	if m.ErrKind != "" && !validKinds[m.ErrKind] {
		return message{}, fmt.Errorf("%w: unknown failure kind %.32q", errProtocol, m.ErrKind)
	}
	return m, nil
}

// parseHash decodes a hex BLAKE3-256 digest.
func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("%w: bad hash length", errProtocol)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: bad hash: %v", errProtocol, err)
	}
	return h, nil
}

// writeMessage writes m and its body (m.Body is set from body).
func writeMessage(w io.Writer, m message, body []byte) error {
	m.Body = len(body)
	hdr, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("compute: encoding message: %w", err)
	}
	if err := p2p.WriteMsg(w, hdr); err != nil {
		return err
	}
	if len(body) > 0 {
		return p2p.WriteMsg(w, body)
	}
	return nil
}

// readMessage reads one message and its body from a remote peer.
func readMessage(r io.Reader) (message, []byte, error) {
	hdr, err := p2p.ReadMsg(r, maxHeader)
	if err != nil {
		return message{}, nil, err
	}
	m, err := decodeMessage(hdr)
	if err != nil {
		return message{}, nil, err
	}
	if m.Body == 0 {
		return m, nil, nil
	}
	body, err := p2p.ReadMsg(r, m.Body)
	if err != nil {
		return message{}, nil, err
	}
	if len(body) != m.Body {
		return message{}, nil, fmt.Errorf("%w: body of %d bytes, header said %d", errProtocol, len(body), m.Body)
	}
	return m, body, nil
}

// advert announces a job on Topic. It is signed by the submitter through
// GossipSub's message signing (strict by default): a receiver accepts it
// only when the message's verified author is the Submitter it names.
type advert struct {
	V          int    `json:"v"`
	Job        string `json:"job"`
	Submitter  string `json:"submitter"`
	Module     string `json:"module"` // hex BLAKE3-256 of the module bytes
	ModuleSize int    `json:"module_size"`
	Units      int    `json:"units"`
	Reward     int64  `json:"reward"`
	Memory     uint64 `json:"memory"`
	TimeoutMS  int64  `json:"timeout_ms"`
}

// decodeAdvert parses and checks an advert published by from.
func decodeAdvert(data []byte, from peer.ID) (advert, error) {
	var a advert
	if len(data) > maxAdvert {
		return a, fmt.Errorf("%w: advert of %d bytes", errProtocol, len(data))
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return advert{}, fmt.Errorf("%w: advert: %v", errProtocol, err)
	}
	if a.V != 1 {
		return advert{}, fmt.Errorf("%w: advert version %d", errProtocol, a.V)
	}
	if !validJobID(a.Job) {
		return advert{}, fmt.Errorf("%w: advert job id", errProtocol)
	}
	sub, err := peer.Decode(a.Submitter)
	if err != nil || sub != from {
		return advert{}, fmt.Errorf("%w: advert submitter %.64q is not its author", errProtocol, a.Submitter)
	}
	if _, err := parseHash(a.Module); err != nil {
		return advert{}, err
	}
	if a.ModuleSize <= 0 || a.ModuleSize > MaxModuleBytes || a.Units <= 0 || a.Reward < 0 || a.TimeoutMS <= 0 ||
		a.TimeoutMS > MaxUnitTimeout.Milliseconds() || a.Memory == 0 {
		return advert{}, fmt.Errorf("%w: advert fields out of range", errProtocol)
	}
	return a, nil
}

// validJobID reports whether s has the form of a job id: 32 lower-case hex
// digits.
func validJobID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
