// Package glob implements Hadoop's glob syntax, which Spark's load(paths…)
// and its pathGlobFilter option use: `*` (any run of characters within one
// path segment), `?` (one character), `[abc]` and `[a-z]` (one of a set),
// `[^a]` or `[!a]` (one character not in a set), `{a,b}` (alternatives,
// nestable) and `\` (escapes the next character). pkg/wire validates
// descriptor patterns with it; pkg/plan expands path globs and filters file
// names with it.
package glob

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Meta holds the characters that make a path a glob, as Spark's
// SparkHadoopUtil.isGlobPath decides.
const Meta = "{}[]*?\\"

// IsGlob reports whether s holds any glob metacharacter.
func IsGlob(s string) bool { return strings.ContainsAny(s, Meta) }

// MaxExpansions bounds how many patterns brace expansion may produce, so
// that "{a,b}{a,b}…" cannot cost exponential time or memory.
const MaxExpansions = 1024

// ErrSyntax is wrapped by every pattern error.
var ErrSyntax = errors.New("bad glob pattern")

func syntaxErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// Pattern is a compiled glob for one name (one path segment).
type Pattern struct {
	src string
	re  *regexp.Regexp
}

// String is the pattern as written.
func (p *Pattern) String() string { return p.src }

// Match reports whether name matches the whole pattern.
func (p *Pattern) Match(name string) bool { return p.re.MatchString(name) }

// Compile compiles a pattern matched against single names: braces are
// alternatives, as Hadoop's GlobFilter has them.
func Compile(pattern string) (*Pattern, error) {
	var re strings.Builder
	re.WriteString(`^(?s:`)
	curly := 0
	for i := 0; i < len(pattern); {
		r, n := utf8.DecodeRuneInString(pattern[i:])
		switch {
		case r == '\\':
			if i+n >= len(pattern) {
				return nil, syntaxErr("%q ends with a lone backslash", pattern)
			}
			e, m := utf8.DecodeRuneInString(pattern[i+n:])
			re.WriteString(regexp.QuoteMeta(string(e)))
			n += m
		case r == '*':
			re.WriteString(`[^/]*`)
		case r == '?':
			re.WriteString(`[^/]`)
		case r == '{':
			curly++
			re.WriteString(`(?:`)
		case r == ',' && curly > 0:
			re.WriteString(`|`)
		case r == '}' && curly > 0:
			curly--
			re.WriteString(`)`)
		case r == '[':
			set, m, err := compileSet(pattern, i)
			if err != nil {
				return nil, err
			}
			re.WriteString(set)
			n = m
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
		i += n
	}
	if curly > 0 {
		return nil, syntaxErr("%q has an unclosed '{'", pattern)
	}
	re.WriteString(`)$`)
	c, err := regexp.Compile(re.String())
	if err != nil {
		return nil, syntaxErr("%q: %v", pattern, err)
	}
	return &Pattern{src: pattern, re: c}, nil
}

// compileSet compiles the set starting at pattern[i] == '[' into a regexp
// class and returns how many bytes it spans.
func compileSet(pattern string, i int) (string, int, error) {
	var cls strings.Builder
	cls.WriteByte('[')
	j := i + 1
	if j < len(pattern) && (pattern[j] == '^' || pattern[j] == '!') {
		cls.WriteByte('^')
		j++
	}
	items := 0
	for j < len(pattern) && pattern[j] != ']' {
		r, n := utf8.DecodeRuneInString(pattern[j:])
		if r == '\\' {
			if j+n >= len(pattern) {
				return "", 0, syntaxErr("%q ends with a lone backslash", pattern)
			}
			r, n = utf8.DecodeRuneInString(pattern[j+1:])
			n++
		} else if r == '-' && items > 0 && j+1 < len(pattern) && pattern[j+1] != ']' {
			cls.WriteByte('-')
			j += n
			continue
		}
		if r == '/' {
			return "", 0, syntaxErr("%q: a '/' cannot be in a [set]", pattern)
		}
		fmt.Fprintf(&cls, `\x{%x}`, r)
		items++
		j += n
	}
	if j >= len(pattern) {
		return "", 0, syntaxErr("%q has an unclosed '['", pattern)
	}
	if items == 0 {
		return "", 0, syntaxErr("%q has an empty [set]", pattern)
	}
	cls.WriteByte(']')
	return cls.String(), j + 1 - i, nil
}

// Expand expands the braces of a path pattern into the patterns they stand
// for ("/d/{a,b/c}/*" → "/d/a/*", "/d/b/c/*"), as Hadoop's GlobExpander
// does before matching segment by segment; alternatives may hold '/'.
// It fails on unbalanced braces and beyond MaxExpansions patterns.
func Expand(pattern string) ([]string, error) {
	out := []string{}
	if err := expand(pattern, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func expand(p string, out *[]string) error {
	open, close, alts, err := firstGroup(p)
	if err != nil {
		return err
	}
	if open < 0 {
		if len(*out) >= MaxExpansions {
			return syntaxErr("braces expand to more than %d patterns", MaxExpansions)
		}
		*out = append(*out, p)
		return nil
	}
	for _, a := range alts {
		if err := expand(p[:open]+a+p[close+1:], out); err != nil {
			return err
		}
	}
	return nil
}

// firstGroup finds the first top-level {…} of p (skipping escapes and
// [sets]) and splits its inside at top-level commas; open is -1 when p has
// no group.
func firstGroup(p string) (open, close int, alts []string, err error) {
	open, depth, start := -1, 0, 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\':
			i++
		case c == '[' && depth == 0 && open < 0:
			if k := strings.IndexByte(p[i+1:], ']'); k >= 0 {
				i += k + 1
			}
		case c == '{':
			if depth == 0 {
				open, start = i, i+1
			}
			depth++
		case c == ',' && depth == 1:
			alts = append(alts, p[start:i])
			start = i + 1
		case c == '}' && depth > 0:
			depth--
			if depth == 0 {
				return open, i, append(alts, p[start:i]), nil
			}
		}
	}
	if depth > 0 {
		return 0, 0, nil, syntaxErr("%q has an unclosed '{'", p)
	}
	return -1, -1, nil, nil
}

// Validate checks a path pattern: its braces expand, and each segment of
// each expansion compiles.
func Validate(pattern string) error {
	pats, err := Expand(pattern)
	if err != nil {
		return err
	}
	for _, p := range pats {
		for seg := range strings.SplitSeq(p, "/") {
			if _, err := Compile(seg); err != nil {
				return err
			}
		}
	}
	return nil
}
