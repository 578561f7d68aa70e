package sandbox

import (
	"errors"
	"fmt"
)

// Structural limits checked by precheck before a module reaches wazero. They
// follow the implementation limits of the WebAssembly JS API (what browsers
// accept), except tables, which are capped lower because wazero keeps them
// outside linear memory and so outside the unit's memory limit.
const (
	maxTypes        = 1_000_000
	maxFunctions    = 1_000_000
	maxImports      = 100_000
	maxExports      = 100_000
	maxGlobals      = 1_000_000
	maxDataSegments = 100_000
	maxElemSegments = 100_000
	maxTables       = 100
	maxTableEntries = 1 << 20 // 8 MiB of host memory per table instance
	maxParams       = 1000
	maxResults      = 1000
	maxLocals       = 50_000
	maxBodySize     = 7_654_321
)

// precheck walks the binary structure of a module before wazero decodes it.
//
// wazero v1.12 sizes several allocations from counts read from the binary
// before it checks them against the bytes that follow: a 54-byte module
// claiming 600 million exports makes it allocate tens of gigabytes (found by
// FuzzCompile), and a data segment, a function's locals or a name map can do
// the same. precheck rejects every count that exceeds the bytes left to hold
// its elements or the limits above, so that decoding costs at most a small
// multiple of the module's size. It also caps the initial size of tables,
// which wazero allocates outside linear memory.
//
// precheck checks structure only; wazero validates everything else.
func precheck(wasm []byte) error {
	r := &wreader{b: wasm}
	magic, err := r.bytes(8)
	if err != nil {
		return errors.New("module shorter than its header")
	}
	if string(magic) != "\x00asm\x01\x00\x00\x00" {
		return errors.New("not a WebAssembly 1.0 binary (bad magic or version)")
	}
	for r.remaining() > 0 {
		id, _ := r.byte()
		size, err := r.u32()
		if err != nil {
			return fmt.Errorf("section %d size: %w", id, err)
		}
		body, err := r.bytes(int(size))
		if err != nil {
			return fmt.Errorf("section %d: size %d exceeds the module", id, size)
		}
		s := &wreader{b: body}
		if err := checkSection(id, s); err != nil {
			return fmt.Errorf("section %d at offset %d: %w", id, r.off-len(body), err)
		}
		if s.remaining() != 0 && id != 0 {
			return fmt.Errorf("section %d: %d trailing bytes", id, s.remaining())
		}
	}
	return nil
}

