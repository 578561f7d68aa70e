// Command job is the compute package's test module. Its first argument
// picks a behaviour:
//
//	job echo           writes "echo:" and then stdin reversed
//	job work N UNIT    a CPU-bound loop of N iterations; writes a checksum
//	job spin UNIT      loops forever
//	job hog UNIT       allocates memory without bound
//	job fill UNIT      allocates memory without bound, writing every page
//	job fail UNIT      exits with status 3 when UNIT is odd, else writes "ok"
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

var sink [][]byte

func main() {
	args := os.Args[1:]
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: job MODE [N] UNIT")
		os.Exit(2)
	}
	unit := args[len(args)-1] // the mode itself when there is no unit argument (input mode)
	switch args[0] {
	case "echo":
		in, _ := io.ReadAll(os.Stdin)
		for i, j := 0, len(in)-1; i < j; i, j = i+1, j-1 {
			in[i], in[j] = in[j], in[i]
		}
		fmt.Printf("%s:%s", unit, in)
	case "work":
		n, _ := strconv.ParseUint(args[1], 10, 64)
		u, _ := strconv.ParseUint(unit, 10, 64)
		x := u*0x9E3779B97F4A7C15 + 1
		for i := uint64(0); i < n; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		fmt.Printf("unit=%s sum=%x env=%s", unit, x, os.Getenv("PEERPATH_UNIT"))
	case "spin":
		x := 1
		for {
			x = x*3 + 1
			if x == 0 {
				break
			}
		}
		fmt.Println(x)
	case "hog":
		for {
			sink = append(sink, make([]byte, 1<<20))
			sink[len(sink)-1][0] = 1
		}
	case "fill":
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			sink = append(sink, b)
		}
	case "fail":
		u, _ := strconv.Atoi(unit)
		if u%2 == 1 {
			fmt.Fprintln(os.Stderr, "odd unit refused")
			os.Exit(3)
		}
		fmt.Print("ok")
	default:
		os.Exit(2)
	}
}
