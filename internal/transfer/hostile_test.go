package transfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/testutil"
)

// rawStream opens a ProtocolID stream from a fresh host to h.
func rawStream(t *testing.T, h host.Host) network.Stream {
	t.Helper()
	c := newHost(t)
	ctx := testCtx(t, 10*time.Second)
	if err := c.Connect(ctx, addrInfo(h)); err != nil {
		t.Fatal(err)
	}
	st, err := c.NewStream(ctx, h.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Reset() })
	st.SetDeadline(time.Now().Add(10 * time.Second))
	return st
}

func TestServerResponses(t *testing.T) {
	src := newMemSource()
	data := testutil.RandBytes(testChunk + 5)
	fm := src.addFile(data, testChunk)
	_, h := newServer(t, src, 0)
	st := rawStream(t, h)

	// Pipelined: manifest, both chunks, an unknown chunk, a chunk id asked
	// as a manifest; answered in order on one stream.
	unknown := content.ChunkID([]byte("unknown"))
	var req []byte
	req = appendRequest(req, opManifest, fm.ID())
	req = appendRequest(req, opChunk, fm.Chunks[0])
	req = appendRequest(req, opChunk, fm.Chunks[1])
	req = appendRequest(req, opChunk, unknown)
	req = appendRequest(req, opManifest, fm.Chunks[0])
	if _, err := st.Write(req); err != nil {
		t.Fatal(err)
	}
	read := func(min, max int) ([]byte, error) {
		n, err := readResponseHeader(st, min, max)
		if err != nil {
			return nil, err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(st, b)
		return b, err
	}
	if b, err := read(1, content.MaxManifestSize); err != nil || !bytes.Equal(b, fm.Encode()) {
		t.Fatalf("manifest: %v", err)
	}
	if b, err := read(testChunk, testChunk); err != nil || !bytes.Equal(b, data[:testChunk]) {
		t.Fatalf("chunk 0: %v", err)
	}
	if b, err := read(5, 5); err != nil || !bytes.Equal(b, data[testChunk:]) {
		t.Fatalf("chunk 1: %v", err)
	}
	var re *RemoteError
	if _, err := read(0, MaxChunkSize); !errors.As(err, &re) || !re.NotFound() {
		t.Fatalf("unknown chunk: %v", err)
	}
	if _, err := read(0, MaxChunkSize); !errors.As(err, &re) || !re.NotFound() {
		t.Fatalf("chunk as manifest: %v", err)
	}
}

func TestServerRejectsMalformedRequests(t *testing.T) {
	src := newMemSource()
	src.addFile(testutil.RandBytes(100), testChunk)
	for name, req := range map[string][]byte{
		"unknown op":      {9, 4, 1, 2, 3, 4},
		"cid too long":    {opChunk, MaxCIDLen + 1},
		"empty cid":       {opChunk, 0},
		"garbage cid":     {opChunk, 4, 0xff, 0xff, 0xff, 0xff},
		"truncated frame": {opChunk},
	} {
		t.Run(name, func(t *testing.T) {
			_, h := newServer(t, src, 0)
			st := rawStream(t, h)
			if _, err := st.Write(req); err != nil {
				t.Fatal(err)
			}
			st.CloseWrite()
			// The server resets (or closes) the stream without answering.
			b, err := io.ReadAll(st)
			if len(b) != 0 {
				t.Fatalf("server answered %q", b)
			}
			if name != "truncated frame" && err == nil {
				t.Fatal("stream closed cleanly; want a reset")
			}
		})
	}
}

func TestServerBoundsStreamsPerPeer(t *testing.T) {
	src := newMemSource()
	_, h := newServer(t, src, 0)
	c := newHost(t)
	ctx := testCtx(t, 10*time.Second)
	if err := c.Connect(ctx, addrInfo(h)); err != nil {
		t.Fatal(err)
	}
	unknown := content.ChunkID([]byte("unknown"))
	var re *RemoteError
	for i := 0; i <= MaxStreamsPerPeer; i++ {
		st, err := c.NewStream(ctx, h.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Reset()
		st.SetDeadline(time.Now().Add(10 * time.Second))
		st.Write(appendRequest(nil, opChunk, unknown))
		_, err = readResponseHeader(st, 0, MaxChunkSize)
		if !errors.As(err, &re) {
			t.Fatalf("stream %d: %v", i, err)
		}
		if i < MaxStreamsPerPeer && !re.NotFound() {
			t.Fatalf("stream %d: %v", i, err)
		}
		if i == MaxStreamsPerPeer && !re.Busy() {
			t.Fatalf("stream beyond the limit: %v, want busy", err)
		}
	}
}

// hostileServer serves ProtocolID on a host with handler.
func hostileServer(t *testing.T, handler func(network.Stream, request)) host.Host {
	t.Helper()
	h := newHost(t)
	h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		defer st.Close()
		st.SetDeadline(time.Now().Add(10 * time.Second))
		for {
			req, err := readRequest(st)
			if err != nil {
				st.Reset()
				return
			}
			handler(st, req)
		}
	})
	return h
}

func respond(st network.Stream, status byte, n int, body []byte) {
	var h [respHeaderLen]byte
	putRespHeader(&h, status, n)
	st.Write(h[:])
	st.Write(body)
}

