package deploy

// The Dockerfile and .dockerignore, parsed the way docker build reads them.

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case
	Args string
	Line int
}

// stage is one FROM and the instructions under it.
type stage struct {
	From, Name string
	Insns      []instruction
}

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// continuation lines and dropping comments and parser directives.
func parseDockerfile(text string) (args map[string]string, stages []stage) {
	args = map[string]string{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		start := i + 1
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				next = ""
			}
			line = strings.TrimSuffix(line, "\\") + " " + next
		}
		cmd, rest, _ := strings.Cut(line, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.Join(strings.Fields(rest), " "), Line: start}
		switch {
		case in.Cmd == "FROM":
			f := strings.Fields(in.Args)
			st := stage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			}
			stages = append(stages, st)
		case len(stages) == 0 && in.Cmd == "ARG":
			k, v, _ := strings.Cut(in.Args, "=")
			args[k] = strings.Trim(v, `"`)
		case len(stages) > 0:
			stages[len(stages)-1].Insns = append(stages[len(stages)-1].Insns, in)
		}
	}
	return args, stages
}

// dockerignore implements the .dockerignore rules of the Docker build
// context: patterns are rooted at the context, use filepath.Match syntax
// plus "**" for any number of directories, a pattern excludes a directory
// with everything in it, "!" re-includes, and the last matching line wins.
type dockerignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	re      *regexp.Regexp
	exclude bool
	text    string
}

func parseDockerignore(text string) (*dockerignore, error) {
	d := &dockerignore{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{exclude: true, text: line}
		if strings.HasPrefix(line, "!") {
			r.exclude = false
			line = strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		re, err := globRegexp(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore %q: %v", r.text, err)
		}
		r.re = re
		d.rules = append(d.rules, r)
	}
	return d, nil
}

func globRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, errors.New("unterminated [")
			}
			cls := p[i+1 : i+end]
			if strings.HasPrefix(cls, "!") {
				cls = "^" + cls[1:]
			}
			b.WriteString("[" + cls + "]")
			i += end
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// excluded reports whether path (slash-separated, relative to the context)
// is left out of the build context, and by which line.
func (d *dockerignore) excluded(path string) (bool, string) {
	path = filepath.ToSlash(filepath.Clean(path))
	// The path and each of its parent directories.
	var prefixes []string
	for p := path; p != "." && p != "/" && p != ""; p = filepath.ToSlash(filepath.Dir(p)) {
		prefixes = append(prefixes, p)
	}
	excl, by := false, ""
	for _, r := range d.rules {
		for _, p := range prefixes {
			if r.re.MatchString(p) {
				excl, by = r.exclude, r.text
				break
			}
		}
	}
	return excl, by
}
