// Package transfer moves content-addressed chunks between peers: it serves
// manifests and chunks to other peers, and downloads files and folders from a
// swarm of providers (the engine behind `peerpath get CID -o PATH`).
//
// # Protocol
//
// One libp2p protocol, [ProtocolID], carries both manifest fetches and chunk
// requests (one protocol, so one stream negotiation serves both). Requests
// are tiny binary frames and may be pipelined on a stream; each response is a
// 5-byte header (status, length) followed directly by the bulk bytes, with no
// per-chunk protobuf copy (see wire.go). Every length is checked against what
// the client expects (the exact chunk size from the manifest, or
// content.MaxManifestSize) before the body is read.
//
// # Downloading
//
// [Service.Get] fetches the manifest from any provider and verifies it with
// content.Decode; a manifest whose bytes hash to the id but do not decode
// (for example a folder entry named "../x") is refused as [ErrBadContent].
// A file is downloaded from every provider at once: each source runs two
// streams, each with up to four requests outstanding, and takes the next
// missing chunk whenever a slot frees up (work stealing), so a slow source
// simply takes fewer chunks. In the end game an idle source duplicates a
// chunk that has been in flight elsewhere for several times the usual chunk
// time (at most two copies of a chunk), so one stalled peer cannot hold the
// download back. Folders are created under the output (every name checked
// with content.ValidName, every joined path checked to stay inside the
// output, symbolic links refused), with up to four files downloading at once.
// Small files of a folder (up to one chunk) download in batches of up to 64:
// one stream per batch carries every manifest request, then every chunk
// request, pipelined; the files are written to their .part files without a
// chunk record or fsync of their own, made durable together by one sync of
// their file system, and only then renamed into place (see batch.go).
//
// Every chunk is verified against its id before it is written (WriteAt into
// NAME.part, from pooled 1 MiB buffers, on worker goroutines while the
// stream reads the next response). A source that sends bytes that do not
// verify, or breaks the protocol, is dropped for the rest of the Get and
// scored down ([Service.PeerScore]); its chunks go back to the others.
// Verified chunks are recorded durably only after the data file is fsynced
// (in batches of 32 chunks or every 250 ms), in a sidecar NAME.part.state
// or, when [Config.DB] is set, in the database. When every chunk is present
// the data file is fsynced, renamed to NAME and the folder fsynced, so a
// kill -9 at any moment loses at most the chunks not yet recorded; the next
// Get resumes from the recorded chunks, re-verifying their bytes on disk.
//
// With no provider, or none that delivers, Get asks the [ProviderFinder]
// again with backoff (250 ms doubling to 5 s) and fails with
// [ErrNoProviders] once GetOptions.Timeout passes without progress, keeping
// the partial data.
//
// # Serving
//
// [Service.Serve] answers requests only with bytes returned by
// [BlockSource], which verifies what it reads. Every request is bounded: the
// CID length is checked before it is read; a stream that sends no request
// within 5 s is closed, and one idle or stalled for a minute later on; each
// peer and each connection may hold at most [MaxStreamsPerPeer] streams open
// and [MaxServingPerPeer] requests in service, each remote address (IPv4
// address or IPv6 /64, loopback exempt) four times as many streams and half
// of [MaxServing], the bound over all peers. A stream takes a service slot
// only while its request is answered, so idle streams, whoever holds them,
// keep no one else from being served. Beyond a limit the stream is answered
// busy (naming the limit) and closed, and the getter reports the peer as
// busy. Unknown ids get a clear not-found response.
//
// # Rate limits
//
// MaxUpload and MaxDownload are token buckets (golang.org/x/time/rate) shared
// by all peers. Data moves in pieces of at most 64 KiB, and each peer waits
// for at most one piece at a time, so peers competing for a limit are served
// round-robin: a fair share each, whatever their number of streams. When
// upload is scarce, Config.Priority sorts peers into classes (the node puts
// peers that pay, then peers that reciprocate, first): a peer waits while
// one of a higher class is waiting or was served in the last few
// milliseconds, and peers within a class share fairly.
//
// # Metering
//
// Config.Meter is told about every chunk served (after it was written) and
// every chunk received (after it verified), per peer: the node's meter
// turns these into usage counters and signed traffic receipts.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/peerlimit"
	"github.com/peerpath/peerpath/internal/store"
)

