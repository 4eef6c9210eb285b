package server

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestUnknownUserCostsAKnownUsersHash: logging in as an unknown user
// checks the password against a dummy hash of the users' own scheme and
// cost, so login time does not reveal which users exist. Counted through
// the password-check hook, not timed.
func TestUnknownUserCostsAKnownUsersHash(t *testing.T) {
	bc10, err := bcrypt.GenerateFromPassword([]byte("pw"), 10)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := hashPBKDF2("pw", MinPBKDF2Rounds+1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		hash  string
		check func(dummy string) bool
	}{
		{"bcrypt cost 10", string(bc10), func(d string) bool { c, err := bcrypt.Cost([]byte(d)); return err == nil && c == 10 }},
		{"pbkdf2", pb, func(d string) bool {
			r, _, _, err := parsePBKDF2(d)
			return strings.HasPrefix(d, pbkdf2Prefix) && err == nil && r == MinPBKDF2Rounds+1
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users := map[string]string{"alice": tc.hash}
			v := &authValidator{users: users, tokens: newTokenAuthority([]byte("0123456789abcdef")), ttl: time.Hour, dummy: dummyHashFor(users)}
			var checked []string
			passwordCheck = func(hash, pw string) bool { checked = append(checked, hash); return checkPassword(hash, pw) }
			defer func() { passwordCheck = checkPassword }()
			for _, user := range []string{"mallory", "alice"} {
				if _, err := v.Validate(user, "wrong"); err == nil {
					t.Fatalf("%s logged in with a wrong password", user)
				}
			}
			if len(checked) != 2 {
				t.Fatalf("%d password checks for an unknown and a known user, want 2", len(checked))
			}
			if checked[0] == tc.hash || !tc.check(checked[0]) {
				t.Errorf("unknown user checked against %q, want a dummy of the users' scheme and cost", checked[0])
			}
		})
	}
}
