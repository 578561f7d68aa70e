package sandbox

// Tiny hand-assembled WebAssembly modules for the tests, so that traps,
// loops and memory growth can be exercised without a compiler.

// uleb encodes v as unsigned LEB128.
func uleb(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

// section encodes a section with the given id and contents.
func section(id byte, contents ...byte) []byte {
	out := []byte{id}
	out = append(out, uleb(uint64(len(contents)))...)
	return append(out, contents...)
}

// name encodes a length-prefixed name.
func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

// concat joins byte slices.
func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// modOptions describes a one-function module.
type modOptions struct {
	body        []byte // instructions of the function, without the final end
	memPages    uint64 // initial memory pages (exported as "memory")
	exportStart bool   // export the function as "_start"
	importEnv   bool   // import env.foo () -> () as function 0
	table       []byte // contents of a table section, if any
	locals      []byte // local declarations; nil means none
	after       []byte // sections appended after the code section
}

// buildModule assembles a module with one () -> () function.
func buildModule(o modOptions) []byte {
	header := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	types := section(1, 0x01, 0x60, 0x00, 0x00)
	var imports []byte
	fnIndex := byte(0)
	if o.importEnv {
		imports = section(2, concat([]byte{0x01}, name("env"), name("foo"), []byte{0x00, 0x00})...)
		fnIndex = 1
	}
	funcs := section(3, 0x01, 0x00)
	var table []byte
	if o.table != nil {
		table = section(4, o.table...)
	}
	mem := section(5, concat([]byte{0x01, 0x00}, uleb(o.memPages))...)
	var exports []byte
	var n byte
	if o.exportStart {
		exports = append(exports, concat(name("_start"), []byte{0x00, fnIndex})...)
		n++
	}
	exports = append(exports, concat(name("memory"), []byte{0x02, 0x00})...)
	n++
	exp := section(7, concat([]byte{n}, exports)...)
	locals := o.locals
	if locals == nil {
		locals = []byte{0x00}
	}
	body := concat(locals, o.body, []byte{0x0b})
	code := section(10, concat([]byte{0x01}, uleb(uint64(len(body))), body)...)
	return concat(header, types, imports, funcs, table, mem, exp, code, o.after)
}

var (
	// wasmUnreachable traps at once.
	wasmUnreachable = buildModule(modOptions{body: []byte{0x00}, memPages: 1, exportStart: true})
	// wasmLoop spins forever without calling the host.
	wasmLoop = buildModule(modOptions{body: []byte{0x03, 0x40, 0x0c, 0x00, 0x0b}, memPages: 1, exportStart: true})
	// wasmGrow grows memory by 1 MiB until memory.grow fails, then traps.
	wasmGrow = buildModule(modOptions{
		body: []byte{
			0x03, 0x40, // loop
			0x41, 0x10, // i32.const 16 (pages)
			0x40, 0x00, // memory.grow
			0x41, 0x7f, // i32.const -1
			0x47,       // i32.ne
			0x0d, 0x00, // br_if 0
			0x0b, // end
			0x00, // unreachable
		},
		memPages: 1, exportStart: true,
	})
	// wasmNop returns at once.
	wasmNop = buildModule(modOptions{body: nil, memPages: 1, exportStart: true})
	// wasmBigMemory asks for 128 MiB of initial memory.
	wasmBigMemory = buildModule(modOptions{body: nil, memPages: 2048, exportStart: true})
	// wasmNoStart exports no _start (a reactor, not a command).
	wasmNoStart = buildModule(modOptions{body: nil, memPages: 1})
	// wasmEnvImport imports a function the sandbox does not provide.
	wasmEnvImport = buildModule(modOptions{body: nil, memPages: 1, exportStart: true, importEnv: true})
)

var (
	// wasmRecurse calls itself forever.
	wasmRecurse = buildModule(modOptions{body: []byte{0x10, 0x00}, memPages: 1, exportStart: true})
	// wasmTableGrow grows an unbounded table by 2^31-1 entries (needs
	// reference types, which the runner disables).
	wasmTableGrow = buildModule(modOptions{
		table: []byte{0x01, 0x70, 0x00, 0x00}, // one funcref table, min 0, no max
		body: []byte{
			0xd0, 0x70, // ref.null func
			0x41, 0xff, 0xff, 0xff, 0xff, 0x07, // i32.const 0x7fffffff
			0xfc, 0x0f, 0x00, // table.grow 0
			0x1a, // drop
		},
		memPages: 1, exportStart: true,
	})
	// wasmBigTable declares a table of 2^27 entries (1 GiB of host memory).
	wasmBigTable = buildModule(modOptions{
		table:    concat([]byte{0x01, 0x70, 0x00}, uleb(1<<27)),
		memPages: 1, exportStart: true,
	})
	// wasmLocalsBomb declares 2^32-1 locals in a few bytes.
	wasmLocalsBomb = buildModule(modOptions{
		locals:   []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f},
		memPages: 1, exportStart: true,
	})
	// wasmDataBomb has a data segment claiming 4 GiB of bytes.
	wasmDataBomb = buildModule(modOptions{
		memPages: 1, exportStart: true,
		after: section(11, 0x01, 0x00, 0x41, 0x00, 0x0b, 0xff, 0xff, 0xff, 0xff, 0x0f),
	})
	// wasmExportBomb claims 600 million exports in 54 bytes (found by
	// FuzzCompile: wazero v1.12 allocates them before reading them).
	wasmExportBomb = []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01`\x00\x00\x03\x02\x01\x00\x05\x03\x01\x00\x01\a\x13\xd6\xca\x99\x87\x02\x06_start\x00\x00\x06memory\x02\x00\n\x04\x01\x02\x00\v")
	// wasmParamsBomb declares a function type with 2^32-1 parameters.
	wasmParamsBomb = concat(wasmNop[:8], section(1, 0x01, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f))
	// wasmNamesBomb has a name section claiming 2^32-1 function names.
	wasmNamesBomb = concat(wasmNop, section(0, concat(name("name"), []byte{0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f})...))
)

// wasmOnce traps if its memory already holds the mark it leaves, so a
// second run traps unless every run gets fresh memory.
var wasmOnce = buildModule(modOptions{
	body: []byte{
		0x41, 0x00, // i32.const 0
		0x2d, 0x00, 0x00, // i32.load8_u
		0x04, 0x40, 0x00, 0x0b, // if: unreachable
		0x41, 0x00, 0x41, 0x01, // i32.const 0, i32.const 1
		0x3a, 0x00, 0x00, // i32.store8
	},
	memPages: 1, exportStart: true,
})

// wasmExpRecursion calls f(40), where f(n) calls f(n-1) twice: 2^40 calls
// and no loop, so wazero's loop-header checks never run.
var wasmExpRecursion = func() []byte {
	types := section(1, 0x02, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x00)
	funcs := section(3, 0x02, 0x00, 0x01)
	mem := section(5, 0x01, 0x00, 0x01)
	exp := section(7, concat([]byte{0x02}, name("_start"), []byte{0x00, 0x00}, name("memory"), []byte{0x02, 0x00})...)
	start := []byte{0x00, 0x41, 40, 0x10, 0x01, 0x0b} // i32.const 40, call f
	f := []byte{
		0x00,                   // no locals
		0x20, 0x00, 0x04, 0x40, // local.get 0, if
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x01, // f(n-1)
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x01, // f(n-1)
		0x0b, 0x0b, // end if, end
	}
	code := section(10, concat([]byte{0x02}, uleb(uint64(len(start))), start, uleb(uint64(len(f))), f)...)
	return concat(wasmNop[:8], types, funcs, mem, exp, code)
}()

// wasiModule assembles a module importing fd_read, fd_write (functions 0
// and 1), random_get (2) and proc_exit (3) from WASI, whose _start
// (function 4) runs body. Memory: one page.
func wasiModule(body []byte) []byte {
	types := section(1,
		0x04,
		0x60, 0x00, 0x00, // 0: () -> ()
		0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, // 1: fd_read, fd_write
		0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // 2: random_get
		0x60, 0x01, 0x7f, 0x00, // 3: proc_exit
	)
	imp := func(fn string, typ byte) []byte {
		return concat(name("wasi_snapshot_preview1"), name(fn), []byte{0x00, typ})
	}
	imports := section(2, concat([]byte{0x04}, imp("fd_read", 1), imp("fd_write", 1), imp("random_get", 2), imp("proc_exit", 3))...)
	funcs := section(3, 0x01, 0x00)
	mem := section(5, 0x01, 0x00, 0x01)
	exp := section(7, concat([]byte{0x02}, name("_start"), []byte{0x00, 0x04}, name("memory"), []byte{0x02, 0x00})...)
	b := concat([]byte{0x00}, body, []byte{0x0b})
	code := section(10, concat([]byte{0x01}, uleb(uint64(len(b))), b)...)
	return concat(wasmNop[:8], types, imports, funcs, mem, exp, code)
}

// Instruction snippets for wasiModule bodies. The iovec lives at 0, the
// byte count at 8 (fd_read) or 12 (fd_write), the buffer at 64.
var (
	setIOV = func(length []byte) []byte { // iov = {64, length}
		return concat([]byte{0x41, 0x00, 0x41, 0xc0, 0x00, 0x36, 0x02, 0x00, 0x41, 0x04}, length, []byte{0x36, 0x02, 0x00})
	}
	callRead  = []byte{0x41, 0x00, 0x41, 0x00, 0x41, 0x01, 0x41, 0x08, 0x10, 0x00, 0x1a} // fd_read(0, iov, 1, 8)
	callWrite = []byte{0x41, 0x01, 0x41, 0x00, 0x41, 0x01, 0x41, 0x0c, 0x10, 0x01, 0x1a} // fd_write(1, iov, 1, 12)
)

var (
	// wasiEcho copies stdin to stdout.
	wasiEcho = wasiModule(concat(
		[]byte{0x02, 0x40, 0x03, 0x40},   // block, loop
		setIOV([]byte{0x41, 0x80, 0x20}), // len 4096
		callRead,
		[]byte{0x41, 0x08, 0x28, 0x02, 0x00, 0x45, 0x0d, 0x01},             // if nread == 0: break
		[]byte{0x41, 0x04, 0x41, 0x08, 0x28, 0x02, 0x00, 0x36, 0x02, 0x00}, // iov.len = nread
		callWrite,
		[]byte{0x0c, 0x00, 0x0b, 0x0b}, // br loop, end, end
	))
	// wasiExit7 exits with code 7.
	wasiExit7 = wasiModule([]byte{0x41, 0x07, 0x10, 0x03})
	// wasiSpam writes 1 KiB to stdout forever, ignoring errors.
	wasiSpam = wasiModule(concat(
		setIOV([]byte{0x41, 0x80, 0x08}), // len 1024
		[]byte{0x03, 0x40}, callWrite, []byte{0x0c, 0x00, 0x0b},
	))
	// wasiRandom writes 16 bytes from random_get.
	wasiRandom = wasiModule(concat(
		[]byte{0x41, 0xc0, 0x00, 0x41, 0x10, 0x10, 0x02, 0x1a}, // random_get(64, 16)
		setIOV([]byte{0x41, 0x10}),
		callWrite,
	))
)
