package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestRenderedDefaultsLoadBack(t *testing.T) {
	h := Home(t.TempDir())
	if err := os.WriteFile(h.Path(FileConfig), Render(Default()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(h)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if len(got.Bootstrap) == 0 && len(want.Bootstrap) == 0 {
		got.Bootstrap, want.Bootstrap = nil, nil
	}
	if len(got.LedgerVoters) == 0 && len(want.LedgerVoters) == 0 {
		got.LedgerVoters, want.LedgerVoters = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded %+v\nwant %+v", got, want)
	}
	// Every key of Config appears in the rendered file.
	text := string(Render(Default()))
	typ := reflect.TypeOf(Config{})
	for i := 0; i < typ.NumField(); i++ {
		key := typ.Field(i).Tag.Get("toml")
		if !strings.Contains(text, "\n"+key+" = ") {
			t.Errorf("rendered config lacks key %q", key)
		}
	}
}

func TestLoadRejectsUnknownAndBadValues(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key": "lisen = []\n",
		"bad level":   "log_level = \"loud\"\n",
		"bad format":  "log_format = \"xml\"\n",
		"bad syntax":  "api = \n",
		"negative":    "max_upload = -1\n",
	} {
		h := Home(t.TempDir())
		os.WriteFile(h.Path(FileConfig), []byte(body), 0o600)
		if _, err := Load(h); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
}

func TestMissingFileGivesDefaults(t *testing.T) {
	got, err := Load(Home(t.TempDir()))
	if err != nil || got.API != DefaultAPIAddr {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestResolveHome(t *testing.T) {
	t.Setenv("PEERPATH_HOME", "/from/env")
	if h, _ := ResolveHome("/from/flag"); h != "/from/flag" {
		t.Fatalf("flag: %s", h)
	}
	if h, _ := ResolveHome(""); h != "/from/env" {
		t.Fatalf("env: %s", h)
	}
}
