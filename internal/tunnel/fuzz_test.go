package tunnel

import "testing"

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"op":"list"}`))
	f.Add([]byte(`{"op":"open","service":"printer"}`))
	f.Add([]byte(`{"op":"open","service":"../etc"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if (r.Op == OpOpen || r.Service != "") && CheckName(r.Service) != nil {
			t.Fatalf("accepted a bad name %q", r.Service)
		}
		if r.Op != OpOpen && r.Op != OpList {
			t.Fatalf("accepted op %q", r.Op)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"offers":[{"name":"web","price_per_gib":5}]}`))
	f.Add([]byte(`{"error":"no","busy":true}`))
	f.Add([]byte(`{"price_per_gib":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		if r.PricePerGiB < 0 || len(r.Offers) > MaxServices {
			t.Fatalf("accepted %+v", r)
		}
		for _, o := range r.Offers {
			if CheckName(o.Name) != nil || o.PricePerGiB < 0 {
				t.Fatalf("accepted offer %+v", o)
			}
		}
	})
}

func FuzzCheckAddr(f *testing.F) {
	f.Add("127.0.0.1:631")
	f.Add("[fe80::1%eth0]:22")
	f.Add("8.8.8.8:53")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := CheckAddr(s)
		if err != nil {
			return
		}
		b, err := CheckAddr(a)
		if err != nil || a != b {
			t.Fatalf("canonical %q of %q is not stable: %q, %v", a, s, b, err)
		}
	})
}
