package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/node"
)

// sampleFiles are the demo's shared files, spread over the peers.
var sampleFiles = [][]string{
	{"Music/The Beatles - Hey Jude.mp3", "Music/Beyoncé - Halo.mp3", "Music/Miles Davis - So What.flac"},
	{"Books/Moby Dick - Herman Melville.txt", "Photos/Lighthouse at dusk.png", "Music/The Beatles - Let It Be.mp3"},
	{"Software/peerpath-demo-tool.tar.gz", "Music/Nina Simone - Feeling Good.ogg"},
}

// demoSamples gives the demo something to look at: shared files on the
// peers, a ledger with credits for everyone (peer 1 is its voter), and,
// when the Go toolchain and the examples are at hand, a Mandelbrot job.
func demoSamples(ctx context.Context, out io.Writer, dir string, nodes []*node.Node) {
	clients := make([]*api.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = api.NewClient(n.APIURL(), n.Token())
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdle()
		}
	}()

	// Shared files.
	for i, files := range sampleFiles {
		if len(nodes) < 2 {
			break
		}
		k := 1 + i%(len(nodes)-1) // peers 2..N share, peer 1 searches
		root := filepath.Join(dir, "samples", fmt.Sprintf("peer%d", k+1))
		for _, f := range files {
			p := filepath.Join(root, f)
			os.MkdirAll(filepath.Dir(p), 0o755)
			b := make([]byte, 64<<10+len(f)*1000)
			rand.Read(b)
			os.WriteFile(p, b, 0o644)
		}
		for _, top := range topFolders(files) {
			if s, err := clients[k].AddShare(ctx, filepath.Join(root, top)); err == nil {
				fmt.Fprintf(out, "peer %d shares %s (%d %s)\n", k+1, s.Name, s.Files, map[bool]string{true: "file", false: "files"}[s.Files == 1])
			}
		}
	}

	// A ledger: peer 1 is the voter; everyone starts with 100 credits;
	// payments pay a 1% fee to the ledger's operator, an account of its
	// own (so each peer's wallet statement shows the fees it paid).
	balances := map[string]any{}
	for _, n := range nodes {
		balances[n.ID().String()] = 100
	}
	genesis := map[string]any{"balances": balances, "fee_bps": 100}
	if k, _, err := crypto.GenerateEd25519Key(rand.Reader); err == nil {
		if id, err := peer.IDFromPrivateKey(k); err == nil {
			genesis["operator"] = id.String()
		}
	}
	if genesis["operator"] == nil {
		delete(genesis, "fee_bps")
	}
	g, _ := json.Marshal(genesis)
	if err := clients[0].LedgerCreate(ctx, api.LedgerCreateRequest{Voters: []string{nodes[0].ID().String()}, Genesis: g}); err != nil {
		fmt.Fprintln(out, "demo: no ledger:", err)
	} else {
		fmt.Fprintln(out, "ledger ready: every peer holds 100 credits (peer 1 is the voter); payments pay a 1% fee to the ledger's operator")
	}

	// A sample listing: peer 2 sells a short story for 5 credits.
	if len(nodes) >= 2 {
		story := filepath.Join(dir, "samples", "The Lighthouse Keeper.txt")
		os.WriteFile(story, []byte(sampleStory), 0o644)
		sold, err := clients[1].MarketSell(ctx, api.MarketSellRequest{
			Path: story, Title: "The Lighthouse Keeper (a short story)", Price: "5",
			Description: "A keeper, a storm and a ship that never came.", Tags: []string{"fiction", "story"},
		})
		if err != nil {
			fmt.Fprintln(out, "demo: no sample listing:", err)
		} else {
			fmt.Fprintf(out, "peer 2 sells \"The Lighthouse Keeper\" for 5 credits (listing %s); find it under Market\n", sold.ID)
		}
	}

	if len(nodes) >= 3 {
		demoPeople(ctx, out, dir, nodes, clients)
	}

	// A sample job, if we can build one.
	if id, err := demoJob(ctx, dir, clients[0]); err != nil {
		fmt.Fprintln(out, "demo: no sample job:", err)
	} else {
		fmt.Fprintf(out, "sample job %s: a Mandelbrot image in 16 tiles, running on the other peers' workers\n", id)
	}
}

