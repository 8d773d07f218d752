// Package sigv4 verifies AWS Signature Version 4 on requests to appflowd's
// address (the AppFlow API, the lent-secrets endpoint) against the access
// keys of --credentials, and signs nothing: callers sign with their SDK.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigAlgorithm  = "AWS4-HMAC-SHA256"
	amzDateLayout = "20060102T150405Z"
	maxClockSkew  = 15 * time.Minute
)

// Error is a refused signature: the HTTP status, the AWS error code
// (X-Amzn-ErrorType / __type) and the message AWS words it with.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func authError(status int, code, msg string) *Error { return &Error{status, code, msg} }

var errSignatureMismatch = authError(http.StatusForbidden, "InvalidSignatureException",
	"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")

type authHeader struct {
	accessKey, date, region, service, terminator string
	signedHeaders                                []string
	signature                                    string
}

func parseAuthorization(v string) (*authHeader, *Error) {
	incomplete := func(msg string) (*authHeader, *Error) {
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

// Identity is who signed a request: the access key, the account it acts
// for, and the region of the credential scope.
type Identity struct {
	AccessKeyID string
	AccountID   string
	Region      string
}

// Verify checks r's SigV4 signature (Authorization header) over body
// against creds for the signing service (the credential scope's service:
// "appflow", "secretsmanager"), at now, and returns who signed. A refusal
// is an *Error worded as AWS words it. Every server on appflowd's address
// verifies SigV4 here.
func Verify(r *http.Request, body []byte, creds *Credentials, service string, now time.Time) (Identity, error) {
	if creds == nil {
		return Identity{}, authError(http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	id, err := verify(r, body, creds, service, now)
	if err != nil {
		return Identity{}, err
	}
	return id, nil
}

// Region reads the region of r's credential scope without verifying the
// signature, for servers that do not check signatures; "" when there is
// no SigV4 Authorization header.
func Region(r *http.Request) string {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return ""
	}
	return a.region
}

// verify checks r's signature for service; see Verify.
func verify(r *http.Request, body []byte, creds *Credentials, service string, now time.Time) (Identity, *Error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return Identity{}, authError(http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	a, aerr := parseAuthorization(authz)
	if aerr != nil {
		return Identity{}, aerr
	}
	key, ok := creds.keys[a.accessKey]
	if !ok {
		return Identity{}, authError(http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	if a.service != service {
		return Identity{}, authError(http.StatusForbidden, "InvalidSignatureException", "Credential should be scoped to correct service: '"+service+"'.")
	}
	if a.terminator != "aws4_request" {
		return Identity{}, authError(http.StatusForbidden, "InvalidSignatureException", "Credential should be scoped with a valid terminator: 'aws4_request', not '"+a.terminator+"'.")
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
		return Identity{}, authError(http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if err != nil {
		return Identity{}, authError(http.StatusBadRequest, "IncompleteSignatureException", "X-Amz-Date must be in the ISO 8601 basic format yyyyMMdd'T'HHmmss'Z'")
	}
	now = now.UTC()
	if signedAt.Before(now.Add(-maxClockSkew)) {
		return Identity{}, authError(http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf(
			"Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).Format(amzDateLayout), now.Format(amzDateLayout)))
	}
	if signedAt.After(now.Add(maxClockSkew)) {
		return Identity{}, authError(http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf(
			"Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxClockSkew).Format(amzDateLayout), now.Format(amzDateLayout)))
	}
	if a.date != amzDate[:8] {
		return Identity{}, authError(http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, amzDate[:8], amzDate))
	}
	hasHost := false
	for _, name := range a.signedHeaders {
		if name == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return Identity{}, authError(http.StatusForbidden, "InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	// Only S3 takes unsigned (or streamed) payloads; every other AWS service,
	// AppFlow included, signs the body, and an unsigned one could be changed
	// in flight.
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" {
		switch {
		case strings.HasPrefix(claimed, "UNSIGNED-PAYLOAD") || strings.HasPrefix(claimed, "STREAMING-"):
			return Identity{}, authError(http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf(
				"x-amz-content-sha256: %s is not accepted by this service: sign the request body (the header must be the hex SHA-256 of the body, or absent).", claimed))
		case claimed != payloadHash:
			return Identity{}, authError(http.StatusForbidden, "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
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
	credScope := strings.Join([]string{a.date, a.region, a.service, a.terminator}, "/")
	crHash := sha256.Sum256([]byte(canonical))
	stringToSign := sigAlgorithm + "\n" + amzDate + "\n" + credScope + "\n" + hex.EncodeToString(crHash[:])

	sc := scope{accessKey: a.accessKey, date: a.date, region: a.region, service: a.service}
	k := creds.signing.get(sc)
	cached := k != nil
	if !cached {
		k = signingKey(key.secret, sc)
	}
	want := hmacSHA256(k, stringToSign)
	got, err := hex.DecodeString(a.signature)
	if err != nil || !hmac.Equal(got, want) {
		return Identity{}, errSignatureMismatch
	}
	if !cached {
		creds.signing.put(sc, k)
	}
	return Identity{AccessKeyID: a.accessKey, AccountID: key.account, Region: a.region}, nil
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

// escapedPath is the path exactly as the client sent it, which is what it
// signed.
func escapedPath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	return r.URL.EscapedPath()
}
