package redact

import (
	"io"
	"slices"
	"strings"
)

// Redactor hides, besides what Text hides, a set of known secrets: the
// credentials of the URIs it was built with and any other secret (a
// password or token given by flag or environment), raw or escaped, wherever
// they appear. Use it for text that did not come from taskfleet (a driver's
// or a server's error message may quote a password without its URI). A nil
// *Redactor hides what Text hides. It is safe for concurrent use.
type Redactor struct {
	uris    []string // known URIs, longest first
	secrets []string // longest first
}

// New returns a Redactor for the given URIs and secrets. Empty values are
// ignored, and so are secrets shorter than three bytes.
func New(uris []string, secrets ...string) *Redactor {
	r := &Redactor{}
	for _, u := range uris {
		if u == "" {
			continue
		}
		r.uris = append(r.uris, u)
		for _, s := range Secrets(u) {
			if !slices.Contains(r.secrets, s) {
				r.secrets = append(r.secrets, s)
			}
		}
	}
	for _, s := range secrets {
		if s != "" {
			r.secrets = appendSecret(r.secrets, s)
		}
	}
	sortSecrets(r.uris)
	sortSecrets(r.secrets)
	return r
}

// String returns s with every known URI redacted as URI does, then
// redacted as Text does, then with every known secret replaced by Mask.
func (r *Redactor) String(s string) string {
	if r != nil {
		for _, u := range r.uris {
			s = strings.ReplaceAll(s, u, URI(u))
		}
	}
	s = Text(s)
	if r != nil {
		for _, sec := range r.secrets {
			if strings.Contains(s, sec) {
				s = strings.ReplaceAll(s, sec, Mask)
			}
		}
	}
	return s
}

// Writer wraps w so that nothing written through it carries a credential,
// whatever library produced the text. Each Write is redacted on its own,
// so w should receive whole lines (as a logger writes them).
func (r *Redactor) Writer(w io.Writer) io.Writer { return &writer{w: w, r: r} }

type writer struct {
	w io.Writer
	r *Redactor
}

func (rw *writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