// checkSection checks the body of one section.
func checkSection(id byte, s *wreader) error {
	switch id {
	case 0:
		return checkCustom(s)
	case 1: // type
		return s.vec(maxTypes, "types", func() error {
			if form, err := s.byte(); err != nil || form != 0x60 {
				return errors.New("function type expected")
			}
			if err := s.vec(maxParams, "params", s.valType); err != nil {
				return err
			}
			return s.vec(maxResults, "results", s.valType)
		})
	case 2: // import
		return s.vec(maxImports, "imports", func() error {
			if err := s.name(); err != nil {
				return err
			}
			if err := s.name(); err != nil {
				return err
			}
			kind, err := s.byte()
			if err != nil {
				return err
			}
			switch kind {
			case 0x00: // function
				_, err = s.u32()
			case 0x01:
				err = s.tableType()
			case 0x02:
				_, _, err = s.limits()
			case 0x03:
				if err = s.valType(); err == nil {
					_, err = s.byte()
				}
			case 0x04: // tag
				if _, err = s.byte(); err == nil {
					_, err = s.u32()
				}
			default:
				err = fmt.Errorf("unknown import kind %#x", kind)
			}
			return err
		})
	case 3: // function
		return s.vec(maxFunctions, "functions", func() error { _, err := s.u32(); return err })
	case 4: // table
		return s.vec(maxTables, "tables", func() error {
			init := false
			if b, err := s.peek(); err == nil && b == 0x40 {
				s.off++
				if z, err := s.byte(); err != nil || z != 0 {
					return errors.New("bad table prefix")
				}
				init = true
			}
			if err := s.tableType(); err != nil {
				return err
			}
			if init {
				return s.constExpr()
			}
			return nil
		})
	case 5: // memory
		return s.vec(1, "memories", func() error { _, _, err := s.limits(); return err })
	case 6: // global
		return s.vec(maxGlobals, "globals", func() error {
			if err := s.valType(); err != nil {
				return err
			}
			if _, err := s.byte(); err != nil {
				return err
			}
			return s.constExpr()
		})
	case 7: // export
		return s.vec(maxExports, "exports", func() error {
			if err := s.name(); err != nil {
				return err
			}
			if _, err := s.byte(); err != nil {
				return err
			}
			_, err := s.u32()
			return err
		})
	case 8: // start
		_, err := s.u32()
		return err
	case 9:
		return s.vec(maxElemSegments, "element segments", s.elemSegment)
	case 10: // code
		return s.vec(maxFunctions, "function bodies", func() error {
			size, err := s.u32()
			if err != nil {
				return err
			}
			if size > maxBodySize {
				return fmt.Errorf("function body of %d bytes", size)
			}
			b, err := s.bytes(int(size))
			if err != nil {
				return err
			}
			body := &wreader{b: b}
			var locals uint64
			return body.vec(maxLocals, "local declarations", func() error {
				n, err := body.u32()
				if err != nil {
					return err
				}
				if locals += uint64(n); locals > maxLocals {
					return fmt.Errorf("more than %d locals", maxLocals)
				}
				return body.valType()
			})
		})
	case 11: // data
		return s.vec(maxDataSegments, "data segments", func() error {
			flags, err := s.u32()
			if err != nil {
				return err
			}
			switch flags {
			case 0:
				err = s.constExpr()
			case 1:
			case 2:
				if _, err = s.u32(); err == nil {
					err = s.constExpr()
				}
			default:
				err = fmt.Errorf("unknown data segment flags %d", flags)
			}
			if err != nil {
				return err
			}
			return s.name() // a byte vector, like a name
		})
	case 12: // data count
		_, err := s.u32()
		return err
	case 13: // tag
		return s.vec(maxFunctions, "tags", func() error {
			if _, err := s.byte(); err != nil {
				return err
			}
			_, err := s.u32()
			return err
		})
	default:
		return fmt.Errorf("unknown section id %d", id)
	}
}

// checkCustom checks a custom section; only "name" is decoded by wazero.
func checkCustom(s *wreader) error {
	n, err := s.u32()
	if err != nil {
		return err
	}
	nameBytes, err := s.bytes(int(n))
	if err != nil {
		return err
	}
	if string(nameBytes) != "name" {
		return nil
	}
	for s.remaining() > 0 {
		id, _ := s.byte()
		size, err := s.u32()
		if err != nil {
			return err
		}
		b, err := s.bytes(int(size))
		if err != nil {
			return fmt.Errorf("name subsection %d: %w", id, err)
		}
		sub := &wreader{b: b}
		nameMap := func(limit uint32) error {
			return sub.vec(limit, "names", func() error {
				if _, err := sub.u32(); err != nil {
					return err
				}
				return sub.name()
			})
		}
		switch id {
		case 0:
			err = sub.name()
		case 1:
			err = nameMap(maxFunctions)
		case 2:
			err = sub.vec(maxFunctions, "local name maps", func() error {
				if _, err := sub.u32(); err != nil {
					return err
				}
				return nameMap(maxLocals)
			})
		default:
			continue // skipped by wazero too
		}
		if err != nil {
			return fmt.Errorf("name subsection %d: %w", id, err)
		}
		// wazero reads these subsections without their declared size, so
		// both must agree.
		if sub.remaining() != 0 {
			return fmt.Errorf("name subsection %d: %d trailing bytes", id, sub.remaining())
		}
	}
	return nil
}

// errShort reports a read past the end of the bytes at hand.
var errShort = errors.New("unexpected end")

// wreader reads WebAssembly binary encodings from b.
type wreader struct {
	b   []byte
	off int
}

func (r *wreader) remaining() int { return len(r.b) - r.off }

func (r *wreader) peek() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	return r.b[r.off], nil
}

func (r *wreader) byte() (byte, error) {
	b, err := r.peek()
	if err == nil {
		r.off++
	}
	return b, err
}

func (r *wreader) bytes(n int) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, errShort
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b, nil
}

// u32 reads an unsigned LEB128 value of at most 32 bits.
func (r *wreader) u32() (uint32, error) {
	var v uint64
	for i := 0; i < 5; i++ {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if v > 1<<32-1 {
				return 0, errors.New("integer overflows 32 bits")
			}
			return uint32(v), nil
		}
	}
	return 0, errors.New("integer too long")
}

