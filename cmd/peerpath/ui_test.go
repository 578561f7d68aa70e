package main

import (
	"strings"
	"testing"
)

func TestBrowserCommandPerSystem(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	const url = "http://127.0.0.1:5101/ui/login?code=x"
	for _, tc := range []struct {
		goos string
		env  map[string]string
		want string
	}{
		{"darwin", nil, "open"},
		{"windows", nil, "rundll32"},
		{"linux", map[string]string{"DISPLAY": ":0"}, "xdg-open"},
		{"linux", map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, "xdg-open"},
		{"freebsd", map[string]string{"DISPLAY": ":0"}, "xdg-open"},
		{"linux", map[string]string{"BROWSER": "firefox"}, "firefox"},
		{"linux", nil, ""},
	} {
		name, args, why := browserCommand(tc.goos, env(tc.env), url)
		if name != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.goos, tc.env, name, tc.want)
		}
		if name == "" && !strings.Contains(why, "No display") {
			t.Errorf("no reason given: %q", why)
		}
		if name != "" && args[len(args)-1] != url {
			t.Errorf("%s: args %v", tc.goos, args)
		}
	}
}

func TestProgressLine(t *testing.T) {
	// Binary units as the summary line, the run's own rate, "1 peer".
	got := progressLine(20<<20, 40<<20, 2<<20, 1, 100)
	for _, want := range []string{" 50%", "20.0 MiB / 40.0 MiB", "2.0 MiB/s", "1 peer ", "ETA 10s", "[###############...............]"} {
		if !strings.Contains(got+" ", want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "MB") {
		t.Errorf("SI units in %q", got)
	}
	// A resume starts at the share already on disk.
	if got := progressLine(30<<20, 40<<20, 0, 2, 100); !strings.Contains(got, " 75%") || !strings.Contains(got, "2 peers") {
		t.Errorf("resume: %q", got)
	}
	if got := progressLine(1, 2, 0, 0, 30); len(got) > 40 {
		t.Errorf("narrow: %q", got)
	}
}
