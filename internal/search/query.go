package search

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Query limits. A query longer than MaxQueryBytes or with more than
// MaxQueryTerms words and filters is refused with ErrQueryTooLarge, locally
// and when it arrives from a peer.
const (
	MaxQueryBytes = 256
	MaxQueryTerms = 16
)

// ErrQueryTooLarge is returned by Service.Search (and sent to peers that ask)
// for a query over MaxQueryBytes bytes or MaxQueryTerms terms.
var ErrQueryTooLarge = errors.New("search: query too large")

// ErrBadQuery is returned by Service.Search for a query that cannot be run:
// no word to look for, a malformed filter, or (for a network search with
// direct asks turned off) no word that is routable (every word a stop word
// or a single character); with direct asks, such a query goes to the
// connected peers only.
var ErrBadQuery = errors.New("search: bad query")

// File types a result can have; "folder" is for shared folders.
const (
	TypeAudio    = "audio"
	TypeVideo    = "video"
	TypeImage    = "image"
	TypeDocument = "document"
	TypeArchive  = "archive"
	TypeSoftware = "software"
	TypeOther    = "other"
	TypeFolder   = "folder"
)

var validTypes = map[string]bool{TypeAudio: true, TypeVideo: true, TypeImage: true, TypeDocument: true,
	TypeArchive: true, TypeSoftware: true, TypeOther: true, TypeFolder: true}

// query is a parsed query: normalised words and filters.
type query struct {
	Words   []string // normalised tokens, in order, deduplicated
	Type    string   // "" for any
	MinSize int64    // -1 for none
	MaxSize int64    // -1 for none
}

// parseQuery parses free words plus the filters type:T, size>N and size<N (N
// with an optional unit: B, KB, MB, GB, TB, powers of 1000; KiB… powers of
// 1024).
func parseQuery(s string) (query, error) {
	q := query{MinSize: -1, MaxSize: -1}
	if len(s) > MaxQueryBytes {
		return q, fmt.Errorf("%w: %d bytes (max %d)", ErrQueryTooLarge, len(s), MaxQueryBytes)
	}
	if !utf8.ValidString(s) {
		return q, fmt.Errorf("%w: not UTF-8", ErrBadQuery)
	}
	fields := strings.Fields(s)
	if len(fields) > MaxQueryTerms {
		return q, fmt.Errorf("%w: %d terms (max %d)", ErrQueryTooLarge, len(fields), MaxQueryTerms)
	}
	seen := map[string]bool{}
	for _, f := range fields {
		lf := strings.ToLower(f)
		switch {
		case strings.HasPrefix(lf, "type:"):
			t := lf[len("type:"):]
			if !validTypes[t] {
				return q, fmt.Errorf("%w: unknown type %q", ErrBadQuery, t)
			}
			q.Type = t
			continue
		case strings.HasPrefix(lf, "size>") || strings.HasPrefix(lf, "size<"):
			n, err := parseSize(lf[len("size>"):])
			if err != nil {
				return q, fmt.Errorf("%w: %v", ErrBadQuery, err)
			}
			if lf[4] == '>' {
				q.MinSize = n
			} else {
				q.MaxSize = n
			}
			continue
		}
		for _, w := range tokenize(f) {
			if !seen[w] {
				seen[w] = true
				q.Words = append(q.Words, w)
			}
		}
	}
	if len(q.Words) == 0 {
		return q, fmt.Errorf("%w: no words", ErrBadQuery)
	}
	if len(q.Words) > MaxQueryTerms {
		return q, fmt.Errorf("%w: %d words (max %d)", ErrQueryTooLarge, len(q.Words), MaxQueryTerms)
	}
	return q, nil
}

func parseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(s[i:])
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("bad size unit %q", unit)
	}
	v *= mult
	if v > 1<<62 {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return int64(v), nil
}

// tokenize splits s into lower-case words without diacritics, the way the
// FTS5 tokenizer "unicode61 remove_diacritics 2" does: letters and digits
// form words, everything else separates them.
func tokenize(s string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// combining mark: dropped (é -> e)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			flush()
		}
	}
	flush()
	return out
}

// stopWords are too common to route on: announcing or looking them up would
// reach nearly every peer and say nothing.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`the a an and or of to in on at for by with from is it as be
		this that de la le les el los las der die das und el del du des et y mp3 flac ogg wav
		jpg jpeg png gif pdf txt zip mp4 mkv avi webm m4a opus doc docx html htm iso exe tar gz`) {
		stopWords[w] = true
	}
}

// routable reports whether word is announced and looked up in the DHT:
// at least 2 characters and not a stop word.
func routable(word string) bool {
	return utf8.RuneCountInString(word) >= 2 && !stopWords[word] && len(word) <= 64
}

// keywords returns the routable, distinct words of names, in order.
func keywords(texts ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range texts {
		for _, w := range tokenize(t) {
			if routable(w) && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// ftsMatch renders words as an FTS5 MATCH expression: each word quoted (so
// no query syntax can be injected), all required.
func ftsMatch(words []string) string {
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	return strings.Join(parts, " ")
}

// typeOf maps a file name's extension to a result type.
func typeOf(name string, dir bool) string {
	if dir {
		return TypeFolder
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return TypeOther
	}
	if t, ok := extTypes[strings.ToLower(name[i+1:])]; ok {
		return t
	}
	return TypeOther
}

var extTypes = map[string]string{}

func init() {
	add := func(t, exts string) {
		for _, e := range strings.Fields(exts) {
			extTypes[e] = t
		}
	}
	add(TypeAudio, "mp3 flac ogg oga opus wav m4a aac wma aiff aif alac mid midi ape")
	add(TypeVideo, "mp4 mkv avi mov wmv webm m4v mpg mpeg flv ogv 3gp ts")
	add(TypeImage, "jpg jpeg png gif bmp webp tif tiff svg heic raw cr2 nef ico")
	add(TypeDocument, "pdf doc docx odt rtf txt md html htm epub mobi xls xlsx ods ppt pptx odp csv tex djvu")
	add(TypeArchive, "zip rar 7z tar gz tgz bz2 xz zst lz4 cab")
	add(TypeSoftware, "exe msi dmg pkg deb rpm apk appimage iso img jar bin wasm")
	// An extension says the type, which the type: filter asks for; as a
	// keyword it would reach a large share of all peers.
	for e := range extTypes {
		stopWords[e] = true
	}
}
