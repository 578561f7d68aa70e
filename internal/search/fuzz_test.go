package search

import (
	"testing"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"n":"AAAAAAAAAAAAAAAAAAAAAA==","q":["beatles hey jude"],"l":10}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRequest(b)
		if err != nil {
			return
		}
		if len(r.Nonce) != nonceLen || len(r.Queries) < 1 || len(r.Queries) > maxQueriesPerReq || r.Limit < 1 || r.Limit > maxWireResults {
			t.Fatalf("accepted bad request %+v", r)
		}
		for _, q := range r.Queries {
			if len(q) > MaxQueryBytes || !utf8.ValidString(q) {
				t.Fatalf("accepted query %q", q)
			}
		}
	})
}

var fuzzKey = func() crypto.PrivKey {
	k, _, err := crypto.GenerateEd25519Key(zeroReader{})
	if err != nil {
		panic(err)
	}
	return k
}()

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 7
	}
	return len(p), nil
}

func FuzzOpenResponse(f *testing.F) {
	id, _ := peer.IDFromPrivateKey(fuzzKey)
	nonce := make([]byte, nonceLen)
	good, _ := sealAnswer(fuzzKey, answer{Nonce: nonce, Peer: id.String(), Hits: [][]hit{{{
		CID: "bagaybqabdyqoheept7lzwwpxv7gwvwkikofmfsdbe3h3voszdpewmixm42f7psa", Name: "x.mp3", Size: 1, Type: TypeAudio, Score: 1}}}})
	f.Add(good)
	f.Add([]byte(`{"b":"e30=","s":"AAAA"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := openResponse(b, id, fuzzKey.GetPublic(), nonce, 1)
		if err != nil || a.Err != "" {
			return
		}
		if len(a.Hits) != 1 {
			t.Fatal("wrong number of lists accepted")
		}
		for _, h := range a.Hits[0] {
			if validHit(h) != nil {
				t.Fatalf("invalid hit accepted: %+v", h)
			}
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	f.Add("beatles hey jude type:audio size>10MB")
	f.Fuzz(func(t *testing.T, s string) {
		q, err := parseQuery(s)
		if err != nil {
			return
		}
		if len(q.Words) == 0 || len(q.Words) > MaxQueryTerms || len(s) > MaxQueryBytes {
			t.Fatalf("accepted %q as %+v", s, q)
		}
		_ = ftsMatch(q.Words)
	})
}

func checkTags(t *testing.T, tg tags) {
	for _, v := range []string{tg.Title, tg.Artist, tg.Album} {
		if len(v) > maxMetaField || !utf8.ValidString(v) {
			t.Fatalf("bad field %q", v)
		}
	}
}

func FuzzID3v2(f *testing.F) {
	f.Add(id3v2Tag(id3v2Frame("TIT2", "Hey Jude")))
	f.Fuzz(func(t *testing.T, b []byte) { checkTags(t, parseID3v2(b)) })
}

func FuzzID3v1(f *testing.F) {
	f.Add(id3v1Tag("Yesterday", "Beatles", "Help!"))
	f.Fuzz(func(t *testing.T, b []byte) { checkTags(t, parseID3v1(b)) })
}

func FuzzFLAC(f *testing.F) {
	f.Add(flacFile(vorbisComment("TITLE=Halo")))
	f.Fuzz(func(t *testing.T, b []byte) { checkTags(t, parseFLAC(b)) })
}

func FuzzOgg(f *testing.F) {
	f.Add(oggVorbis(vorbisComment("TITLE=Halo")))
	f.Fuzz(func(t *testing.T, b []byte) { checkTags(t, parseOgg(b)) })
}

func FuzzDocTitle(f *testing.F) {
	f.Add([]byte("<title>x</title> /Title (y)"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range []string{htmlTitle(b), pdfTitle(b)} {
			if len(s) > maxMetaField || !utf8.ValidString(s) {
				t.Fatalf("bad title %q", s)
			}
		}
	})
}
