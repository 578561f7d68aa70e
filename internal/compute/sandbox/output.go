package sandbox

import (
	"bytes"
	"errors"
	"sync"
)

// errCapExceeded is what the guest's write returns past the cap (the guest
// sees an I/O error); the run is stopped at the same time.
var errCapExceeded = errors.New("sandbox: output cap exceeded")

// cappedBuffer collects a guest stream up to limit bytes. The first write
// that would cross the limit keeps what fits, records the overflow, calls
// onOverflow (which stops the guest) and fails.
type cappedBuffer struct {
	limit      int64
	onOverflow func()

	mu       sync.Mutex
	buf      bytes.Buffer
	overflow bool
}

// Write implements io.Writer.
func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.overflow {
		c.mu.Unlock()
		return 0, errCapExceeded
	}
	room := c.limit - int64(c.buf.Len())
	if int64(len(p)) <= room {
		c.buf.Write(p)
		c.mu.Unlock()
		return len(p), nil
	}
	c.buf.Write(p[:room])
	c.overflow = true
	c.mu.Unlock()
	if c.onOverflow != nil {
		c.onOverflow()
	}
	return int(room), errCapExceeded
}

// result returns the collected bytes and whether the cap was crossed. Call
// it once the guest has stopped: the bytes are not copied.
func (c *cappedBuffer) result() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Bytes(), c.overflow
}