// ProtocolID is the libp2p protocol for manifest fetches and chunk requests.
const ProtocolID = "/peerpath/block/1.0.0"

// Tunables of the swarm and the server.
const (
	// MaxChunkSize bounds the chunk size a manifest may declare and the
	// size of any chunk served.
	MaxChunkSize = content.MaxChunkSize
	// MaxStreamsPerPeer bounds the streams one peer (and one connection)
	// may have open to this server at once; a stream beyond it is answered
	// busy and closed. A getter uses streamsPerSource per file,
	// parallelFiles files at once, so several Gets fit.
	MaxStreamsPerPeer = 64
	// MaxServingPerPeer bounds the requests of one peer (and of one
	// connection) in service at once; a request beyond it is answered busy.
	// Each stream has at most one request in service.
	MaxServingPerPeer = 16
	// MaxServing bounds the requests in service at once, over all peers.
	// Each holds at most one chunk buffer (1 MiB) while it is answered.
	MaxServing = 64
	// DefaultTimeout is used when GetOptions.Timeout is zero.
	DefaultTimeout = 2 * time.Minute
	// BanScore: peers whose score is at or below it are not used as sources.
	BanScore = -200

	idleTimeout = 60 * time.Second
	// maxStreamsPerIP and maxServingPerIP bound open streams and requests
	// in service from one remote address (IPv4 address or IPv6 /64;
	// loopback exempt), however many peer IDs it uses.
	maxStreamsPerIP = 4 * MaxStreamsPerPeer
	maxServingPerIP = MaxServing / 2
	connectTimeout  = 15 * time.Second
	limitPiece      = 64 << 10
	commitEvery     = 32
	commitInterval  = 250 * time.Millisecond
	maxDirDepth     = 64
	parallelFiles   = 4

	scoreChunk    = 1
	scoreMax      = 1000
	scoreBadChunk = -100
	scoreProtocol = -25
	scoreMin      = -1000
)

// Per-source pipelining: each source gets streamsPerSource streams, each
// with up to pipelineDepth requests outstanding. Variables so benchmarks can
// compare settings.
var (
	streamsPerSource = 2
	pipelineDepth    = 4
)

// firstRequestTimeout is how long the server waits for the first request
// on a new stream before closing it (see p2p.FirstRequestTimeout). A
// variable so tests can shorten it.
var firstRequestTimeout = p2p.FirstRequestTimeout

// Errors returned by this package.
var (
	// ErrNotFound may be wrapped by a BlockSource to say it does not hold a
	// block (errors wrapping fs.ErrNotExist are understood too); the server
	// then answers not-found.
	ErrNotFound = errors.New("transfer: not found")
	// ErrNoProviders is returned (wrapped) by [Service.Get] when no provider
	// delivered the manifest or a chunk within the timeout. The partial
	// download (NAME.part and its record) is kept for the next attempt.
	ErrNoProviders = errors.New("transfer: no provider could deliver the content")
	// ErrBusy is returned (wrapped) by [Service.Get] instead of a bare
	// ErrNoProviders when some provider's last answer was busy (it holds
	// the content but refused for load): trying again later may succeed.
	// It wraps ErrNoProviders.
	ErrBusy = fmt.Errorf("%w: the providers are busy", ErrNoProviders)
	// ErrUnsafeName is returned (wrapped) by [Service.Get] when a folder
	// manifest holds a name that is invalid or would escape the output.
	ErrUnsafeName = errors.New("transfer: unsafe name in folder manifest")
	// ErrExists is returned (wrapped) by [Service.Get] when the output path
	// exists with other content; Get never overwrites a file.
	ErrExists = errors.New("transfer: output exists with other content")
	// ErrBadContent is returned (wrapped) by [Service.Get] for an id it
	// cannot download (not a file, folder or chunk id) or a manifest whose
	// layout is out of bounds.
	ErrBadContent = errors.New("transfer: bad content")
	// ErrInProgress is returned (wrapped) by [Service.Get] when another Get
	// of this Service is already writing to the same output path.
	ErrInProgress = errors.New("transfer: a download to this path is in progress")
	// ErrServing is returned by [Service.Serve] when it is already running.
	ErrServing = errors.New("transfer: already serving")
	// ErrTooBig is returned (wrapped) by [Service.Get] when the content
	// holds more files and folders (every folder expanded) or more bytes
	// than GetOptions allows; nothing has been written then.
	ErrTooBig = errors.New("transfer: content over the download's limits")
	// ErrBadLimit is returned by [Service.SetLimits] for a negative rate
	// limit.
	ErrBadLimit = errors.New("transfer: negative rate limit")
	// ErrRefused is returned (wrapped) by [Service.Get] for content this
	// node's own [Policy] refuses, before anything is fetched. A
	// BlockSource wraps it to have the server refuse a block.
	ErrRefused = errors.New("transfer: refused by this node's content policy")
	// ErrRefusedByPeer is returned (wrapped) by [Service.Get] when the
	// providers that answered refused the content by their content policy
	// and none delivered it.
	ErrRefusedByPeer = errors.New("transfer: refused by the serving peer's content policy")
)

