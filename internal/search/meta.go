package search

import (
	"bytes"
	"encoding/binary"
	"image"
	_ "image/gif"  // image.DecodeConfig for GIF
	_ "image/jpeg" // image.DecodeConfig for JPEG
	_ "image/png"  // image.DecodeConfig for PNG
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/peerpath/peerpath/internal/content"
)

// Metadata extraction reads at most metaHead bytes from the start of a file
// and 128 from its end, so a huge or hostile file costs little. Every parser
// here works on a byte slice and checks every length against it.
const (
	metaHead     = 256 << 10
	maxMetaField = 200
)

// tags are the metadata fields that go into the index.
type tags struct {
	Title, Artist, Album string
}

func (t tags) text() string {
	return strings.TrimSpace(strings.Join([]string{t.Artist, t.Title, t.Album}, " "))
}

// setField stores a cleaned, bounded value in the named field if it is empty.
func (t *tags) set(key, v string) {
	v = cleanField(v)
	if v == "" {
		return
	}
	var dst *string
	switch strings.ToLower(key) {
	case "title", "tit2", "tt2":
		dst = &t.Title
	case "artist", "tpe1", "tp1":
		dst = &t.Artist
	case "album", "talb", "tal":
		dst = &t.Album
	default:
		return
	}
	if *dst == "" {
		*dst = v
	}
}

func cleanField(v string) string {
	v = strings.ToValidUTF8(v, "")
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, v)
	v = strings.TrimSpace(v)
	for len(v) > maxMetaField {
		_, n := utf8.DecodeLastRuneInString(v)
		v = v[:len(v)-n]
	}
	return v
}

// sharedFileMeta extracts the metadata of the file rel (slash-separated;
// "" for a shared file itself) of the share at sharePath. The file is
// opened through [content.OpenInside], as share hashes and serves it: a
// symbolic link re-pointed outside the share never lends another file's
// tags or title to the index.
func sharedFileMeta(sharePath, rel, typ string) string {
	if !wantsMeta(rel, typ) {
		return ""
	}
	dir := sharePath
	if rel == "" {
		dir, rel = filepath.Dir(sharePath), filepath.Base(sharePath)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return ""
	}
	defer root.Close()
	f, _, err := content.OpenInside(root, rel)
	if err != nil {
		return ""
	}
	defer f.Close()
	return fileMeta(f, rel, typ)
}

// wantsMeta reports whether files of type typ named name carry metadata
// fileMeta reads.
func wantsMeta(name, typ string) bool {
	lower := strings.ToLower(name)
	switch typ {
	case TypeAudio, TypeImage:
		return true
	case TypeDocument:
		return strings.HasSuffix(lower, ".html") || strings.HasSuffix(lower, ".htm") || strings.HasSuffix(lower, ".pdf")
	}
	return false
}

// fileMeta extracts the searchable metadata of the open file f named name:
// audio tags, image dimensions ("1920x1080") or a document title. Errors
// mean "no metadata": the file is still indexed by name.
func fileMeta(f *os.File, name, typ string) string {
	if !wantsMeta(name, typ) {
		return ""
	}
	lower := strings.ToLower(name)
	head := make([]byte, metaHead)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch typ {
	case TypeImage:
		cfg, _, err := image.DecodeConfig(bytes.NewReader(head))
		if err != nil {
			return ""
		}
		return strconv.Itoa(cfg.Width) + "x" + strconv.Itoa(cfg.Height)
	case TypeDocument:
		if strings.HasSuffix(lower, ".pdf") {
			return pdfTitle(head)
		}
		return htmlTitle(head)
	}
	var t tags
	switch {
	case bytes.HasPrefix(head, []byte("ID3")):
		t = parseID3v2(head)
	case bytes.HasPrefix(head, []byte("fLaC")):
		t = parseFLAC(head)
	case bytes.HasPrefix(head, []byte("OggS")):
		t = parseOgg(head)
	}
	if t.Title == "" && t.Artist == "" {
		if st, err := f.Stat(); err == nil && st.Size() >= 128 {
			tail := make([]byte, 128)
			if _, err := f.ReadAt(tail, st.Size()-128); err == nil {
				v1 := parseID3v1(tail)
				t.set("title", v1.Title)
				t.set("artist", v1.Artist)
				t.set("album", v1.Album)
			}
		}
	}
	return t.text()
}

// parseID3v1 reads the 128-byte ID3v1 tag at the end of an MP3.
func parseID3v1(b []byte) tags {
	var t tags
	if len(b) != 128 || !bytes.HasPrefix(b, []byte("TAG")) {
		return t
	}
	field := func(p []byte) string {
		if i := bytes.IndexByte(p, 0); i >= 0 {
			p = p[:i]
		}
		return latin1(p)
	}
	t.set("title", field(b[3:33]))
	t.set("artist", field(b[33:63]))
	t.set("album", field(b[63:93]))
	return t
}

func syncsafe(b []byte) int {
	return int(b[0]&0x7f)<<21 | int(b[1]&0x7f)<<14 | int(b[2]&0x7f)<<7 | int(b[3]&0x7f)
}

