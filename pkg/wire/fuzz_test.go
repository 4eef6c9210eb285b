package wire

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// Fuzz targets of the wire contract's parsers, seeded from the shared
// vectors; test/run.sh runs each for a bounded time and crashers found are
// kept under testdata/fuzz as regression cases.

// seedVectors loads testdata/vectors.json for a fuzz target's seeds.
func seedVectors(f *testing.F) vectors {
	f.Helper()
	v, _ := loadVectors(f)
	return v
}

func FuzzParseDescriptor(f *testing.F) {
	v := seedVectors(f)
	for _, d := range v.Descriptors {
		f.Add([]byte(d.Command))
	}
	for _, s := range v.NotJSON {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, cmd []byte) {
		d, err := ParseDescriptor(cmd)
		if err != nil {
			var de *DescriptorError
			if !errors.As(err, &de) || KindOf(err) != KindInvalidArgument {
				t.Fatalf("error %v is not an invalid-argument DescriptorError", err)
			}
			return
		}
		// What parsed re-encodes to a command that parses the same.
		again, err := ParseDescriptor(d.Command())
		if err != nil || !bytes.Equal(again.Command(), d.Command()) {
			t.Fatalf("round trip of %q: %v, %q vs %q", cmd, err, again.Command(), d.Command())
		}
	})
}

func FuzzVerifyTicket(f *testing.F) {
	v := seedVectors(f)
	for _, c := range v.Tickets.Cases {
		f.Add([]byte(c.Wire))
	}
	s := NewSigner([]byte(v.Tickets.Secret))
	now := time.Unix(v.Tickets.Now, 0)
	f.Fuzz(func(t *testing.T, wire []byte) {
		tk, skip, err := s.Verify(wire, now)
		if err != nil {
			switch KindOf(err) {
			case KindInvalidArgument, KindPermission, KindExpired:
			default:
				t.Fatalf("verify error of kind %v: %v", KindOf(err), err)
			}
			return
		}
		if tk == nil || skip < 0 {
			t.Fatalf("verified ticket %+v with skip %d", tk, skip)
		}
	})
}

func FuzzParseResume(f *testing.F) {
	v := seedVectors(f)
	for _, r := range v.Resume {
		f.Add([]byte(r.Wire))
	}
	for _, s := range v.BadResume {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		tk, skip, err := ParseResume(wire)
		if err != nil {
			return
		}
		if skip < 0 || len(tk) > len(wire) {
			t.Fatalf("ParseResume(%q) = %q, %d", wire, tk, skip)
		}
	})
}

func FuzzParseBatchMeta(f *testing.F) {
	v := seedVectors(f)
	for _, m := range v.BatchMeta {
		f.Add([]byte(m.Raw))
	}
	for _, s := range v.BadBatchMeta {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ParseBatchMeta(raw)
		if err != nil {
			return
		}
		again, err := ParseBatchMeta(AppendBatchMeta(nil, m))
		if err != nil || again != m {
			t.Fatalf("round trip of %q: %+v, %v", raw, again, err)
		}
	})
}
