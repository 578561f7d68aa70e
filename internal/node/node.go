// Package node assembles a peerpath node and does nothing else: it builds
// each service by hand, in dependency order (no dependency-injection
// framework, so the graph is visible in [New]), then the HTTP layer once
// over all of them (internal/httpapi holds every handler), runs them under
// one supervisor ([supervise]) and shuts them down in reverse order. What
// else lives here is glue: small adapters from one service's methods to the
// interface another declares.
//
// Only the commands in cmd/ and the tests import this package.
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/peerpath/peerpath/internal/backup"
	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/contacts"
	"github.com/peerpath/peerpath/internal/events"
	"github.com/peerpath/peerpath/internal/httpapi"
	"github.com/peerpath/peerpath/internal/inbox"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/market"
	"github.com/peerpath/peerpath/internal/meter"
	"github.com/peerpath/peerpath/internal/msg"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/policy"
	"github.com/peerpath/peerpath/internal/publish"
	"github.com/peerpath/peerpath/internal/search"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/storage"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/transfer"
	"github.com/peerpath/peerpath/internal/tunnel"
	"github.com/peerpath/peerpath/internal/webui"
)

// Options configures a Node.
type Options struct {
	// Home is the node's home folder; it is created if missing.
	Home config.Home
	// Config is the effective configuration (file plus flags).
	Config config.Config
	// Logger receives the node's logs. Nil discards them.
	Logger *slog.Logger
	// Version is reported by the status endpoint.
	Version string
	// NewIdentity lets a home that holds state but lost its identity key
	// start with a new identity (see [InitOptions]).
	NewIdentity bool

	// wrapSource, set by this package's tests, wraps the block source the
	// node serves (to make a lying provider).
	wrapSource func(transfer.BlockSource) transfer.BlockSource
}

// ErrLocked is returned by [New] when another daemon holds the home.
var ErrLocked = errors.New("another peerpath daemon is already running with this home")

// ErrIdentityMissing is returned (wrapped, with a message naming the file
// and both ways out) by [InitWith] and [New] when a home that already holds
// a node's state has no identity key. Starting anyway would silently make
// a different node: a new peer ID without the old one's ledger account,
// voter role or listings.
var ErrIdentityMissing = errors.New("node: identity key missing")

// InitOptions configures [InitWith].
type InitOptions struct {
	// NewIdentity creates a new identity key in a home that holds state
	// but has lost its key, instead of refusing. It never replaces an
	// existing key.
	NewIdentity bool
}

// stateFiles are the entries of a home that show a node has run in it.
var stateFiles = []string{config.FileDB, "ledger", "market"}

// checkIdentity refuses a home whose identity key is missing while it
// holds a node's state, unless a new identity was asked for.
func checkIdentity(home config.Home, opts InitOptions) error {
	key := home.Path(config.FileIdentity)
	if _, err := os.Lstat(key); !errors.Is(err, os.ErrNotExist) || opts.NewIdentity {
		return nil // present (or unreadable: loading it says why), or a new one on purpose
	}
	for _, name := range stateFiles {
		if _, err := os.Lstat(home.Path(name)); err == nil {
			return fmt.Errorf("%w: %s does not exist, but this home already holds a node's state (%s). "+
				"Starting would make a new node with a new peer ID, without this node's credits, ledger voter role or listings. "+
				"Restore identity.key from a backup, or, to start afresh with a new identity on purpose, run again with --new-identity",
				ErrIdentityMissing, key, home.Path(name))
		}
	}
	return nil
}

// Node is a running peerpath node.
type Node struct {
	opts      Options
	log       *slog.Logger
	home      config.Home
	lock      *os.File
	db        *store.DB
	p2p       *p2p.Node
	api       *httpapi.Server
	apiLn     net.Listener
	reg       *prometheus.Registry
	started   time.Time
	private   bool
	token     string // the API token, read once at start
	share     *share.Service
	transfer  *transfer.Service
	downloads *transfer.Queue
	ledger    *ledger.Service
	wallet    *ledger.Wallet // this node's account: signs and submits its transfers
	meter     *meter.Meter
	search    *search.Service
	compute   *compute.Service
	market    *market.Service
	msg       *msg.Service
	runner    *sandbox.Runner
	sessions  *webui.Sessions
	storage   *storage.Service
	backup    *backup.Service
	policy    *policy.Policy
	publish   *publish.Service
	events    *events.Bus      // live events, streamed to the web app
	history   *httpapi.History // recent bandwidth and peers, for Home
	watch     *httpapi.Watch   // downloads and compute as live events
	tunnel    *tunnel.Service
	contacts  *contacts.Service
	inbox     *inbox.Service
	// recipients lets share serve a sent file to its recipient only.
	recipients recipients

	closeOnce sync.Once
}

