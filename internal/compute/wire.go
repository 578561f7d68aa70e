package compute

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/p2p"
)

// Protocol is the libp2p protocol over which a worker asks a submitter for
// work and returns results. Version 2 carries content ids where version 1
// carried the module and the inputs inline.
const Protocol protocol.ID = "/peerpath/compute/2.0.0"

// Topic is the GossipSub topic on which submitters advertise their jobs.
const Topic = "/peerpath/jobs/1"

// Size limits. Each is checked before the bytes it bounds are read or
// fetched.
const (
	// MaxModuleBytes is the largest module a job may carry.
	MaxModuleBytes = sandbox.DefaultMaxModuleBytes
	// MaxInput is the largest unit input (stdin). Larger inputs are
	// refused at submission, and workers refuse to fetch them.
	MaxInput = 64 << 20
	// MaxOutput is the largest unit output (stdout); a unit writing more
	// fails with sandbox.ErrOutputTooLarge.
	MaxOutput = 16 << 20
	// InlineResult is the largest output carried inline in a result
	// message; a larger one is published as content by the worker and
	// fetched by the submitter.
	InlineResult = 64 << 10

	// MaxUnitTimeout is the longest time budget a unit may ask for;
	// workers refuse longer ones.
	MaxUnitTimeout = time.Hour

	// MaxJobUnits bounds the units of one job: a submitter keeps each
	// unit's state in memory and a row in its database, so a larger
	// job is refused at submission, and workers ignore adverts of one.
	MaxJobUnits = 100_000
	// MaxActiveUnits bounds the units of all of a node's unfinished jobs
	// together (about 300 bytes of memory each).
	MaxActiveUnits = 2 * MaxJobUnits

	maxHeader = 64 << 10 // a message header (JSON)
	maxAdvert = 4 << 10  // a job advert (JSON)
	maxArgs   = 256      // arguments per unit
	maxEnv    = 64       // environment entries per unit
	maxString = 4 << 10  // one argument, environment entry, reason...
	maxCID    = 128      // the string form of a content id
)

// Message operations.
const (
	opWork   = "work"   // worker → submitter: give me a unit of Job
	opUnit   = "unit"   // submitter → worker: run this unit (module and input by content id)
	opNone   = "none"   // submitter → worker: no unit now (RetryMS) or ever (Final)
	opResult = "result" // worker → submitter: the unit's output (body or content id) or failure (ErrKind)
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
// second frame. Only a result carries a body (an output of at most
// InlineResult bytes); modules, inputs and larger outputs travel as content
// and the messages carry their content ids and sizes.
type message struct {
	Op         string            `json:"op"`
	Job        string            `json:"job,omitempty"`
	Unit       int               `json:"unit,omitempty"`
	Attempt    string            `json:"attempt,omitempty"`
	Args       []string          `json:"args,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Memory     uint64            `json:"memory,omitempty"`
	TimeoutMS  int64             `json:"timeout_ms,omitempty"`
	Module     string            `json:"module,omitempty"` // unit: the module's content id
	ModuleSize int64             `json:"module_size,omitempty"`
	Input      string            `json:"input,omitempty"` // unit: the input's content id; none for an empty input
	InputSize  int64             `json:"input_size,omitempty"`
	Output     string            `json:"output,omitempty"` // result: content id of an output published by the worker
	OutputSize int64             `json:"output_size,omitempty"`
	RetryMS    int64             `json:"retry_ms,omitempty"`
	Final      bool              `json:"final,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Hash       string            `json:"hash,omitempty"` // result: hex BLAKE3-256 of the output
	ErrKind    string            `json:"err_kind,omitempty"`
	Body       int               `json:"body,omitempty"`
}

// bodyLimit is the largest body a message with this op may carry.
func bodyLimit(op string) int {
	if op == opResult {
		return InlineResult
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
	case opWork, opUnit, opNone, opResult, opAck:
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
	if err := checkRefs(m); err != nil {
		return message{}, err
	}
	return m, nil
}

// checkRefs checks the content ids of a message and bounds their sizes.
func checkRefs(m message) error {
	ref := func(what, id string, size, lo, hi int64) error {
		if id == "" {
			if size != 0 {
				return fmt.Errorf("%w: %s size without a content id", errProtocol, what)
			}
			return nil
		}
		if size < lo || size > hi {
			return fmt.Errorf("%w: %s of %d bytes (allowed %d to %d)", errProtocol, what, size, lo, hi)
		}
		if err := checkFileID(id); err != nil {
			return fmt.Errorf("%w: %s: %w", errProtocol, what, err)
		}
		return nil
	}
	if err := ref("module", m.Module, m.ModuleSize, 1, MaxModuleBytes); err != nil {
		return err
	}
	if err := ref("input", m.Input, m.InputSize, 1, MaxInput); err != nil {
		return err
	}
	if err := ref("output", m.Output, m.OutputSize, InlineResult+1, MaxOutput); err != nil {
		return err
	}
	switch {
	case m.Op == opUnit && m.Module == "":
		return fmt.Errorf("%w: unit without a module", errProtocol)
	case m.Op != opUnit && (m.Module != "" || m.Input != ""):
		return fmt.Errorf("%w: %s with a module or input", errProtocol, m.Op)
	case m.Output != "" && (m.Op != opResult || m.Body != 0 || m.Hash == "" || m.ErrKind != ""):
		return fmt.Errorf("%w: output content id beside a body, a failure or no hash", errProtocol)
	}
	return nil
}

// checkFileID checks that s is the content id of a file (CIDv1, BLAKE3-256).
func checkFileID(s string) error {
	if len(s) > maxCID {
		return fmt.Errorf("content id of %d characters", len(s))
	}
	id, err := cid.Decode(s)
	if err != nil {
		return fmt.Errorf("bad content id: %w", err)
	}
	if _, err := content.Digest(id); err != nil {
		return err
	}
	if !content.IsFile(id) {
		return fmt.Errorf("content id %s does not name a file", s)
	}
	return nil
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

// advertVersion is the version of adverts: 2 names the module by content id.
const advertVersion = 2

// advert announces a job on Topic. It is signed by the submitter through
// GossipSub's message signing (strict by default): a receiver accepts it
// only when the message's verified author is the Submitter it names.
type advert struct {
	V          int    `json:"v"`
	Job        string `json:"job"`
	Submitter  string `json:"submitter"`
	Module     string `json:"module"` // the module's content id
	ModuleSize int64  `json:"module_size"`
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
	if a.V != advertVersion {
		return advert{}, fmt.Errorf("%w: advert version %d", errProtocol, a.V)
	}
	if !validJobID(a.Job) {
		return advert{}, fmt.Errorf("%w: advert job id", errProtocol)
	}
	sub, err := peer.Decode(a.Submitter)
	if err != nil || sub != from {
		return advert{}, fmt.Errorf("%w: advert submitter %.64q is not its author", errProtocol, a.Submitter)
	}
	if err := checkFileID(a.Module); err != nil {
		return advert{}, fmt.Errorf("%w: advert module: %w", errProtocol, err)
	}
	if a.ModuleSize <= 0 || a.ModuleSize > MaxModuleBytes || a.Units <= 0 || a.Units > MaxJobUnits || a.Reward < 0 || a.TimeoutMS <= 0 ||
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
