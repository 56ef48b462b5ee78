package cli

import (
	"io"
	"regexp"
	"strings"
)

// userinfo matches the credentials part of a URI: scheme://user:pass@ or
// scheme://token@.
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^@/\s"']+@`)

// Redact replaces the credentials of every URI in s with ***.
func Redact(s string) string {
	return userinfo.ReplaceAllString(s, "${1}***@")
}

// Redactor removes URI credentials and known secrets from text.
type Redactor struct{ secrets *strings.Replacer }

// NewRedactor returns a Redactor that also hides the given secrets
// (passwords and tokens passed by flag or environment).
func NewRedactor(secrets ...string) *Redactor {
	var pairs []string
	for _, s := range secrets {
		if len(s) >= 3 {
			pairs = append(pairs, s, "***")
		}
	}
	r := &Redactor{}
	if len(pairs) > 0 {
		r.secrets = strings.NewReplacer(pairs...)
	}
	return r
}

// String redacts s.
func (r *Redactor) String(s string) string {
	s = Redact(s)
	if r != nil && r.secrets != nil {
		s = r.secrets.Replace(s)
	}
	return s
}

// Writer wraps w so that nothing written through it carries a credential,
// whatever library produced the text.
func (r *Redactor) Writer(w io.Writer) io.Writer { return &redactWriter{w: w, r: r} }

type redactWriter struct {
	w io.Writer
	r *Redactor
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