// parseID3v2 reads title, artist and album text frames of an ID3v2.2, 2.3 or
// 2.4 tag at the start of b.
func parseID3v2(b []byte) tags {
	var t tags
	if len(b) < 10 || string(b[:3]) != "ID3" {
		return t
	}
	ver := b[3]
	size := syncsafe(b[6:10])
	body := b[10:]
	if size < len(body) {
		body = body[:size]
	}
	if b[5]&0x40 != 0 && ver >= 3 && len(body) >= 4 { // extended header
		var n int
		if ver == 4 {
			n = syncsafe(body[:4])
		} else {
			n = int(binary.BigEndian.Uint32(body[:4])) + 4
		}
		if n < 0 || n > len(body) {
			return t
		}
		body = body[n:]
	}
	idLen, hdrLen := 4, 10
	if ver == 2 {
		idLen, hdrLen = 3, 6
	} else if ver != 3 && ver != 4 {
		return t
	}
	for len(body) >= hdrLen && body[0] != 0 {
		id := string(body[:idLen])
		var n int
		switch ver {
		case 2:
			n = int(body[3])<<16 | int(body[4])<<8 | int(body[5])
		case 3:
			n = int(binary.BigEndian.Uint32(body[4:8]))
		case 4:
			n = syncsafe(body[4:8])
		}
		if n < 0 || n > len(body)-hdrLen {
			break
		}
		data := body[hdrLen : hdrLen+n]
		body = body[hdrLen+n:]
		if len(data) > 0 && id[0] == 'T' {
			t.set(id, id3Text(data[0], data[1:]))
		}
	}
	return t
}

// id3Text decodes an ID3v2 text frame's payload in its encoding; only the
// first of several values (NUL separated) is kept.
func id3Text(enc byte, p []byte) string {
	switch enc {
	case 0:
		if i := bytes.IndexByte(p, 0); i >= 0 {
			p = p[:i]
		}
		return latin1(p)
	case 3:
		if i := bytes.IndexByte(p, 0); i >= 0 {
			p = p[:i]
		}
		return string(p)
	case 1, 2:
		big := enc == 2
		if len(p) >= 2 && (p[0] == 0xff && p[1] == 0xfe || p[0] == 0xfe && p[1] == 0xff) {
			big = p[0] == 0xfe
			p = p[2:]
		}
		u := make([]uint16, 0, len(p)/2)
		for i := 0; i+1 < len(p); i += 2 {
			var c uint16
			if big {
				c = uint16(p[i])<<8 | uint16(p[i+1])
			} else {
				c = uint16(p[i+1])<<8 | uint16(p[i])
			}
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		return string(utf16.Decode(u))
	}
	return ""
}

func latin1(p []byte) string {
	r := make([]rune, len(p))
	for i, c := range p {
		r[i] = rune(c)
	}
	return string(r)
}

// parseFLAC walks the metadata blocks after "fLaC" to the VORBIS_COMMENT one.
func parseFLAC(b []byte) tags {
	if len(b) < 4 || string(b[:4]) != "fLaC" {
		return tags{}
	}
	b = b[4:]
	for len(b) >= 4 {
		last, typ := b[0]&0x80 != 0, b[0]&0x7f
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		b = b[4:]
		if n > len(b) {
			n = len(b) // a block cut by the read limit: parse what we have
		}
		if typ == 4 {
			return parseVorbisComment(b[:n])
		}
		b = b[n:]
		if last {
			break
		}
	}
	return tags{}
}

// parseVorbisComment reads a Vorbis comment block (FLAC, Ogg Vorbis, Opus):
// a vendor string, then a count of KEY=value strings, little-endian lengths.
func parseVorbisComment(b []byte) tags {
	var t tags
	next := func() (string, bool) {
		if len(b) < 4 {
			return "", false
		}
		n := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	if _, ok := next(); !ok { // vendor
		return t
	}
	if len(b) < 4 {
		return t
	}
	count := binary.LittleEndian.Uint32(b)
	b = b[4:]
	for i := uint32(0); i < count && i < 1000; i++ {
		c, ok := next()
		if !ok {
			break
		}
		if k, v, ok := strings.Cut(c, "="); ok {
			t.set(k, v)
		}
	}
	return t
}

// parseOgg joins the payloads of the Ogg pages in b and reads the comment
// header of a Vorbis ("\x03vorbis") or Opus ("OpusTags") stream.
func parseOgg(b []byte) tags {
	var payload []byte
	for len(b) >= 27 && string(b[:4]) == "OggS" {
		nseg := int(b[26])
		if len(b) < 27+nseg {
			break
		}
		total := 0
		for _, s := range b[27 : 27+nseg] {
			total += int(s)
		}
		start := 27 + nseg
		end := start + total
		if end > len(b) {
			end = len(b)
		}
		payload = append(payload, b[start:end]...)
		b = b[end:]
	}
	for _, magic := range []string{"\x03vorbis", "OpusTags"} {
		if i := bytes.Index(payload, []byte(magic)); i >= 0 {
			return parseVorbisComment(payload[i+len(magic):])
		}
	}
	return tags{}
}

// htmlTitle returns the text of the first <title> element.
func htmlTitle(b []byte) string {
	lower := bytes.ToLower(b)
	i := bytes.Index(lower, []byte("<title"))
	if i < 0 {
		return ""
	}
	j := bytes.IndexByte(lower[i:], '>')
	if j < 0 {
		return ""
	}
	start := i + j + 1
	k := bytes.Index(lower[start:], []byte("</title"))
	if k < 0 {
		return ""
	}
	return cleanField(string(b[start : start+k]))
}

// pdfTitle returns a literal-string /Title from a PDF's info dictionary when
// it is in the first bytes of the file (many PDFs keep it at the end or in an
// object stream; those have no title here).
func pdfTitle(b []byte) string {
	i := bytes.Index(b, []byte("/Title"))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(b[i+len("/Title"):], " \r\n\t")
	if len(rest) == 0 || rest[0] != '(' {
		return ""
	}
	var out []byte
	depth := 0
	for k := 1; k < len(rest) && len(out) < maxMetaField; k++ {
		c := rest[k]
		switch {
		case c == '\\' && k+1 < len(rest):
			k++
			out = append(out, rest[k])
		case c == '(':
			depth++
			out = append(out, c)
		case c == ')':
			if depth == 0 {
				return cleanField(latin1(out))
			}
			depth--
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	return ""
}
