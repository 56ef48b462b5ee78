package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces every hidden value.
const Mask = "***"

// secretOptions are the query option names (lower case, matched as
// substrings) whose values are secrets.
var secretOptions = []string{
	"password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "credential",
	"authmechanismproperties", // MongoDB: may hold AWS_SESSION_TOKEN
}

func isSecretOption(name string) bool {
	lower := strings.ToLower(name)
	for _, s := range secretOptions {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// scheme matches a URI scheme and its "://"; any scheme, so that a typo
// does not turn redaction off.
var scheme = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://`)

// nextEntry matches the start of the next URI of a comma-separated list.
var nextEntry = regexp.MustCompile(`,\s*[A-Za-z][A-Za-z0-9+.-]*://`)

// URI returns uri with its credentials replaced by Mask:
// "mongodb://user:pw@host/db" becomes "mongodb://***@host/db", and so does
// a token URL "nats://tok@host". The values of secret options are hidden
// too. A comma-separated list of URIs ("nats://a:1@h1,nats://h2") is
// redacted entry by entry; a list without schemes is one entry.
//
// The user information ends at the last "@" of the entry, so a password
// holding an unescaped "@", "/", "?", blank or quote is hidden whole, at the
// price of hiding more than the credentials when an option value holds an
// "@". A URI without credentials or secret options is returned unchanged.
func URI(uri string) string {
	var b strings.Builder
	for _, e := range entries(uri) {
		head, userinfo, rest := splitEntry(e)
		b.WriteString(head)
		if userinfo != "" || strings.HasPrefix(rest, "@") {
			b.WriteString(Mask)
		}
		if q := strings.IndexByte(rest, '?'); q >= 0 {
			rest = rest[:q+1] + redactOptions(rest[q+1:])
		}
		b.WriteString(rest)
	}
	return b.String()
}

// entries splits a URI list where a new scheme follows a comma. The commas
// (and blanks) stay at the start of the entry they precede, so joining the
// entries gives uri back.
func entries(uri string) []string {
	var out []string
	start := 0
	for _, loc := range nextEntry.FindAllStringIndex(uri, -1) {
		out = append(out, uri[start:loc[0]])
		start = loc[0]
	}
	return append(out, uri[start:])
}

// splitEntry splits one entry into the part kept before the credentials
// (list separators and the scheme), the user information and the rest,
// which starts with the "@" when there are credentials.
func splitEntry(e string) (head, userinfo, rest string) {
	lead := len(e) - len(strings.TrimLeft(e, ", \t"))
	head, rest = e[:lead], e[lead:]
	at := strings.LastIndex(rest, "@")
	if i := strings.Index(rest, "://"); i >= 0 && (at < 0 || i < at) {
		head += rest[:i+len("://")]
		rest = rest[i+len("://"):]
		at -= i + len("://")
	}
	if at < 0 {
		return head, "", rest
	}
	return head, rest[:at], rest[at:]
}

// redactOptions hides the values of secret options in a query string.
func redactOptions(query string) string {
	parts := strings.Split(query, "&")
	for i, p := range parts {
		if name, _, ok := strings.Cut(p, "="); ok && isSecretOption(name) {
			parts[i] = name + "=" + Mask
		}
	}
	return strings.Join(parts, "&")
}

// optionText matches a secret option and its value in free text; the
// option follows "?", "&", ";" or JSON's escaped "&" (\u0026), and the value
// ends at the next option, blank, quote or backslash (an escape in JSON).
var optionText = regexp.MustCompile(`(?i)((?:[?&;]|\\u0026)[A-Za-z0-9_.-]*(?:` +
	strings.Join(secretOptions, "|") + `)[A-Za-z0-9_.-]*=)[^&\s"'<>#\\]*`)

// Text returns s with the credentials of every URI in it, and the values
// of secret options, replaced by Mask. A URI runs to the end of the line or
// to the next scheme; see the package doc for how its credentials are found.
func Text(s string) string {
	// A scheme ends in "://": text without one (most of it, such as the
	// ids create prints) skips the regexp.
	if locs := schemeIndexes(s); len(locs) > 0 {
		var b strings.Builder
		prev := 0
		for i, loc := range locs {
			start, end := loc[1], len(s)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			if nl := strings.IndexAny(s[start:end], "\r\n"); nl >= 0 {
				end = start + nl
			}
			if at := userinfoEnd(s[start:end]); at >= 0 {
				b.WriteString(s[prev:start])
				b.WriteString(Mask)
				prev = start + at
			}
		}
		b.WriteString(s[prev:])
		s = b.String()
	}
	if strings.ContainsAny(s, "=") {
		s = optionText.ReplaceAllString(s, "${1}"+Mask)
	}
	return s
}

// schemeIndexes returns where the URI schemes of s are, as
// FindAllStringIndex does.
func schemeIndexes(s string) [][]int {
	if !strings.Contains(s, "://") {
		return nil
	}
	return scheme.FindAllStringIndex(s, -1)
}

// userinfoEnd returns the index of the "@" that ends the credentials at the
// start of w (the text after a scheme's "://"), or -1 when there are none.
// It is the last "@" before the host ends: a character that cannot be in a
// host, after an "@". Before any "@", only the end of a JSON string (a
// quote that is not escaped, followed by , : } or ]) ends the URI, so that
// a log line's next field is not taken for a password.
func userinfoEnd(w string) int {
	at := -1
	for i := range len(w) {
		switch c := w[i]; {
		case c == '@':
			at = i
		case at >= 0 && strings.IndexByte(" \t/?#\"'`<>()[]{}\\;|", c) >= 0:
			return at
		case c == '"' && (i == 0 || w[i-1] != '\\') && i+1 < len(w) && strings.IndexByte(",:}]", w[i+1]) >= 0:
			return at
		}
	}
	return at
}

// minSecretLen keeps a very short secret from shredding every message it
// happens to occur in.
const minSecretLen = 3

// Secrets returns the substrings of uri (a URI or a list of them) that must
// never be shown: for each entry its user information, its password (or,
// for a token URL, the token) and the values of its secret options, each
// also percent-unescaped and escaped. Values shorter than three bytes are
// left out. Longest first, so that replacing them in order never leaves a
// part of a longer secret behind.
func Secrets(uri string) []string {
	var out []string
	for _, e := range entries(uri) {
		_, userinfo, rest := splitEntry(e)
		if userinfo != "" {
			out = appendSecret(out, userinfo)
			if user, pw, ok := strings.Cut(userinfo, ":"); ok {
				out = appendSecret(out, pw)
			} else {
				out = appendSecret(out, user) // a token URL: the user part is the secret
			}
		}
		if q := strings.IndexByte(rest, '?'); q >= 0 {
			for _, p := range strings.Split(rest[q+1:], "&") {
				if name, value, ok := strings.Cut(p, "="); ok && isSecretOption(name) {
					out = appendSecret(out, value)
				}
			}
		}
	}
	return sortSecrets(out)
}

// appendSecret appends s and its escaped and unescaped forms.
func appendSecret(out []string, s string) []string {
	forms := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	if u, err := url.PathUnescape(s); err == nil {
		forms = append(forms, u)
	}
	if u, err := url.QueryUnescape(s); err == nil {
		forms = append(forms, u)
	}
	for _, f := range forms {
		if len(f) >= minSecretLen && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// sortSecrets sorts longest first.
func sortSecrets(s []string) []string {
	slices.SortStableFunc(s, func(a, b string) int { return len(b) - len(a) })
	return s
}