func TestHostileProviders(t *testing.T) {
	data := testutil.RandBytes(8 * testChunk)
	good := newMemSource()
	fm := good.addFile(data, testChunk)
	manifest := fm.Encode()
	serveManifest := func(st network.Stream, req request) bool {
		if req.op == opManifest {
			respond(st, statusOK, len(manifest), manifest)
			return true
		}
		return false
	}
	cases := map[string]func(network.Stream, request){
		"oversized manifest": func(st network.Stream, req request) {
			respond(st, statusOK, content.MaxManifestSize+1, nil)
		},
		"manifest that does not verify": func(st network.Stream, req request) {
			bad := append([]byte(nil), manifest...)
			bad[len(bad)-1] ^= 1
			respond(st, statusOK, len(bad), bad)
		},
		"unknown status": func(st network.Stream, req request) {
			respond(st, 77, 0, nil)
		},
		"oversized error message": func(st network.Stream, req request) {
			respond(st, statusError, maxMessageLen+1, make([]byte, maxMessageLen+1))
		},
		"chunk of the wrong size": func(st network.Stream, req request) {
			if !serveManifest(st, req) {
				respond(st, statusOK, testChunk+1, make([]byte, testChunk+1))
			}
		},
		"oversized chunk": func(st network.Stream, req request) {
			if !serveManifest(st, req) {
				respond(st, statusOK, 1<<31, nil)
			}
		},
		"truncated chunk": func(st network.Stream, req request) {
			if !serveManifest(st, req) {
				respond(st, statusOK, testChunk, make([]byte, 100))
				st.Close()
			}
		},
		"wrong chunk bytes": func(st network.Stream, req request) {
			if !serveManifest(st, req) {
				respond(st, statusOK, testChunk, make([]byte, testChunk))
			}
		},
	}
	for name, handler := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			bad := hostileServer(t, handler)
			f := &staticFinder{}
			f.set(addrInfo(bad))
			c := newClient(t, f, nil)
			out := filepath.Join(t.TempDir(), "f")

			// Alone, the hostile peer makes Get fail cleanly.
			_, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 500 * time.Millisecond})
			if !errors.Is(err, ErrNoProviders) {
				t.Fatalf("got %v", err)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("output created")
			}
			if part, err := os.ReadFile(out + ".part"); err == nil && !bytes.Equal(part, make([]byte, len(part))) {
				t.Fatal("hostile bytes written")
			}
			// Beside an honest peer, the download completes.
			_, h := newServer(t, good, 0)
			f.set(addrInfo(bad), addrInfo(h))
			if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 5 * time.Second}); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, data) {
				t.Fatal("file differs")
			}
			if name != "truncated chunk" {
				if s := c.PeerScore(bad.ID()); s >= 0 {
					t.Fatalf("hostile peer score %d", s)
				}
			}
		})
	}
}

// encodeDir hand-encodes a folder manifest, bypassing content's checks.
func encodeDir(names []string, ids []cid.Cid, sizes []int64) []byte {
	b := []byte{1}
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for i, name := range names {
		b = append(b, byte(len(name)))
		b = append(b, name...)
		kind := byte(0)
		if content.IsDir(ids[i]) {
			kind = 1
		}
		b = append(b, kind)
		b = append(b, ids[i].Hash()[2:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(sizes[i]))
	}
	return b
}

func TestHostileFolderManifest(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	payload := []byte("escaped!")
	fm := src.addFile(payload, testChunk)
	// The honest encoding round-trips, so the hostile one is well-formed
	// apart from its names.
	okRaw := encodeDir([]string{"x"}, []cid.Cid{fm.ID()}, []int64{fm.Size})
	if _, err := content.Decode(content.NewID(content.CodecDir, okRaw), okRaw); err != nil {
		t.Fatalf("hand encoding is wrong: %v", err)
	}
	for _, name := range []string{"../x", "..", "a/../../x", "/etc/x", "."} {
		raw := encodeDir([]string{name}, []cid.Cid{fm.ID()}, []int64{fm.Size})
		id := content.NewID(content.CodecDir, raw)
		src.mu.Lock()
		src.manifests[id] = raw
		src.mu.Unlock()
		f, _, _ := swarm(t, src, 1)
		c := newClient(t, f, nil)
		base := t.TempDir()
		out := filepath.Join(base, "out")
		_, err := c.Get(ctx, id, GetOptions{Output: out, Timeout: 5 * time.Second})
		if !errors.Is(err, ErrBadContent) || !errors.Is(err, content.ErrBadManifest) {
			t.Fatalf("%q: got %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(base, "x")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%q: a file escaped", name)
		}
	}
}

// TestFolderNamesCheckedAgain: names are checked when creating files even if
// a manifest got past the decoder, and symbolic links are never followed.
func TestFolderNamesCheckedAgain(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	fm := src.addFile([]byte("data"), testChunk)
	f, _, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	base := t.TempDir()
	out := filepath.Join(base, "out")
	ss := c.newSession(fm.ID(), GetOptions{Output: out, Timeout: time.Second})
	ss.ask(ctx, fm.ID())
	dm := &content.DirManifest{Entries: []content.DirEntry{{Name: "../x", ID: fm.ID(), Size: fm.Size}}}
	if err := ss.getDir(ctx, &planDir{m: dm}, out); !errors.Is(err, ErrUnsafeName) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a file escaped")
	}
	// A symbolic link inside the output is refused, not followed.
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(out, "link")); err != nil {
		t.Fatal(err)
	}
	dm = &content.DirManifest{Entries: []content.DirEntry{{Name: "link", ID: fm.ID(), Size: fm.Size}}}
	if err := ss.getDir(ctx, &planDir{m: dm}, out); !errors.Is(err, ErrUnsafeName) {
		t.Fatalf("symlink: got %v", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Fatal("wrote through a symbolic link")
	}
}