// Init is [InitWith] with no options.
func Init(home config.Home) (peer.ID, error) { return InitWith(home, InitOptions{}) }

// InitWith creates the home if needed: the folder (0700), the identity key
// (0600), the API token (0600) and a commented config file with every
// default. Existing files are kept. It returns the node's peer ID. A home
// that holds state (a database, a ledger) but no identity key is refused
// with [ErrIdentityMissing] unless opts.NewIdentity is set.
func InitWith(home config.Home, opts InitOptions) (peer.ID, error) {
	if err := os.MkdirAll(string(home), 0o700); err != nil {
		return "", fmt.Errorf("node: create home: %w", err)
	}
	if err := checkIdentity(home, opts); err != nil {
		return "", err
	}
	key, err := p2p.LoadOrCreateIdentity(home.Path(config.FileIdentity))
	if err != nil {
		return "", err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("node: identity: %w", err)
	}
	if _, err := os.Stat(home.Path(config.FileConfig)); errors.Is(err, os.ErrNotExist) {
		if err := store.WriteFileAtomic(home.Path(config.FileConfig), config.Render(config.Default()), 0o600); err != nil {
			return "", fmt.Errorf("node: write config: %w", err)
		}
	}
	if _, err := readToken(home); errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 32)
		rand.Read(b)
		if err := store.WriteFileAtomic(home.Path(config.FileToken), []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("node: write api token: %w", err)
		}
	} else if err != nil {
		return "", err
	}
	return id, nil
}

func readToken(home config.Home) (string, error) {
	b, err := os.ReadFile(home.Path(config.FileToken))
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("node: %s is empty", home.Path(config.FileToken))
	}
	return tok, nil
}

