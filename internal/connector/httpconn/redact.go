package httpconn

import (
	"errors"
	"net/url"
	"strings"
)

// secretWords are parts of the names of query parameters whose values are
// never logged: tokens, keys, passwords, codes and signatures.
var secretWords = []string{"token", "secret", "password", "passwd", "key", "code", "signature", "sig", "auth", "assertion", "session", "credential"}

func secretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactURL is u fit for a log: no user info, secret query values hidden.
// Headers (Authorization, API keys) and bodies are never logged at all.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			return u[:i] + "?REDACTED"
		}
		return u
	}
	p.User = nil
	p.Fragment = ""
	if p.RawQuery != "" {
		q := p.Query()
		changed := false
		for k := range q {
			if secretName(k) {
				q[k] = []string{"REDACTED"}
				changed = true
			}
		}
		if changed {
			p.RawQuery = q.Encode()
		}
	}
	return p.String()
}

// redactPath is a request path (or full URL) fit for an error message.
func redactPath(p string) string { return redactURL(p) }

// redactErr hides the URL a transport error names.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	return err
}
