package wire

import (
	"errors"
	"testing"
	"time"
)

func TestTicketSignVerify(t *testing.T) {
	s := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Unix(1_700_000_000, 0)
	tk := &Ticket{Plan: "p", Split: 3, Base: "file:/data", Files: []TicketFile{{Rel: "a.jpg", Size: 10}, {Rel: "b.png", Size: 20}}, Expires: now.Unix() + 60}
	wire, err := s.Sign(tk)
	if err != nil {
		t.Fatal(err)
	}
	flip := append([]byte(nil), wire...)
	flip[5] ^= 1
	tests := []struct {
		name     string
		wire     []byte
		signer   *Signer
		at       time.Time
		wantErr  error
		wantSkip int
	}{
		{"valid", wire, s, now, nil, 0},
		{"resume", append(append([]byte(nil), wire...), ";skip=2"...), s, now, nil, 2},
		{"skip past end", append(append([]byte(nil), wire...), ";skip=3"...), s, now, ErrBadTicket, 0},
		{"negative skip", append(append([]byte(nil), wire...), ";skip=-1"...), s, now, ErrBadTicket, 0},
		{"altered", flip, s, now, ErrBadSignature, 0},
		{"other cluster", wire, NewSigner([]byte("another secret, another cluster")), now, ErrBadSignature, 0},
		{"expired", wire, s, now.Add(2 * time.Minute), ErrTicketExpired, 0},
		{"garbage", []byte("hello"), s, now, ErrBadTicket, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skip, err := tc.signer.Verify(tc.wire, tc.at)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (skip != tc.wantSkip || got.Split != 3 || len(got.Files) != 2 || got.Files[1].Rel != "b.png") {
				t.Errorf("got %+v skip %d", got, skip)
			}
		})
	}
}
