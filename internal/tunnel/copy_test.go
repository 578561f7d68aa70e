package tunnel

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestCopyGrowing: the copy is exact whatever the reads' sizes, a bulk copy
// takes a big buffer and gives its slot back, and with every slot taken a
// copy keeps its small buffer and is still exact.
func TestCopyGrowing(t *testing.T) {
	data := make([]byte, 3<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	check := func(name string, src io.Reader) {
		t.Helper()
		var out bytes.Buffer
		if err := copyGrowing(&out, src); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("%s: copied %d bytes, not the %d sent", name, out.Len(), len(data))
		}
		if n := len(bigSlots); n != 0 {
			t.Fatalf("%s: %d big-buffer slots still held after the copy", name, n)
		}
	}
	check("bulk", bytes.NewReader(data))
	check("one byte at a time", iotest.OneByteReader(bytes.NewReader(data)))
	check("half reads", iotest.HalfReader(bytes.NewReader(data)))
	check("data with EOF", iotest.DataErrReader(bytes.NewReader(data)))

	// Every slot taken: the copy stays on its small buffer.
	for range maxBig {
		bigSlots <- struct{}{}
	}
	grew := false
	var out bytes.Buffer
	err := copyGrowing(writerFunc(func(p []byte) (int, error) {
		if len(p) > smallBuf {
			grew = true
		}
		return out.Write(p)
	}), bytes.NewReader(data))
	for range maxBig {
		<-bigSlots
	}
	if err != nil || grew || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("with no big buffer left: err %v, grew %v, %d bytes", err, grew, out.Len())
	}

	// A read error other than EOF is the copy's error; a short write is one.
	boom := errors.New("boom")
	if err := copyGrowing(io.Discard, iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}
	short := writerFunc(func(p []byte) (int, error) { return len(p) / 2, nil })
	if err := copyGrowing(short, bytes.NewReader(data)); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: %v", err)
	}
	if n := len(bigSlots); n != 0 {
		t.Fatalf("%d big-buffer slots held after failed copies", n)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