// New builds a node: it takes the home's lock, opens the database, starts
// the libp2p host and binds the API listener. Call [Node.Serve] to run it.
func New(ctx context.Context, opts Options) (_ *Node, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{opts: opts, log: opts.Logger, home: opts.Home, started: time.Now(), events: events.New()}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if _, err := InitWith(opts.Home, InitOptions{NewIdentity: opts.NewIdentity}); err != nil {
		return nil, err
	}
	if err := n.takeLock(); err != nil {
		return nil, err
	}
	n.token, err = readToken(opts.Home)
	if err != nil {
		return nil, fmt.Errorf("node: api token: %w", err)
	}
	key, err := p2p.LoadIdentity(opts.Home.Path(config.FileIdentity))
	if err != nil {
		return nil, err
	}
	cfg := opts.Config

	pcfg := p2p.Config{
		Identity:       key,
		ListenAddrs:    cfg.Listen,
		Bootstrap:      cfg.Bootstrap,
		MDNS:           !cfg.NoMDNS,
		NoPortMap:      cfg.NoPortMap,
		NoRelayService: cfg.NoRelayService,
		Logger:         n.log.With("sys", "p2p"),
	}
	if cfg.SwarmKey != "" {
		pcfg.SwarmKey, err = os.ReadFile(cfg.SwarmKey)
		if err != nil {
			return nil, fmt.Errorf("node: swarm key: %w", err)
		}
		n.private = true
	}
	if cfg.AllowPeers != "" {
		pcfg.AllowPeers, err = p2p.ReadAllowPeers(cfg.AllowPeers)
		if err != nil {
			return nil, err
		}
	}

	n.apiLn, err = net.Listen("tcp", cfg.API)
	if err != nil {
		return nil, fmt.Errorf("node: api listen on %s: %w", cfg.API, err)
	}

	n.db, err = store.Open(opts.Home.Path(config.FileDB))
	if err != nil {
		return nil, err
	}

	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	n.p2p, err = p2p.New(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	if err := n.p2p.RegisterMetrics(n.reg); err != nil {
		return nil, fmt.Errorf("node: metrics: %w", err)
	}

	// Every service, in dependency order: each is built from the ones
	// before it, and none reaches one built after it. Two links run the
	// other way and are set once both ends exist: share tells search of
	// its changes, transfer tells search how peers did.
	if err := n.newLedger(ctx); err != nil {
		return nil, err
	}
	if err := n.newMeter(ctx); err != nil {
		return nil, err
	}
	if err := n.newStorage(ctx); err != nil {
		return nil, err
	}
	if err := n.newPolicy(); err != nil {
		return nil, err
	}
	if err := n.newPublish(ctx); err != nil {
		return nil, err
	}
	if err := n.newFiles(ctx); err != nil {
		return nil, err
	}
	if err := n.newSearch(ctx); err != nil {
		return nil, err
	}
	n.share.OnChange(n.search.Refresh)
	n.transfer.OnPeerReport(n.search.RecordDownload)
	if err := n.newCompute(ctx); err != nil {
		return nil, err
	}
	if n.market, err = n.newMarket(ctx); err != nil {
		return nil, err
	}
	if err := n.newContacts(ctx); err != nil {
		return nil, err
	}
	if err := n.newMsg(ctx); err != nil {
		return nil, err
	}
	if err := n.newTunnel(); err != nil {
		return nil, err
	}
	n.sessions = webui.NewSessions(webui.CookieName(n.apiLn.Addr().(*net.TCPAddr).Port))
	n.history = httpapi.NewHistory(n.p2p, n.events, httpapi.HistoryInterval, httpapi.HistoryLength)
	n.watch = httpapi.NewWatch(n.downloads, savedCompute{n.compute, n.home, n.log.With("sys", "compute")}, n.events, httpapi.WatchInterval)

	// Then the HTTP layer, once, over all of them.
	bindHost, _, _ := net.SplitHostPort(cfg.API)
	n.api = httpapi.New(httpapi.Config{
		Token:    n.token,
		Logger:   n.log.With("sys", "api"),
		Gatherer: n.reg,
		BindHost: bindHost,
		Services: httpapi.Services{
			Self: n.p2p,
			Info: httpapi.Info{
				Version: opts.Version,
				Started: n.started,
				Private: n.private,
				Seeding: !cfg.NoSeed,
				BaseURL: n.APIURL(),
			},
			Shares:    n.share,
			Transfer:  n.transfer,
			Limits:    savedLimits{home: n.home, tr: n.transfer},
			Downloads: n.downloads,
			Search:    n.search,
			Ledger:    n.ledger,
			Wallet:    n.wallet,
			Meter:     n.meter,
			Compute:   savedCompute{n.compute, n.home, n.log.With("sys", "compute")},
			Market:    n.market,
			Msg:       n.msg,
			UI:        n.sessions,
			Storage:   n.storage,
			Backup:    n.backup,
			Publish:   n.publish,
			Events:    n.events,
			History:   n.history,
			Tunnel:    n.tunnel,
			Contacts:  n.contacts,
			Inbox:     n.inbox,
			Policy:    n.policy,
		},
	})
	return n, nil
}

// newMeter builds the traffic and compute meter; its payments settle
// through the ledger, so it comes after newLedger.
func (n *Node) newMeter(ctx context.Context) error {
	cfg := n.opts.Config
	var price int64
	if cfg.PricePerGiB != "" {
		p, err := ledger.ParseCredits(cfg.PricePerGiB)
		if err != nil || p < 0 {
			return fmt.Errorf("node: price_per_gib %q: want a number of credits, 0 or more", cfg.PricePerGiB)
		}
		price = p
	}
	receiptEvery, settleEvery := cfg.Durations()
	m, err := meter.New(ctx, meter.Config{
		Host:         n.p2p.Host(),
		DB:           n.db,
		Key:          n.p2p.Host().Peerstore().PrivKey(n.ID()),
		PricePerGiB:  price,
		Submit:       n.ledger.Submit,
		Logger:       n.log.With("sys", "meter"),
		ReceiptEvery: receiptEvery,
		SettleEvery:  settleEvery,
	})
	if err != nil {
		return err
	}
	n.meter = m
	return nil
}

// newSearch builds the search service over the public share catalog;
// claims of peers not yet trusted are checked against the manifests they
// really serve (transfer fetches them).
func (n *Node) newSearch(ctx context.Context) error {
	s, err := search.New(ctx, search.Config{
		Host:    n.p2p.Host(),
		Routing: n.p2p.DHT(),
		DB:      n.db,
		Catalog: publicCatalog{n.share, n.computeDir(), n.marketDir()},
		Fetcher: n.transfer,
		Policy:  n.policy,
		Logger:  n.log.With("sys", "search"),
	})
	if err != nil {
		return err
	}
	n.search = s
	return nil
}

// LoginURL returns a fresh one-time login URL of the web app.
func (n *Node) LoginURL() string {
	return n.APIURL() + "/ui/login?code=" + n.sessions.NewCode()
}

// takeLock holds an exclusive flock on HOME/daemon.lock for the node's life.
func (n *Node) takeLock() error {
	f, err := os.OpenFile(n.home.Path(config.FileLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("node: lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		b := make([]byte, 32)
		k, _ := f.ReadAt(b, 0)
		f.Close()
		pid := strings.TrimSpace(string(b[:k]))
		if pid != "" {
			return fmt.Errorf("%w (pid %s, home %s)", ErrLocked, pid, n.home)
		}
		return fmt.Errorf("%w (home %s)", ErrLocked, n.home)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	n.lock = f
	// An api file left by a daemon that was killed is stale: we hold the lock.
	os.Remove(n.home.Path(config.FileAPI))
	return nil
}

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.p2p.ID() }

// P2P returns the node's libp2p layer.
func (n *Node) P2P() *p2p.Node { return n.p2p }

// APIURL returns the API's base URL, e.g. http://127.0.0.1:5101.
func (n *Node) APIURL() string { return "http://" + n.apiLn.Addr().String() }

// Token returns the API token.
func (n *Node) Token() string { return n.token }

// Serve runs the node until ctx is done or a subsystem fails for good,
// then shuts everything down. Every subsystem runs under one supervisor
// ([supervise]), which restarts the ones that can be restarted and names
// the one that failed. While it runs, HOME/api holds the API's base URL.
func (n *Node) Serve(ctx context.Context) error {
	defer n.close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	done := make(chan error, 1)
	go func() { done <- supervise(ctx, n.log, n.services()) }()

	if err := store.WriteFileAtomic(n.home.Path(config.FileAPI), []byte(n.APIURL()+"\n"), 0o600); err != nil {
		cancel(fmt.Errorf("node: write api file: %w", err))
	} else {
		n.log.Info("node ready", "id", n.ID().String(), "api", n.APIURL(), "addrs", n.p2p.Addrs())
	}
	var err error
	select {
	case <-ctx.Done():
		os.Remove(n.home.Path(config.FileAPI))
		err = <-done
	case err = <-done:
		os.Remove(n.home.Path(config.FileAPI))
	}
	if err != nil {
		return err
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// services lists the node's long-lived parts for the supervisor; restart
// marks those whose Serve may run again after a failure.
func (n *Node) services() []service {
	return []service{
		{name: "p2p", serve: n.p2p.Serve},
		{name: "share", serve: n.share.Serve, restart: true},
		{name: "transfer", serve: n.transfer.Serve, restart: true},
		{name: "meter", serve: n.meter.Serve, restart: true},
		{name: "storage", serve: n.storage.Serve, restart: true},
		{name: "publish", serve: n.publish.Serve, restart: true},
		{name: "ledger", serve: n.ledger.Serve},
		{name: "search", serve: n.search.Serve},
		{name: "compute", serve: n.compute.Serve, restart: true},
		{name: "market", serve: n.market.Serve, restart: true},
		{name: "tunnel", serve: n.tunnel.Serve},
		{name: "msg", serve: n.msg.Serve},
		{name: "downloads", serve: n.downloads.Serve},
		{name: "history", serve: n.history.Serve, restart: true},
		{name: "watch", serve: n.watch.Serve, restart: true},
		{name: "contacts", serve: n.contacts.Serve, restart: true},
		{name: "inbox", serve: n.inbox.Serve, restart: true},
		{name: "api", serve: func(ctx context.Context) error { return n.api.Serve(ctx, n.apiLn) }},
	}
}

// close releases everything New acquired, in reverse order.
func (n *Node) close() {
	n.closeOnce.Do(func() {
		if n.apiLn != nil {
			n.apiLn.Close()
		}
		if n.runner != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			n.runner.Close(ctx)
			cancel()
		}
		if n.ledger != nil {
			n.ledger.Close()
		}
		if n.tunnel != nil {
			n.tunnel.Close()
		}
		if n.p2p != nil {
			if err := n.p2p.Close(); err != nil {
				n.log.Warn("closing p2p", "err", err)
			}
		}
		if n.db != nil {
			n.db.Close()
		}
		if n.lock != nil {
			n.lock.Close() // releases the flock
		}
	})
}
