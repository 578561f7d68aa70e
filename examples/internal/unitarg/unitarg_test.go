package unitarg

import (
	"flag"
	"testing"
)

func TestParse(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvVar {
				return v
			}
			return ""
		}
	}
	cases := []struct {
		args    []string
		env     string
		want    uint64
		wantN   int
		wantErr bool
	}{
		{args: []string{"7"}, want: 7},
		{args: nil, env: "12", want: 12},
		{args: []string{"-n", "3", "5", "x"}, env: "9", want: 5, wantN: 3},
		{args: nil, wantErr: true},
		{args: []string{"-1"}, wantErr: true}, // not a flag we define
		{args: []string{"abc"}, wantErr: true},
		{args: nil, env: "18446744073709551616", wantErr: true},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		n := fs.Int("n", 0, "")
		got, _, err := Parse(fs, c.args, env(c.env))
		if (err != nil) != c.wantErr {
			t.Fatalf("%v env %q: err %v", c.args, c.env, err)
		}
		if err == nil && (got != c.want || *n != c.wantN) {
			t.Fatalf("%v env %q: got %d n=%d, want %d n=%d", c.args, c.env, got, *n, c.want, c.wantN)
		}
	}
}
