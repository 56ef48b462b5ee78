package events

import (
	"net/url"
	"slices"
	"strings"
)

// redacted replaces credentials wherever they would be shown.
const redacted = "***"

// Redact returns rawURL with the credentials of every server URL in it
// replaced by "***": "nats://user:pass@host:4222" becomes
// "nats://***@host:4222", and so does a token URL "nats://tok@host:4222".
// A comma-separated server list is redacted entry by entry. Everything up to
// the last '@' of an entry counts as credentials, so a password holding '@',
// '/' or ':' unescaped is still hidden. A URL without '@' is returned as is.
//
// Every URL this package logs or puts into an error goes through Redact.
func Redact(rawURL string) string {
	if !strings.Contains(rawURL, "@") {
		return rawURL
	}
	parts := strings.Split(rawURL, ",")
	for i, p := range parts {
		parts[i] = redactOne(p)
	}
	return strings.Join(parts, ",")
}

func redactOne(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + len("://")
	} else {
		// No scheme: keep leading blanks of a "a, b" list entry.
		start = len(s) - len(strings.TrimLeft(s, " \t"))
	}
	return s[:start] + redacted + s[at:]
}

// scrubber removes known secrets from text that did not come from this
// package (error messages of the client library or the server), as a second
// line of defence behind Redact.
type scrubber struct {
	secrets []string
}

// minSecretLen keeps a very short secret from shredding every message it
// happens to occur in.
const minSecretLen = 3

func newScrubber(cfg Config) scrubber {
	var sc scrubber
	add := func(s string) {
		if len(s) >= minSecretLen {
			sc.secrets = append(sc.secrets, s)
			if esc := url.QueryEscape(s); esc != s {
				sc.secrets = append(sc.secrets, esc)
			}
		}
	}
	add(cfg.Password)
	add(cfg.Token)
	for _, p := range strings.Split(cfg.URL, ",") {
		p = strings.TrimSpace(p)
		at := strings.LastIndex(p, "@")
		if at < 0 {
			continue
		}
		info := p[:at]
		if i := strings.Index(info, "://"); i >= 0 {
			info = info[i+len("://"):]
		}
		infos := []string{info}
		if dec, err := url.PathUnescape(info); err == nil && dec != info {
			infos = append(infos, dec)
		}
		for _, in := range infos {
			add(in)
			if user, pass, ok := strings.Cut(in, ":"); ok {
				add(pass)
			} else {
				add(user) // a token URL: the user part is the secret
			}
		}
	}
	// Longest first, so "user:pass" goes as a whole before "pass" alone.
	slices.SortFunc(sc.secrets, func(a, b string) int { return len(b) - len(a) })
	return sc
}

// scrub returns s with every known secret replaced by "***".
func (sc scrubber) scrub(s string) string {
	for _, secret := range sc.secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}
