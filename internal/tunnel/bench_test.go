package tunnel

import (
	"context"
	"io"
	"net"
	"testing"
)

// BenchmarkBulk copies b.N MiB from a service through the tunnel.
func BenchmarkBulk(b *testing.B) {
	owner := newNode(b, nil)
	user := newNode(b, nil)
	connect(b, owner, user)
	block := make([]byte, 1<<20)
	n := b.N
	addr, _ := listen(b, func(c net.Conn) {
		for range n {
			if _, err := c.Write(block); err != nil {
				return
			}
		}
	})
	ctx := context.Background()
	owner.svc.Expose(ctx, "bulk", addr, []string{user.h.ID().String()}, 0)
	fw, err := user.svc.Connect(ctx, owner.h.ID().String(), "bulk", "")
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", fw.Listen)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(1 << 20)
	b.ResetTimer()
	got, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{c}, make([]byte, 256<<10))
	if err != nil || got != int64(n)<<20 {
		b.Fatalf("%d bytes, %v", got, err)
	}
}
