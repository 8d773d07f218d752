package restjson

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/wire"
)

// Credentials are the access keys the server accepts, each mapped to its
// secret and the 12-digit account it acts for.
//
// File format (LoadCredentials): one key per line,
//
//	ACCESS_KEY_ID SECRET_ACCESS_KEY ACCOUNT_ID
//
// fields separated by spaces or tabs. Blank lines and lines whose first
// non-blank character is '#' are ignored. A duplicate access key id, a
// line without exactly three fields or an account id that is not 12 digits
// is an error.
type Credentials struct {
	keys map[string]credential
}

type credential struct {
	secret  string
	account string
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// LoadCredentials reads a credentials file (see Credentials).
func LoadCredentials(path string) (*Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open credentials: %w", err)
	}
	defer f.Close()
	c, err := ParseCredentials(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseCredentials reads credentials in the LoadCredentials format.
func ParseCredentials(r io.Reader) (*Credentials, error) {
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

const (
	sigAlgorithm  = "AWS4-HMAC-SHA256"
	signingName   = "appflow"
	amzDateLayout = "20060102T150405Z"
	maxClockSkew  = 15 * time.Minute
)

func authError(status int, code, msg string) *apiError { return &apiError{status, code, msg} }

var errSignatureMismatch = authError(http.StatusForbidden, "InvalidSignatureException",
	"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")

type authHeader struct {
	accessKey, date, region, service, terminator string
	signedHeaders                                []string
	signature                                    string
}

func parseAuthorization(v string) (*authHeader, *apiError) {
	incomplete := func(msg string) (*authHeader, *apiError) {
		return nil, authError(http.StatusBadRequest, "IncompleteSignatureException", msg)
	}
	alg, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || alg != sigAlgorithm {
		return incomplete("Authorization header must use the " + sigAlgorithm + " algorithm")
	}
	a := &authHeader{}
	var cred, signed string
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = val
		case "SignedHeaders":
			signed = val
		case "Signature":
			a.signature = val
		}
	}
	if cred == "" || signed == "" || a.signature == "" {
		return incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters")
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 {
		return incomplete("Credential must have the form ACCESS_KEY_ID/yyyymmdd/region/service/aws4_request")
	}
	a.accessKey, a.date, a.region, a.service, a.terminator = scope[0], scope[1], scope[2], scope[3], scope[4]
	a.signedHeaders = strings.Split(signed, ";")
	return a, nil
}

// regionFromAuthorization reads the region of an unverified credential
// scope, for servers that do not check signatures.
func regionFromAuthorization(r *http.Request) string {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return ""
	}
	return a.region
}

// authenticate verifies the SigV4 signature when credentials are configured
// and returns the caller.
func (h *handler) authenticate(r *http.Request, body []byte) (wire.Caller, *apiError) {
	creds := h.opts.Credentials
	if creds == nil {
		region := regionFromAuthorization(r)
		if region == "" {
			region = h.opts.DefaultRegion
		}
		return wire.Caller{AccountID: h.opts.DefaultAccountID, Region: region}, nil
	}
	return verify(r, body, creds, signingName, h.opts.Now())
}

// AuthError is a refused signature: the HTTP status, the AWS error code
// (X-Amzn-ErrorType / __type) and the message AWS words it with.
type AuthError struct {
	Status  int
	Code    string
	Message string
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Message }

// VerifySigV4 checks r's SigV4 signature (Authorization header) over body
// against creds for the signing service (the credential scope's service,
// e.g. "secretsmanager"), at now, and returns the caller it identifies. A
// refusal is an *AuthError worded as AWS words it. Other servers on the
// API port (the custom connector secrets endpoint) use it, so SigV4 is
// verified in one place.
func VerifySigV4(r *http.Request, body []byte, creds *Credentials, service string, now time.Time) (wire.Caller, error) {
	if creds == nil {
		return wire.Caller{}, &AuthError{http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"}
	}
	c, aerr := verify(r, body, creds, service, now)
	if aerr != nil {
		return wire.Caller{}, &AuthError{aerr.status, aerr.code, aerr.msg}
	}
	return c, nil
}

// verify checks r's signature for service; see VerifySigV4.
func verify(r *http.Request, body []byte, creds *Credentials, service string, now time.Time) (wire.Caller, *apiError) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return wire.Caller{}, authError(http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	a, aerr := parseAuthorization(authz)
	if aerr != nil {
		return wire.Caller{}, aerr
	}
	key, ok := creds.keys[a.accessKey]
	if !ok {
		return wire.Caller{}, authError(http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	if a.service != service {
		return wire.Caller{}, authError(http.StatusForbidden, "InvalidSignatureException", "Credential should be scoped to correct service: '"+service+"'.")
	}
	if a.terminator != "aws4_request" {
		return wire.Caller{}, authError(http.StatusForbidden, "InvalidSignatureException", "Credential should be scoped with a valid terminator: 'aws4_request', not '"+a.terminator+"'.")
	}

	amzDate := r.Header.Get("X-Amz-Date")
	var signedAt time.Time
	var err error
	if amzDate != "" {
		signedAt, err = time.Parse(amzDateLayout, amzDate)
	} else if d := r.Header.Get("Date"); d != "" {
		signedAt, err = http.ParseTime(d)
		amzDate = signedAt.UTC().Format(amzDateLayout)
	} else {
		return wire.Caller{}, authError(http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if err != nil {
		return wire.Caller{}, authError(http.StatusBadRequest, "IncompleteSignatureException", "X-Amz-Date must be in the ISO 8601 basic format yyyyMMdd'T'HHmmss'Z'")
	}
	now = now.UTC()
	if signedAt.Before(now.Add(-maxClockSkew)) {
		return wire.Caller{}, authError(http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf(
			"Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).Format(amzDateLayout), now.Format(amzDateLayout)))
	}
	if signedAt.After(now.Add(maxClockSkew)) {
		return wire.Caller{}, authError(http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf(
			"Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxClockSkew).Format(amzDateLayout), now.Format(amzDateLayout)))
	}
	if a.date != amzDate[:8] {
		return wire.Caller{}, authError(http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, amzDate[:8], amzDate))
	}
	hasHost := false
	for _, name := range a.signedHeaders {
		if name == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return wire.Caller{}, authError(http.StatusForbidden, "InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	// Only S3 takes unsigned (or streamed) payloads; every other AWS service,
	// AppFlow included, signs the body, and an unsigned one could be changed
	// in flight.
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" {
		switch {
		case strings.HasPrefix(claimed, "UNSIGNED-PAYLOAD") || strings.HasPrefix(claimed, "STREAMING-"):
			return wire.Caller{}, authError(http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf(
				"x-amz-content-sha256: %s is not accepted by this service: sign the request body (the header must be the hex SHA-256 of the body, or absent).", claimed))
		case claimed != payloadHash:
			return wire.Caller{}, authError(http.StatusForbidden, "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}

	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(escapedPath(r)),
		canonicalQuery(r.URL.RawQuery),
		canonicalHeaders(r, a.signedHeaders),
		strings.Join(a.signedHeaders, ";"),
		payloadHash,
	}, "\n")
	scope := strings.Join([]string{a.date, a.region, a.service, a.terminator}, "/")
	crHash := sha256.Sum256([]byte(canonical))
	stringToSign := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crHash[:])

	k := hmacSHA256([]byte("AWS4"+key.secret), a.date)
	k = hmacSHA256(k, a.region)
	k = hmacSHA256(k, a.service)
	k = hmacSHA256(k, a.terminator)
	want := hmacSHA256(k, stringToSign)
	got, err := hex.DecodeString(a.signature)
	if err != nil || !hmac.Equal(got, want) {
		return wire.Caller{}, errSignatureMismatch
	}
	return wire.Caller{AccessKeyID: a.accessKey, AccountID: key.account, Region: a.region}, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalURI encodes each segment of the path as sent once more: for
// every service but S3, SDKs sign the doubly-encoded path (the tags ARN
// "%3A" is signed as "%253A").
func canonicalURI(escaped string) string {
	if escaped == "" {
		return "/"
	}
	segs := strings.Split(escaped, "/")
	for i, s := range segs {
		segs[i] = awsEscape(s)
	}
	return strings.Join(segs, "/")
}

// canonicalQuery sorts decoded parameters by name, then value, and encodes
// them with AWS's rules (space as %20, never '+').
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	vals, _ := url.ParseQuery(raw)
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), vals[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, awsEscape(k)+"="+awsEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, name := range names {
		var vals []string
		switch name {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = r.Header.Values(name)
			if len(vals) == 0 && r.ContentLength >= 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		case "transfer-encoding":
			vals = r.TransferEncoding
		default:
			vals = r.Header.Values(name)
		}
		trimmed := make([]string, len(vals))
		for i, v := range vals {
			trimmed[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.Join(trimmed, ","))
		b.WriteByte('\n')
	}
	return b.String()
}

// awsEscape percent-encodes everything but the unreserved characters
// A-Z a-z 0-9 - _ . ~, with upper-case hex, as SigV4 requires.
func awsEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
