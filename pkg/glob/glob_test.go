package glob

import (
	"errors"
	"strings"
	"testing"
)

func TestCompileMatch(t *testing.T) {
	cases := []struct {
		pattern string
		yes, no []string
	}{
		{"*.jpg", []string{"a.jpg", ".jpg", "x.y.jpg"}, []string{"a.jpeg", "a.JPG", "a.jpg.txt"}},
		{"?.png", []string{"a.png", "é.png"}, []string{"ab.png", ".png"}},
		{"[abc]1", []string{"a1", "c1"}, []string{"d1", "ab1"}},
		{"[a-c]*", []string{"a", "bz"}, []string{"d", ""}},
		{"[^a]x", []string{"bx"}, []string{"ax", "x"}},
		{"[!a]x", []string{"bx"}, []string{"ax"}},
		{"*.{jpg,png}", []string{"a.jpg", "b.png"}, []string{"c.gif", "a.jpgpng"}},
		{"{a,{b,c}d}", []string{"a", "bd", "cd"}, []string{"b", "ad"}},
		{`a\*`, []string{"a*"}, []string{"ab"}},
		{`\{x\}`, []string{"{x}"}, []string{"x"}},
		{"a,b}", []string{"a,b}"}, nil},
		{"[-a]", []string{"-", "a"}, []string{"b"}},
		{"[a-]", []string{"-", "a"}, []string{"b"}},
		{"x.(y)+", []string{"x.(y)+"}, []string{"x.yy"}},
	}
	for _, tc := range cases {
		p, err := Compile(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		for _, s := range tc.yes {
			if !p.Match(s) {
				t.Errorf("%q does not match %q", tc.pattern, s)
			}
		}
		for _, s := range tc.no {
			if p.Match(s) {
				t.Errorf("%q matches %q", tc.pattern, s)
			}
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, p := range []string{"[abc", "{a,b", `a\`, "[]", "[z-a]", "a{b{c}"} {
		if _, err := Compile(p); !errors.Is(err, ErrSyntax) {
			t.Errorf("Compile(%q) = %v, want a syntax error", p, err)
		}
		if err := Validate(p); !errors.Is(err, ErrSyntax) {
			t.Errorf("Validate(%q) = %v, want a syntax error", p, err)
		}
	}
}

func TestExpand(t *testing.T) {
	cases := map[string]string{
		"/d/x":                "/d/x",
		"/d/{a,b/c}/*":        "/d/a/*|/d/b/c/*",
		"/d/{a,{b,c}x}":       "/d/a|/d/bx|/d/cx",
		"/d/{a,b}{1,2}":       "/d/a1|/d/a2|/d/b1|/d/b2",
		`/d/\{a,b\}`:          `/d/\{a,b\}`,
		"/d/[{]x{1,2}":        "/d/[{]x1|/d/[{]x2",
		"/d/cls=*/{0,1}*.jpg": "/d/cls=*/0*.jpg|/d/cls=*/1*.jpg",
	}
	for in, want := range cases {
		got, err := Expand(in)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bomb := strings.Repeat("{a,b}", 11) // 2048 patterns
	if _, err := Expand(bomb); !errors.Is(err, ErrSyntax) {
		t.Errorf("expansion bomb: %v", err)
	}
	if got, _ := Expand(strings.Repeat("{a,b}", 10)); len(got) != 1024 {
		t.Errorf("1024 expansions: got %d", len(got))
	}
}

func TestIsGlob(t *testing.T) {
	for s, want := range map[string]bool{"/a/b": false, "/a/*": true, "/a/b?": true, "/a/[x]": true, "/a/{x}": true, `/a\b`: true, "/a/b=c": false} {
		if IsGlob(s) != want {
			t.Errorf("IsGlob(%q) = %v", s, !want)
		}
	}
}
