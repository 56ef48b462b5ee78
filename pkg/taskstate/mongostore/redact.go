package mongostore

import (
	"context"
	"errors"
	"net/url"
	"strings"
)

// secretOptions are the connection-string options whose values are secrets
// (compared in lower case). Redact replaces their values too.
var secretOptions = []string{"password", "secret", "token", "authmechanismproperties"}

// Redact returns uri with its credentials replaced by "***", so it can be
// logged or put in an error: "mongodb://user:pw@host/db" becomes
// "mongodb://***@host/db". The values of options that hold secrets (such as
// tlsCertificateKeyFilePassword or authMechanismProperties) are replaced
// as well. A URI without credentials is returned unchanged.
//
// It errs on the side of hiding: the user information ends at the last "@"
// of the URI, so a password with an unescaped "@", "/" or "?" is hidden
// whole, at the price of hiding more than the credentials when an option
// value contains an "@".
func Redact(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		scheme, rest = "", uri
	} else {
		scheme += "://"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "***" + rest[at:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q+1] + redactOptions(rest[q+1:])
	}
	return scheme + rest
}

// redactOptions hides the values of secret options in a query string.
func redactOptions(query string) string {
	parts := strings.Split(query, "&")
	for i, p := range parts {
		name, _, hasValue := strings.Cut(p, "=")
		if !hasValue {
			continue
		}
		lower := strings.ToLower(name)
		for _, s := range secretOptions {
			if strings.Contains(lower, s) {
				parts[i] = name + "=***"
				break
			}
		}
	}
	return strings.Join(parts, "&")
}

// secrets returns the substrings of uri that must never be shown: the user
// information (raw and unescaped), the password (raw and unescaped) and
// the values of secret options. Longest first, so that replacing them in
// order never leaves a part of a longer secret behind.
func secrets(uri string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if u, err := url.PathUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
		if u, err := url.QueryUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
	}
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		rest = uri
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		add(userinfo)
		if _, pw, ok := strings.Cut(userinfo, ":"); ok {
			add(pw)
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		for _, p := range strings.Split(rest[q+1:], "&") {
			name, value, ok := strings.Cut(p, "=")
			if !ok {
				continue
			}
			lower := strings.ToLower(name)
			for _, s := range secretOptions {
				if strings.Contains(lower, s) {
					add(value)
					break
				}
			}
		}
	}
	// Longest first.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// scrubber removes a URI's secrets from text.
type scrubber struct {
	uri      string
	redacted string
	secrets  []string
}

func newScrubber(uri string) scrubber {
	return scrubber{uri: uri, redacted: Redact(uri), secrets: secrets(uri)}
}

// text returns s with the URI redacted and every secret replaced by "***".
func (sc scrubber) text(s string) string {
	if sc.uri != "" {
		s = strings.ReplaceAll(s, sc.uri, sc.redacted)
	}
	for _, sec := range sc.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

// scrubbedError is an error whose message went through a scrubber. It
// unwraps to cause, which may be nil when the original error is not safe
// to expose (its message could hold the URI).
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

// wrap returns an error reading "<prefix>: <err>" with every secret of the
// URI removed. It unwraps to err so that errors.Is and errors.As keep
// working (mongo.IsTimeout, context.DeadlineExceeded, taskstate sentinels).
func (sc scrubber) wrap(prefix string, err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: sc.text(prefix + ": " + err.Error()), cause: err}
}

// wrapOpaque is wrap for errors whose chain may hold the URI (parsing and
// connecting): the result unwraps only to a context error, never to the
// driver's error.
func (sc scrubber) wrapOpaque(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var cause error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	}
	return &scrubbedError{msg: sc.text(prefix + ": " + err.Error()), cause: cause}
}