// sleb skips a signed LEB128 value of at most maxBytes bytes.
func (r *wreader) sleb(maxBytes int) error {
	for range maxBytes {
		b, err := r.byte()
		if err != nil {
			return err
		}
		if b&0x80 == 0 {
			return nil
		}
	}
	return errors.New("integer too long")
}

// vec reads a vector count, checks it against limit and against the bytes
// left (every element takes at least one byte), and calls elem that often.
func (r *wreader) vec(limit uint32, what string, elem func() error) error {
	n, err := r.u32()
	if err != nil {
		return fmt.Errorf("%s count: %w", what, err)
	}
	if n > limit {
		return fmt.Errorf("%d %s exceed the limit of %d", n, what, limit)
	}
	if int64(n) > int64(r.remaining()) {
		return fmt.Errorf("%d %s cannot fit in the %d bytes left", n, what, r.remaining())
	}
	for i := range n {
		if err := elem(); err != nil {
			return fmt.Errorf("%s[%d]: %w", what, i, err)
		}
	}
	return nil
}

// name skips a length-prefixed byte string.
func (r *wreader) name() error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	_, err = r.bytes(int(n))
	return err
}

// valType skips a value type, including the typed reference forms.
func (r *wreader) valType() error {
	b, err := r.byte()
	if err != nil {
		return err
	}
	if b == 0x63 || b == 0x64 { // (ref null ht), (ref ht)
		return r.sleb(5)
	}
	return nil
}

// limits reads a limits pair; max is -1 when absent.
func (r *wreader) limits() (minimum uint32, maximum int64, err error) {
	flags, err := r.byte()
	if err != nil {
		return 0, 0, err
	}
	if flags > 3 {
		return 0, 0, fmt.Errorf("unsupported limits flags %#x", flags)
	}
	if minimum, err = r.u32(); err != nil {
		return 0, 0, err
	}
	maximum = -1
	if flags&1 != 0 {
		m, err := r.u32()
		if err != nil {
			return 0, 0, err
		}
		maximum = int64(m)
	}
	return minimum, maximum, nil
}

// tableType reads a table type and enforces the table size cap. A table
// cannot grow at run time because the runner disables reference types (and
// with them table.grow), so its initial size is all it will ever take.
func (r *wreader) tableType() error {
	if err := r.valType(); err != nil {
		return err
	}
	minimum, _, err := r.limits()
	if err != nil {
		return err
	}
	if minimum > maxTableEntries {
		return fmt.Errorf("table of %d entries exceeds %d", minimum, maxTableEntries)
	}
	return nil
}

// constExpr skips a constant expression up to and including its end.
func (r *wreader) constExpr() error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41: // i32.const
			err = r.sleb(5)
		case 0x42: // i64.const
			err = r.sleb(10)
		case 0x43: // f32.const
			_, err = r.bytes(4)
		case 0x44: // f64.const
			_, err = r.bytes(8)
		case 0x23, 0xd2: // global.get, ref.func
			_, err = r.u32()
		case 0xd0: // ref.null heaptype
			err = r.sleb(5)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = r.u32(); err == nil {
				if sub != 12 {
					return fmt.Errorf("opcode 0xfd %d in a constant expression", sub)
				}
				_, err = r.bytes(16)
			}
		default:
			return fmt.Errorf("opcode %#x in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

// elemSegment skips one element segment.
func (r *wreader) elemSegment() error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	if flags > 7 {
		return fmt.Errorf("unknown element segment flags %d", flags)
	}
	if flags&2 != 0 && flags&1 == 0 { // explicit table index
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	if flags&1 == 0 { // active: offset expression
		if err := r.constExpr(); err != nil {
			return err
		}
	}
	if flags&3 != 0 { // elemkind (bit 2 clear) or reftype (bit 2 set)
		if flags&4 == 0 {
			if _, err := r.byte(); err != nil {
				return err
			}
		} else if err := r.valType(); err != nil {
			return err
		}
	}
	if flags&4 == 0 {
		return r.vec(maxTableEntries, "function indexes", func() error { _, err := r.u32(); return err })
	}
	return r.vec(maxTableEntries, "element expressions", r.constExpr)
}
