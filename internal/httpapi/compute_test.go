package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/peerpath/peerpath/internal/compute"
)

// A job request's inputs are counted while they are decoded: more than
// compute.MaxJobUnits is refused before a slice that size is made.
func TestJobRequestInputsBounded(t *testing.T) {
	var req jobRequest
	ok := `{"module":"AA==","inputs":["aGk=",""],"count":0}`
	if err := json.Unmarshal([]byte(ok), &req); err != nil || len(req.Inputs) != 2 || string(req.Inputs[0]) != "hi" {
		t.Fatalf("decode %s: %v, %q", ok, err, req.Inputs)
	}
	many := `{"inputs":[` + strings.Repeat(`"",`, compute.MaxJobUnits) + `""]}`
	if err := json.Unmarshal([]byte(many), &jobRequest{}); err == nil || !strings.Contains(err.Error(), "units per job") {
		t.Fatalf("%d inputs: %v", compute.MaxJobUnits+1, err)
	}
	if err := json.Unmarshal([]byte(`{"inputs":null}`), &req); err != nil || req.Inputs != nil {
		t.Fatalf("null inputs: %v %v", err, req.Inputs)
	}
	if err := json.Unmarshal([]byte(`{"inputs":{}}`), &jobRequest{}); err == nil {
		t.Fatal("inputs as an object accepted")
	}
}

func FuzzBoundedInputs(f *testing.F) {
	f.Add([]byte(`["aGk=",""]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b boundedInputs
		if err := json.Unmarshal(data, &b); err != nil {
			return
		}
		if len(b) > compute.MaxJobUnits {
			t.Fatalf("%d inputs accepted", len(b))
		}
		var plain [][]byte
		if err := json.Unmarshal(data, &plain); err != nil {
			t.Fatalf("accepted what [][]byte refuses: %v", err)
		}
	})
}
