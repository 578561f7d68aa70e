// Command testprog is a WASI guest used by the sandbox tests. Its first
// argument selects a behaviour.
package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

var sink [][]byte

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testprog MODE [ARGS]")
		os.Exit(64)
	}
	switch mode := os.Args[1]; mode {
	case "echo":
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "argsenv":
		env := os.Environ()
		slices.Sort(env)
		fmt.Printf("args=%s\nenv=%s\n", strings.Join(os.Args, ","), strings.Join(env, ","))
	case "exit":
		code, _ := strconv.Atoi(os.Args[2])
		fmt.Fprintln(os.Stderr, "exiting with", code)
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
				fmt.Printf("opened %s\n", name)
				f.Close()
				os.Exit(3)
			}
			fmt.Printf("denied %s: %v\n", name, err)
		}
		if err := os.WriteFile("/tmp/escape", []byte("x"), 0o644); err == nil {
			fmt.Println("wrote /tmp/escape")
			os.Exit(3)
		}
	case "entropy":
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(err)
		}
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		fmt.Printf("rand=%x now=%d elapsed=%v\n", b, t0.UnixNano(), time.Since(t0))
	case "loop":
		n := 0
		for {
			n++
		}
	case "panic":
		panic("boom")
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(64)
	}
}
