package search

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func id3v2Frame(id, text string) []byte {
	var b bytes.Buffer
	b.WriteString(id)
	_ = binary.Write(&b, binary.BigEndian, uint32(len(text)+1))
	b.Write([]byte{0, 0, 3}) // flags, then UTF-8 encoding
	b.WriteString(text)
	return b.Bytes()
}

func id3v2Tag(frames ...[]byte) []byte {
	body := bytes.Join(frames, nil)
	n := len(body)
	hdr := []byte{'I', 'D', '3', 3, 0, 0, byte(n >> 21 & 0x7f), byte(n >> 14 & 0x7f), byte(n >> 7 & 0x7f), byte(n & 0x7f)}
	return append(hdr, body...)
}

func id3v1Tag(title, artist, album string) []byte {
	b := make([]byte, 128)
	copy(b, "TAG")
	copy(b[3:33], title)
	copy(b[33:63], artist)
	copy(b[63:93], album)
	return b
}

func vorbisComment(kv ...string) []byte {
	var b bytes.Buffer
	le := func(n int) { _ = binary.Write(&b, binary.LittleEndian, uint32(n)) }
	le(len("peerpath"))
	b.WriteString("peerpath")
	le(len(kv))
	for _, c := range kv {
		le(len(c))
		b.WriteString(c)
	}
	return b.Bytes()
}

func flacFile(vc []byte) []byte {
	var b bytes.Buffer
	b.WriteString("fLaC")
	b.Write([]byte{0, 0, 0, 34}) // STREAMINFO
	b.Write(make([]byte, 34))
	n := len(vc)
	b.Write([]byte{0x80 | 4, byte(n >> 16), byte(n >> 8), byte(n)})
	b.Write(vc)
	return b.Bytes()
}

func oggPage(payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("OggS")
	b.Write(make([]byte, 22))
	var segs []byte
	for n := len(payload); ; n -= 255 {
		if n >= 255 {
			segs = append(segs, 255)
			continue
		}
		segs = append(segs, byte(n))
		break
	}
	b.WriteByte(byte(len(segs)))
	b.Write(segs)
	b.Write(payload)
	return b.Bytes()
}

func oggVorbis(vc []byte) []byte {
	ident := append([]byte("\x01vorbis"), make([]byte, 23)...)
	return append(oggPage(ident), oggPage(append([]byte("\x03vorbis"), vc...))...)
}

func TestTagParsers(t *testing.T) {
	if got := parseID3v2(id3v2Tag(id3v2Frame("TIT2", "Hey Jude"), id3v2Frame("TPE1", "The Beatles"))); got.Title != "Hey Jude" || got.Artist != "The Beatles" {
		t.Errorf("id3v2: %+v", got)
	}
	if got := parseID3v1(id3v1Tag("Yesterday", "Beatles", "Help!")); got.Title != "Yesterday" || got.Album != "Help!" {
		t.Errorf("id3v1: %+v", got)
	}
	if got := parseFLAC(flacFile(vorbisComment("TITLE=Halo", "ARTIST=Beyoncé"))); got.Title != "Halo" || got.Artist != "Beyoncé" {
		t.Errorf("flac: %+v", got)
	}
	if got := parseOgg(oggVorbis(vorbisComment("artist=Sigur Rós", "title=Hoppípolla"))); got.Artist != "Sigur Rós" || got.Title != "Hoppípolla" {
		t.Errorf("ogg: %+v", got)
	}
	if got := htmlTitle([]byte("<html><HEAD><Title>Annual Report</title>")); got != "Annual Report" {
		t.Errorf("html: %q", got)
	}
	if got := pdfTitle([]byte("%PDF-1.4\n1 0 obj << /Title (Gravity \\(draft\\)) >>")); got != "Gravity (draft)" {
		t.Errorf("pdf: %q", got)
	}
	// UTF-16 text frame with a BOM.
	u := []byte{1, 0xff, 0xfe, 'O', 0, 'k', 0}
	if got := id3Text(u[0], u[1:]); got != "Ok" {
		t.Errorf("utf-16: %q", got)
	}
}

