package sigv4

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Credentials are the access keys the server accepts, each mapped to its
// secret and the 12-digit account it acts for.
//
// File format (Load): one key per line,
//
//	ACCESS_KEY_ID SECRET_ACCESS_KEY ACCOUNT_ID
//
// fields separated by spaces or tabs. Blank lines and lines whose first
// non-blank character is '#' are ignored. A duplicate access key id, a
// line without exactly three fields or an account id that is not 12 digits
// is an error.
type Credentials struct {
	keys    map[string]credential
	signing signingKeys
}

type credential struct {
	secret  string
	account string
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// Load reads a credentials file (see Credentials).
func Load(path string) (*Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open credentials: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse reads credentials in the Load format.
func Parse(r io.Reader) (*Credentials, error) {
	c := &Credentials{keys: map[string]credential{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want ACCESS_KEY_ID SECRET_ACCESS_KEY ACCOUNT_ID, got %d fields", n, len(f))
		}
		if !accountRE.MatchString(f[2]) {
			return nil, fmt.Errorf("line %d: account id %q is not 12 digits", n, f[2])
		}
		if _, dup := c.keys[f[0]]; dup {
			return nil, fmt.Errorf("line %d: access key id %s listed twice", n, f[0])
		}
		c.keys[f[0]] = credential{secret: f[1], account: f[2]}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(c.keys) == 0 {
		return nil, fmt.Errorf("no access keys")
	}
	return c, nil
}

// Len is the number of access keys.
func (c *Credentials) Len() int { return len(c.keys) }

// SignIn reports whether secret is the secret of access key id and returns
// the account that key acts for (the console's sign-in). The secrets are
// compared in constant time.
func (c *Credentials) SignIn(id, secret string) (account string, ok bool) {
	if c == nil {
		return "", false
	}
	k, found := c.keys[id]
	// Compare even for an unknown id, so timing does not tell ids apart.
	match := hmac.Equal([]byte(k.secret), []byte(secret))
	if !found || !match || secret == "" {
		return "", false
	}
	return k.account, true
}

// Proof returns the account of access key id and an HMAC of msg under the
// key's secret. Whoever keeps a secret msg and its proof can later tell
// whether the key still exists with the same secret and account (a deleted
// or rotated key) without keeping anything the secret could be guessed
// from: the console binds its sessions to their key this way.
func (c *Credentials) Proof(id string, msg []byte) (account string, proof []byte, ok bool) {
	if c == nil {
		return "", nil, false
	}
	k, found := c.keys[id]
	if !found {
		return "", nil, false
	}
	m := hmac.New(sha256.New, []byte("appflowd proof\x00"+k.secret)) // never a SigV4 signing key ("AWS4"+secret)
	m.Write(msg)
	return k.account, m.Sum(nil), true
}
