package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The console's guard: the same users and tokens as Flight. Table of
// credentials a request may carry, and whether the page is served.
func TestProtectHTTP(t *testing.T) {
	bcb, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	tokens := newTokenAuthority([]byte("0123456789abcdef0123456789abcdef"))
	tokens.now = func() time.Time { return now }
	users := map[string]string{"alice": string(bcb)}
	s := &security{tokens: tokens, validator: &authValidator{users: users, tokens: tokens, ttl: time.Hour, dummy: dummyHashFor(users)}}
	h := s.protectHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) }))
	good := tokens.mint("alice", now.Add(time.Minute))
	other := newTokenAuthority([]byte("another cluster's secret, 32 b!!")).mint("alice", now.Add(time.Minute))
	for _, tc := range []struct {
		name string
		set  func(r *http.Request)
		code int
	}{
		{"nothing", func(*http.Request) {}, http.StatusUnauthorized},
		{"basic, right password", func(r *http.Request) { r.SetBasicAuth("alice", "s3cret") }, http.StatusOK},
		{"basic, wrong password", func(r *http.Request) { r.SetBasicAuth("alice", "nope") }, http.StatusUnauthorized},
		{"basic, unknown user", func(r *http.Request) { r.SetBasicAuth("mallory", "s3cret") }, http.StatusUnauthorized},
		{"bearer from the handshake", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+good) }, http.StatusOK},
		{"bearer of another cluster", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+other) }, http.StatusUnauthorized},
		{"expired bearer", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+tokens.mint("alice", now.Add(-time.Second)))
		}, http.StatusUnauthorized},
		{"session cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: webCookie, Value: good}) }, http.StatusOK},
		{"altered cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: webCookie, Value: good + "x"}) }, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/cluster", nil)
			tc.set(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d", w.Code, tc.code)
			}
			if tc.code == http.StatusUnauthorized && (w.Body.String() == "page" || w.Header().Get("WWW-Authenticate") == "") {
				t.Fatalf("refusal served the page or asked for nothing: %q", w.Body.String())
			}
		})
	}
	// A Basic login starts a session: an HttpOnly, SameSite=Strict cookie
	// holding a token the guard accepts.
	r := httptest.NewRequest("GET", "/cluster", nil)
	r.SetBasicAuth("alice", "s3cret")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookies %+v", cookies)
	}
	if _, err := tokens.verify(cookies[0].Value); err != nil {
		t.Fatalf("session token: %v", err)
	}
}