func TestMetadataIsSearchable(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("track01.mp3", append(id3v2Tag(id3v2Frame("TIT2", "Penny Lane"), id3v2Frame("TPE1", "Beatles")), make([]byte, 500)...))
	write("track02.mp3", append(make([]byte, 400), id3v1Tag("Blackbird", "Beatles", "White Album")...))
	write("track03.flac", flacFile(vorbisComment("TITLE=Crazy in Love", "ARTIST=Beyoncé")))
	write("track04.ogg", oggVorbis(vorbisComment("TITLE=Glósóli", "ARTIST=Sigur Rós")))
	write("page.html", []byte("<title>Quarterly Numbers</title>"))
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 640, 480))); err != nil {
		t.Fatal(err)
	}
	write("pic.png", img.Bytes())

	tn := newTestNet(t, 1, nil)
	p := tn.peers[0]
	for _, n := range []string{"track01.mp3", "track02.mp3", "track03.flac", "track04.ogg", "page.html", "pic.png"} {
		e := testEntry(t, n, 1000)
		e.Share, e.RelPath = dir, n
		p.cat.add(e)
	}
	p.svc.Refresh()
	waitIndexed(t, p, "640x480")
	for q, want := range map[string]string{
		"penny lane": "track01.mp3", "blackbird white album": "track02.mp3", "beyonce crazy": "track03.flac",
		"sigur ros glosoli": "track04.ogg", "quarterly": "page.html", "640x480": "pic.png",
	} {
		got, err := collect(t, p.svc, q, Options{LocalOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Errorf("%q: %v", q, got)
			continue
		}
		for _, r := range got {
			if r.Name != want {
				t.Errorf("%q: got %s want %s", q, r.Name, want)
			}
		}
	}
	// keywords of metadata are announced too
	kws, err := p.svc.localKeywords(t.Context())
	if err != nil || !strings.Contains(" "+strings.Join(kws, " ")+" ", " blackbird ") {
		t.Errorf("keywords %v (%v)", kws, err)
	}
}

// A symbolic link in a shared folder that points outside it never lends the
// outside file's title to the index, while a link to a file inside does
// (the file is opened through the share's root, as share serves it).
func TestMetadataNeverReadsOutsideShare(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.html"), []byte("<title>Confidential Payroll</title>"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "real.html"), []byte("<title>Harmless Brochure</title>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"abs.html":    filepath.Join(outside, "secret.html"),
		"rel.html":    filepath.Join("..", filepath.Base(outside), "secret.html"),
		"inside.html": "real.html",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	tn := newTestNet(t, 1, nil)
	p := tn.peers[0]
	for _, n := range []string{"abs.html", "rel.html", "inside.html"} {
		e := testEntry(t, n, 100)
		e.Share, e.RelPath = dir, n
		p.cat.add(e)
	}
	// A single shared file that is a link to the outside file.
	single := filepath.Join(t.TempDir(), "single.html")
	if err := os.Symlink(filepath.Join(outside, "secret.html"), single); err != nil {
		t.Fatal(err)
	}
	e := testEntry(t, "single.html", 100)
	e.Share = single
	p.cat.add(e)
	p.svc.Refresh()
	waitIndexed(t, p, "brochure")
	got, err := collect(t, p.svc, "brochure", Options{LocalOnly: true})
	if err != nil || len(got) != 1 {
		t.Fatalf("brochure: %v %v", got, err)
	}
	for _, r := range got {
		if r.Name != "inside.html" {
			t.Fatalf("brochure found in %s", r.Name)
		}
	}
	got, err = collect(t, p.svc, "payroll", Options{LocalOnly: true})
	if err != nil || len(got) != 0 {
		t.Fatalf("a title from outside the share was indexed: %v %v", got, err)
	}
}