// BlockSource supplies the bytes this node serves. share.Service implements
// it.
type BlockSource interface {
	// Manifest returns the encoded manifest named id, or an error wrapping
	// ErrNotFound (or fs.ErrNotExist) when absent.
	Manifest(ctx context.Context, id cid.Cid) ([]byte, error)
	// Chunk returns the verified bytes of chunk id, possibly in buf.
	Chunk(ctx context.Context, id cid.Cid, buf []byte) ([]byte, error)
}

// ProviderFinder finds peers that may hold a block. The node implements it
// with the DHT, LAN peers and connected peers.
type ProviderFinder interface {
	FindProviders(ctx context.Context, id cid.Cid) ([]peer.AddrInfo, error)
}

// Seeder is told about each completed download, so the node serves it.
// share.Service implements it. For a folder, files holds the manifests
// of the files the download wrote and verified (keyed by slash-separated
// path below path), so the seeder need not hash them again; it may be
// empty.
type Seeder interface {
	AddDownloaded(ctx context.Context, path string, id cid.Cid, manifest []byte, files map[string]*content.FileManifest) error
}

// Config configures a Service. Host is required; the other fields are
// optional.
type Config struct {
	// Host is the libp2p host to serve on and download with.
	Host host.Host
	// Source supplies what Serve serves; nil serves nothing (every request
	// is answered not-found).
	Source BlockSource
	// Finder finds providers for Get; nil means Get fails with
	// ErrNoProviders after its timeout.
	Finder ProviderFinder
	// Seeder, if set, is told about each completed download.
	Seeder Seeder
	// DB, if set, holds durable download records instead of NAME.part.state
	// sidecar files.
	DB *store.DB
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
	// MaxUpload and MaxDownload limit bytes per second over all peers;
	// 0 means unlimited.
	MaxUpload, MaxDownload int64
	// Meter, if set, is told about the chunk bytes served to each peer and
	// the verified chunk bytes received from each peer.
	Meter Meter
	// Priority, if set, ranks the peers competing for the upload limit:
	// while a peer of a higher class is waiting or was served moments ago,
	// peers of lower classes wait. Nil: every peer is class 0. Only
	// MaxUpload is affected; without it upload is not scarce.
	Priority func(peer.ID) int
	// Policy, if set, is the node's content policy: Serve refuses the
	// manifests and chunks it names (answering "refused", which the
	// getter reports as [ErrRefusedByPeer]), and Get refuses to download
	// them ([ErrRefused]).
	Policy Policy
}

// Policy decides what content the node refuses to store or serve. The
// node implements it with internal/policy's denylists.
type Policy interface {
	// Refuses reports whether id is refused. It is called on the data
	// path, so it must be cheap.
	Refuses(id cid.Cid) bool
}

// refuses reports whether the node's policy refuses id.
func (s *Service) refuses(id cid.Cid) bool {
	return s.cfg.Policy != nil && s.cfg.Policy.Refuses(id)
}

// Meter counts traffic per peer. Its methods are called from many
// goroutines on the data path, so they must be cheap and must not block.
type Meter interface {
	// Sent is called after n chunk bytes were written to p's stream.
	Sent(p peer.ID, n int)
	// Received is called after n chunk bytes from p passed verification.
	Received(p peer.ID, n int)
}

