package httpapi

import (
	"context"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/market"
	"github.com/peerpath/peerpath/internal/meter"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/search"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// Services are the subsystems the API serves, each behind a small
// interface declared here (the consumer) and implemented by the service
// itself or by a few lines of glue in node. A nil field means the node runs
// without that subsystem: its routes answer 503 with [ErrNotEnabled], in
// one place ([Server.mount]) rather than in every handler.
type Services struct {
	// Self is the node's libp2p layer (*p2p.Node).
	Self Self
	// Info holds the facts /api/v1/status reports beside its subsystems'.
	Info Info
	// Shares is the sharing catalog (*share.Service).
	Shares Shares
	// Transfer downloads content (*transfer.Service).
	Transfer Transfer
	// Limits reads and changes the bandwidth limits (the node saves them
	// in its config file before it applies them).
	Limits Limits
	// Downloads is the queue of background downloads.
	Downloads Downloads
	// Search is the search service (*search.Service).
	Search Search
	// Ledger is the credits ledger (*ledger.Service).
	Ledger Ledger
	// Wallet signs and submits this node's own transfers.
	Wallet Wallet
	// Meter is the traffic and compute meter.
	Meter Meter
	// Compute runs jobs (*compute.Service).
	Compute Compute
	// Market is the market (*market.Service).
	Market Market
	// UI is the web app's sessions (*webui.Sessions).
	UI UI
	// Events is the node's event bus (*events.Bus), streamed by
	// GET /api/v1/events.
	Events Events
	// History keeps the recent samples GET /api/v1/history serves (nil:
	// that route answers 503).
	History *History
	// Tunnel shares local TCP services with chosen peers
	// (*tunnel.Service).
	Tunnel Tunnel
	// Contacts is the address book, names and neighbours
	// (*contacts.Service); it also resolves every route's peer argument.
	Contacts Contacts
	// Inbox sends and receives files (*inbox.Service).
	Inbox Inbox
	// Msg is the messages service (*msg.Service).
	Msg Msg
	// Storage is the storage layer (*storage.Service).
	Storage Storage
	// Backup is the backup service (*backup.Service).
	Backup Backup
	// Policy is the content policy (*policy.Policy).
	Policy Policy
	// Publish is the publishing service (*publish.Service).
	Publish Publish
}

// Info holds what the node knows of itself beyond its subsystems.
type Info struct {
	// Version is the daemon's version.
	Version string
	// Started is when the node started.
	Started time.Time
	// Private reports a private network (a swarm key).
	Private bool
	// Seeding reports whether downloads are seeded.
	Seeding bool
	// BaseURL is the API's base URL, for the web app's login links.
	BaseURL string
}

// Self is the node's libp2p layer: who it is, whom it is connected to.
type Self interface {
	ID() peer.ID
	Addrs() []string
	Peers() []p2p.PeerInfo
	Status() p2p.Status
	Connect(ctx context.Context, addr string) error
	// Disconnect closes every connection to id.
	Disconnect(id peer.ID) error
}

// Shares is the sharing catalog.
type Shares interface {
	Add(ctx context.Context, path string) (share.Share, error)
	Remove(ctx context.Context, path string) error
	List(ctx context.Context) ([]share.Share, error)
	// ListAll includes the node's internal files.
	ListAll(ctx context.Context) ([]share.Share, error)
	Indexing() (share.IndexProgress, bool)
	AnnounceProgress() (done, total int)
}

// Transfer downloads content by id.
type Transfer interface {
	Get(ctx context.Context, id cid.Cid, opt transfer.GetOptions) (transfer.Result, error)
}

// Limits reads and changes the bandwidth limits, in bytes per second (0:
// unlimited). SetLimits returns an error that [statusOf] maps to 400 for
// limits it refuses.
type Limits interface {
	Limits() (maxUpload, maxDownload int64)
	SetLimits(maxUpload, maxDownload int64) error
}

// Search is the search service.
type Search interface {
	Search(ctx context.Context, query string, opt search.Options, emit func(search.Result)) error
	Block(ctx context.Context, p peer.ID) error
	Unblock(ctx context.Context, p peer.ID) error
	Blocked(ctx context.Context) ([]peer.ID, error)
}

// Ledger is the credits ledger, read and administered.
type Ledger interface {
	Balance(ctx context.Context, account string) (int64, error)
	History(ctx context.Context, account string, limit int) ([]ledger.Transfer, error)
	Status(ctx context.Context) (ledger.Status, error)
	Create(ctx context.Context, voters []peer.ID, genesis ledger.Genesis) error
	AddVoter(ctx context.Context, id peer.ID) error
	RemoveVoter(ctx context.Context, id peer.ID) error
}

// Wallet signs transfers as this node's account and submits them.
type Wallet interface {
	// Account is the wallet's account (the node's peer ID).
	Account() string
	// Submit completes t for the wallet's account (From, a fresh ID if
	// empty, the time), signs and submits it.
	Submit(ctx context.Context, t ledger.Transfer) (ledger.Receipt, error)
}

// Meter is the traffic and compute meter.
type Meter interface {
	Receipts(ctx context.Context) (meter.ReceiptCounts, error)
	Usage() []meter.PeerUsage
	PricePerGiB() int64
}

// Compute runs jobs and the local worker.
type Compute interface {
	Submit(ctx context.Context, spec compute.JobSpec) (string, error)
	Jobs(ctx context.Context) ([]compute.JobStatus, error)
	Status(ctx context.Context, id string) (compute.JobStatus, error)
	Results(ctx context.Context, id string) (map[int][]byte, error)
	Cancel(ctx context.Context, id string) error
	WorkerStatus() compute.WorkerStatus
	SetWorker(cfg compute.WorkerConfig)
}

// Market is the market of files for credits.
type Market interface {
	Sell(ctx context.Context, req market.SellRequest) (market.SellResult, error)
	Listings() []market.OwnListing
	Withdraw(ctx context.Context, id string) error
	Sponsor(ctx context.Context, id string, amount int64) error
	Search(ctx context.Context, query string, within time.Duration) ([]market.SearchResult, market.SearchStats, error)
	Buy(ctx context.Context, listingID, out string) (market.BuyResult, error)
	Orders(ctx context.Context) ([]market.OrderInfo, error)
	Rate(ctx context.Context, orderID string, stars int, comment string) error
	Refund(ctx context.Context, orderID string) error
	Seller(ctx context.Context, seller string) (market.SellerInfo, error)
	Check(ctx context.Context, l *market.Listing) (ledger.MarketListing, error)
}

// UI is the web app and its sessions.
type UI interface {
	// Valid reports whether r carries a valid session cookie.
	Valid(r *http.Request) bool
	// NewCode returns a one-time login code.
	NewCode() string
	LoginHandler() http.Handler
	AppHandler() http.Handler
	LogoutHandler() http.Handler
}

// route is one API route: a Func, or a raw handler that writes its answer
// itself (a file).
type route struct {
	pattern string
	fn      Func
	raw     http.Handler
	public  bool // needs no token (the web app's page and login)
}

// mount registers the routes of every service; a nil service's routes all
// answer [ErrNotEnabled].
func (s *Server) mount(svc Services) {
	// Go's profiler, behind the same token as the API, for operators and
	// for performance work: go tool pprof -H "Authorization: Bearer …"
	// is not supported, so fetch with curl and open the file.
	s.Handle("GET /debug/pprof/", http.HandlerFunc(pprof.Index))
	s.Handle("GET /debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	s.Handle("GET /debug/pprof/trace", http.HandlerFunc(pprof.Trace))

	// Names of content ids seen in search results, for downloads started
	// from an id alone.
	nm := newNames()
	s.mountArea(svc.Self != nil, nodeRoutes(svc))
	s.mountArea(svc.Shares != nil, shareRoutes(svc.Shares))
	s.mountArea(svc.Transfer != nil, getRoutes(svc.Transfer, nm, svc.Shares))
	s.mountArea(svc.Limits != nil, (&limitsAPI{l: svc.Limits, log: s.cfg.Logger}).routes())
	s.mountArea(svc.Downloads != nil, downloadRoutes(s, svc.Downloads, nm, svc.Shares))
	// Blocking a peer also disconnects it (Self); the wallet routes need
	// the node's own account (Wallet).
	s.mountArea(svc.Search != nil && svc.Self != nil, searchRoutes(svc.Search, svc.Self, nm))
	s.mountArea(svc.Ledger != nil && svc.Wallet != nil, ledgerRoutes(svc.Ledger, svc.Wallet))
	s.mountArea(svc.Meter != nil, meterRoutes(svc.Meter, svc.Tunnel))
	s.mountArea(svc.Tunnel != nil, tunnelRoutes(svc.Tunnel))
	s.mountArea(svc.Compute != nil, computeRoutes(svc.Compute))
	s.mountArea(svc.Market != nil, marketRoutes(s, svc.Market))
	s.mountArea(svc.UI != nil, uiRoutes(svc.UI, svc.Info.BaseURL))
	s.mountArea(svc.Storage != nil, storageRoutes(svc.Storage))
	s.mountArea(svc.Backup != nil, backupRoutes(svc.Backup))
	s.mountArea(svc.Policy != nil, policyRoutes(svc.Policy))
	s.mountArea(svc.Publish != nil, publishRoutes(svc.Publish))
	s.mountArea(svc.Events != nil, eventRoutes(svc.Events, svc.History))
	s.mountArea(svc.Contacts != nil && svc.Self != nil, contactRoutes(svc.Contacts, svc.Self))
	s.mountArea(svc.Inbox != nil, inboxRoutes(svc.Inbox, svc.Contacts))
	if svc.Contacts != nil {
		s.resolver = svc.Contacts
	}
	s.mountArea(svc.Msg != nil, msgRoutes(svc.Msg))
	if svc.UI != nil {
		s.SetSessionCheck(svc.UI.Valid)
	}
}

// mountArea registers routes, or, when their service is missing, the same
// patterns answering 503.
func (s *Server) mountArea(enabled bool, routes []route) {
	for _, rt := range routes {
		switch {
		case !enabled:
			s.HandleFunc(rt.pattern, notEnabled)
		case rt.public:
			s.HandlePublic(rt.pattern, rt.raw)
		case rt.raw != nil:
			s.Handle(rt.pattern, rt.raw)
		default:
			s.HandleFunc(rt.pattern, rt.fn)
		}
	}
}

func notEnabled(http.ResponseWriter, *http.Request) (any, error) { return nil, ErrNotEnabled }
