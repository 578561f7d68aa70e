package compute

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
)

// fuzzPeer is the author every advert seed claims.
const fuzzPeer = "12D3KooWNgaxHpSCexDvUY31qjVTJqRfZB8ArdRgEcF9zavYQHPt"

// Content ids of the seeds: two files and a chunk (which names no file).
const (
	fuzzModule = "bagaybqabdyqge4gedpiwhsw5igg2kjvbwquson34f3vo5bx6r4ia3gyr5a422pa"
	fuzzInput  = "bagaybqabdyqiti3fchq6q4tdpuwo3jml6n4dt54ohzjik6fu3ehyhrotkolflqi"
	fuzzChunk  = "bafkr4ib247mal5tytjsaflfxblkas2ufuvv7nacov4s4asj2y2lvjdjqwu"
)

// FuzzDecodeMessage feeds arbitrary headers to the message decoder: it
// must not panic, and whatever it accepts must satisfy its limits and
// survive a round trip.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"op":"work","job":"0123456789abcdef0123456789abcdef"}`))
	f.Add([]byte(`{"op":"unit","unit":3,"attempt":"a","args":["work","7"],"env":{"PEERPATH_UNIT":"3"},"memory":1048576,"timeout_ms":1000,"module":"` + fuzzModule + `","module_size":100}`))
	f.Add([]byte(`{"op":"unit","unit":3,"attempt":"a","module":"` + fuzzModule + `","module_size":100,"input":"` + fuzzInput + `","input_size":5}`))
	f.Add([]byte(`{"op":"result","attempt":"a","hash":"` + string(bytes.Repeat([]byte("ab"), 32)) + `","body":3}`))
	f.Add([]byte(`{"op":"result","attempt":"a","hash":"` + string(bytes.Repeat([]byte("ab"), 32)) + `","output":"` + fuzzInput + `","output_size":70000}`))
	f.Add([]byte(`{"op":"unit","module":"` + fuzzChunk + `","module_size":1}`))
	f.Add([]byte(`{"op":"module","body":99999999999}`))
	f.Add([]byte(`{"op":"none","retry_ms":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data)
		if err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("error %v does not wrap errProtocol", err)
			}
			return
		}
		if m.Body < 0 || m.Body > bodyLimit(m.Op) || len(m.Args) > maxArgs || len(m.Env) > maxEnv || m.Unit < 0 {
			t.Fatalf("accepted out-of-range message %+v", m)
		}
		if m.ModuleSize > MaxModuleBytes || m.InputSize > MaxInput || m.OutputSize > MaxOutput ||
			m.ModuleSize < 0 || m.InputSize < 0 || m.OutputSize < 0 {
			t.Fatalf("accepted out-of-range content size %+v", m)
		}
		for _, id := range []string{m.Module, m.Input, m.Output} {
			if id != "" && checkFileID(id) != nil {
				t.Fatalf("accepted bad content id %q", id)
			}
		}
		if m.Op == opUnit && m.Module == "" {
			t.Fatalf("accepted a unit without a module: %+v", m)
		}
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeMessage(enc); err != nil {
			t.Fatalf("re-encoded message refused: %v", err)
		}
	})
}

// FuzzReadMessage feeds arbitrary streams to the framed reader: it must
// not panic, must never return a body larger than the header allows, and
// must read back what writeMessage wrote.
func FuzzReadMessage(f *testing.F) {
	var buf bytes.Buffer
	_ = writeMessage(&buf, message{Op: opResult, Attempt: "x"}, []byte("out"))
	f.Add(buf.Bytes())
	f.Add([]byte{0x05, '{', '}', 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	hdr, _ := json.Marshal(message{Op: opResult, Body: 10})
	var short bytes.Buffer
	_ = p2p.WriteMsg(&short, hdr)
	_ = p2p.WriteMsg(&short, []byte("abc")) // body shorter than the header says
	f.Add(short.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		m, body, err := readMessage(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(body) != m.Body || len(body) > bodyLimit(m.Op) {
			t.Fatalf("body of %d bytes for header %+v", len(body), m)
		}
		var out bytes.Buffer
		if err := writeMessage(&out, m, body); err != nil {
			t.Fatal(err)
		}
		m2, body2, err := readMessage(&out)
		if err != nil || !bytes.Equal(body, body2) || m2.Op != m.Op {
			t.Fatalf("round trip: %v", err)
		}
		if _, _, err := readMessage(&out); err != io.EOF {
			t.Fatalf("trailing data after round trip: %v", err)
		}
	})
}

// FuzzDecodeAdvert feeds arbitrary adverts: accepted ones name their author
// and have fields in range.
func FuzzDecodeAdvert(f *testing.F) {
	good, _ := json.Marshal(advert{V: advertVersion, Job: "0123456789abcdef0123456789abcdef", Submitter: fuzzPeer,
		Module: fuzzModule, ModuleSize: 100, Units: 3, Reward: 1, Memory: 1 << 20, TimeoutMS: 1000})
	f.Add(good)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"job":"0123456789abcdef0123456789abcdef","submitter":"someone else"}`))
	from, err := peer.Decode(fuzzPeer)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := decodeAdvert(data, from)
		if err != nil {
			return
		}
		if a.Submitter != fuzzPeer || !validJobID(a.Job) || a.Units <= 0 || a.Units > MaxJobUnits || a.ModuleSize > MaxModuleBytes || a.TimeoutMS <= 0 ||
			checkFileID(a.Module) != nil {
			t.Fatalf("accepted bad advert %+v", a)
		}
	})
}