// Service serves blocks and downloads content. Create it with [New].
type Service struct {
	cfg     Config
	log     *slog.Logger
	up      atomic.Pointer[limiter] // nil: unlimited
	down    atomic.Pointer[limiter]
	limitMu sync.Mutex // serialises SetLimits
	maxUp   int64
	maxDown int64
	bufs    sync.Pool // *[]byte of content.DefaultChunkSize
	scoreMu sync.Mutex
	scores  map[peer.ID]int
	// peerReport is the function [Service.OnPeerReport] set, or nil.
	peerReport atomic.Pointer[func(p peer.ID, ok bool)]

	serveMu sync.Mutex
	serving bool
	streams *peerlimit.Slots // open streams
	inServe *peerlimit.Slots // requests in service

	outMu   sync.Mutex
	outputs map[string]bool // absolute output paths of Gets running
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Host == nil {
		return nil, errors.New("transfer: Config.Host is required")
	}
	if cfg.MaxUpload < 0 || cfg.MaxDownload < 0 {
		return nil, errors.New("transfer: negative rate limit")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:     cfg,
		log:     log,
		scores:  make(map[peer.ID]int),
		outputs: make(map[string]bool),
	}
	s.streams, s.inServe = newServeSlots()
	s.SetLimits(cfg.MaxUpload, cfg.MaxDownload)
	return s, nil
}

// SetLimits replaces the upload and download limits, in bytes per second
// over all peers (0: unlimited). Chunks already waiting finish under the old
// limits; every later chunk uses the new ones.
func (s *Service) SetLimits(maxUpload, maxDownload int64) error {
	if maxUpload < 0 || maxDownload < 0 {
		return ErrBadLimit
	}
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	s.up.Store(newLimiter(maxUpload, s.cfg.Priority))
	s.down.Store(newLimiter(maxDownload, nil))
	s.maxUp, s.maxDown = maxUpload, maxDownload
	return nil
}

// Limits returns the upload and download limits in bytes per second
// (0: unlimited).
func (s *Service) Limits() (maxUpload, maxDownload int64) {
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	return s.maxUp, s.maxDown
}

// PeerScore returns the score of p: +1 per verified chunk it sent, -100 per
// chunk that failed verification, -25 per protocol violation, bounded to
// [-1000, 1000]. Peers at or below BanScore are not used as sources.
func (s *Service) PeerScore(p peer.ID) int {
	s.scoreMu.Lock()
	defer s.scoreMu.Unlock()
	return s.scores[p]
}

// PeerScores returns a copy of all non-zero peer scores.
func (s *Service) PeerScores() map[peer.ID]int {
	s.scoreMu.Lock()
	defer s.scoreMu.Unlock()
	out := make(map[peer.ID]int, len(s.scores))
	for p, v := range s.scores {
		out[p] = v
	}
	return out
}

// OnPeerReport sets f to be told, as each [Service.Get] ends, how each
// peer did in it: ok for a peer that delivered verified chunks, not ok for
// one that sent a bad chunk or manifest or broke the protocol (the peers
// scored down). The search service ranks peers' answers by it. f must not
// block; nil stops the reports. It is a method rather than a Config field
// because the consumer (search) is built after transfer, which it needs.
func (s *Service) OnPeerReport(f func(p peer.ID, ok bool)) {
	if f == nil {
		s.peerReport.Store(nil)
		return
	}
	s.peerReport.Store(&f)
}

func (s *Service) addScore(p peer.ID, delta int) {
	s.scoreMu.Lock()
	defer s.scoreMu.Unlock()
	v := s.scores[p] + delta
	v = min(max(v, scoreMin), scoreMax)
	s.scores[p] = v
}

func (s *Service) banned(p peer.ID) bool { return s.PeerScore(p) <= BanScore }

// getBuf returns a pooled buffer of at least n bytes.
func (s *Service) getBuf(n int) *[]byte {
	if n <= defaultBuf {
		if b, ok := s.bufs.Get().(*[]byte); ok {
			*b = (*b)[:n]
			return b
		}
		b := make([]byte, n, defaultBuf)
		return &b
	}
	b := make([]byte, n)
	return &b
}

// putBuf returns a buffer from getBuf to the pool.
func (s *Service) putBuf(b *[]byte) {
	if cap(*b) == defaultBuf {
		s.bufs.Put(b)
	}
}

// defaultBuf is the pooled buffer size.
const defaultBuf = content.DefaultChunkSize

// isNotFound reports whether a BlockSource error means "absent".
func isNotFound(err error) bool {
	if errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return true
	}
	var nf interface{ NotFound() bool }
	return errors.As(err, &nf) && nf.NotFound()
}

func errorf(format string, a ...any) error { return fmt.Errorf("transfer: "+format, a...) }