func topFolders(files []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		top := strings.SplitN(f, "/", 2)[0]
		if !seen[top] {
			seen[top] = true
			out = append(out, top)
		}
	}
	return out
}

// demoJob builds examples/mandelbrot as WebAssembly (when run from the
// repository with Go installed) and submits it.
func demoJob(ctx context.Context, dir string, c *api.Client) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the Go toolchain is not on PATH")
	}
	if _, err := os.Stat("examples/mandelbrot"); err != nil {
		return "", fmt.Errorf("run the demo from the repository root to get the sample job")
	}
	wasm := filepath.Join(dir, "mandelbrot.wasm")
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, goBin, "build", "-o", wasm, "./examples/mandelbrot")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the example: %v: %s", err, b)
	}
	mod, err := os.ReadFile(wasm)
	if err != nil {
		return "", err
	}
	res, err := c.SubmitJob(ctx, api.JobRequest{Module: mod, Count: 16, Reward: "0.1"})
	if err != nil {
		return "", err
	}
	return res.ID, nil
}

const sampleStory = `The Lighthouse Keeper

Every night for forty years the keeper lit the lamp, and every night the
sea answered with its long grey breath. Ships passed and never stopped.
One winter a storm came up from the south and the keeper, who had never
once been late, climbed the stairs at dusk as always. Far out, a light
answered his: a ship, turning for the harbour at last.
`

// demoPeople gives the first three peers names and a life: Ana (peer 1)
// and Bob (peer 2) are each other's contacts and chat; Ana sends Bob a
// file; Carla (peer 3), whom Ana has not added, writes to her (a message
// request) and offers her photos, which wait for Ana's answer on the
// Neighbours page.
func demoPeople(ctx context.Context, out io.Writer, dir string, nodes []*node.Node, cl []*api.Client) {
	ana, bob := nodes[0].ID().String(), nodes[1].ID().String()
	for i, p := range []api.ProfileRequest{{Name: "Ana's laptop", Device: "laptop"}, {Name: "Bob's desktop", Device: "desktop"}, {Name: "Carla's phone", Device: "phone"}} {
		if _, err := cl[i].SetName(ctx, p); err != nil {
			fmt.Fprintln(out, "demo: no names:", err)
			return
		}
	}
	for _, c := range []struct {
		i      int
		id, as string
	}{{0, bob, "Bob"}, {1, ana, "Ana"}, {2, ana, "Ana"}} {
		if _, err := cl[c.i].AddContact(ctx, api.ContactRequest{ID: c.id, Name: c.as}); err != nil {
			fmt.Fprintln(out, "demo: no contacts:", err)
			return
		}
	}
	for _, m := range []struct {
		i        int
		to, text string
	}{
		{1, "Ana", "Hi Ana! The lighthouse story is up on the market."},
		{0, "Bob", "Great, I'll have a look tonight."},
		{1, "Ana", "Tell me what you think of the ending."},
		{2, "Ana", "Hello Ana, it's Carla from the climbing club. Sending you the photos."},
	} {
		if _, err := cl[m.i].MsgSend(ctx, m.to, m.text); err != nil {
			fmt.Fprintln(out, "demo: no messages:", err)
			break
		}
	}
	// Ana sends Bob the notes; Carla's photos wait for Ana's answer.
	notes := filepath.Join(dir, "samples", "Trip notes.txt")
	os.WriteFile(notes, []byte("Day 1: the lighthouse. Day 2: the cliffs.\n"), 0o644)
	if _, err := cl[0].SendFiles(ctx, api.FileSendRequest{To: "Bob", Paths: []string{notes}}); err != nil {
		fmt.Fprintln(out, "demo: no sample send:", err)
	}
	photos := filepath.Join(dir, "samples", "Climbing photos.zip")
	b := make([]byte, 200<<10)
	rand.Read(b)
	os.WriteFile(photos, b, 0o644)
	if _, err := cl[2].SendFiles(ctx, api.FileSendRequest{To: "Ana", Paths: []string{photos}}); err != nil {
		fmt.Fprintln(out, "demo: no sample offer:", err)
	}
	fmt.Fprintln(out, "peers 1-3 are Ana, Bob and Carla: see Chat and Neighbours (Carla's photos wait for Ana's answer)")
}
