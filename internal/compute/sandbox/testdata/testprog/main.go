// Command testprog is a WASI guest used by the sandbox tests. Its first
// argument selects a behaviour. It avoids fmt and crypto to stay small, so
// that it compiles quickly.
package main

import (
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

var sink [][]byte

func say(w io.Writer, parts ...string) {
	io.WriteString(w, strings.Join(parts, " ")+"\n")
}

func main() {
	if len(os.Args) < 2 {
		say(os.Stderr, "usage: testprog MODE [ARGS]")
		os.Exit(64)
	}
	switch mode := os.Args[1]; mode {
	case "echo":
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			say(os.Stderr, err.Error())
			os.Exit(1)
		}
	case "argsenv":
		env := os.Environ()
		slices.Sort(env)
		io.WriteString(os.Stdout, "args="+strings.Join(os.Args, ",")+"\nenv="+strings.Join(env, ",")+"\n")
	case "exit":
		code, _ := strconv.Atoi(os.Args[2])
		say(os.Stderr, "exiting with", strconv.Itoa(code))
		os.Exit(code)
	case "alloc":
		// Allocate (and touch) 1 MiB blocks forever.
		for i := 0; ; i++ {
			b := make([]byte, 1<<20)
			b[i%len(b)] = 1
			sink = append(sink, b)
		}
	case "spam":
		line := []byte(strings.Repeat("x", 1023) + "\n")
		for {
			os.Stdout.Write(line) // errors deliberately ignored
		}
	case "spamerr":
		line := []byte(strings.Repeat("e", 1023) + "\n")
		for {
			os.Stderr.Write(line)
		}
	case "open":
		for _, name := range []string{"/etc/passwd", "/", ".", "/tmp"} {
			f, err := os.Open(name)
			if err == nil {
				say(os.Stdout, "opened", name)
				f.Close()
				os.Exit(3)
			}
			say(os.Stdout, "denied "+name+":", err.Error())
		}
		if err := os.WriteFile("/tmp/escape", []byte("x"), 0o644); err == nil {
			say(os.Stdout, "wrote /tmp/escape")
			os.Exit(3)
		}
	case "entropy":
		// The runtime seeds math/rand/v2 from WASI random_get.
		r := strconv.FormatUint(rand.Uint64(), 16) + strconv.FormatUint(rand.Uint64(), 16)
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		say(os.Stdout, "rand="+strings.Repeat("0", 32-len(r))+r, "now="+strconv.FormatInt(t0.UnixNano(), 10), "elapsed="+time.Since(t0).String())
	case "loop":
		n := 0
		for {
			n++
		}
	case "panic":
		panic("boom")
	default:
		say(os.Stderr, "unknown mode", mode)
		os.Exit(64)
	}
}
