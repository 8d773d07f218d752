package sftest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// JWT bearer grant: Salesforce Help, "OAuth 2.0 JWT Bearer Flow for
// Server-to-Server Integration". The client posts
// grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and
// assertion=<JWT> to /services/oauth2/token, with no client secret. The JWT
// is base64url(header).base64url(claims).base64url(signature): header
// {"alg":"RS256"}; claims iss (the connected app's consumer key), aud
// (https://login.salesforce.com, https://test.salesforce.com or the
// Experience Cloud / My Domain URL), sub (the username) and exp (seconds
// since the epoch); signed RSA SHA256 with the private key of the
// certificate uploaded to the connected app. The user must be pre-approved
// for the app. The answer holds an access token and no refresh token: the
// client posts a JWT again when the session ends. Failures are 400
// {"error": "invalid_grant", "error_description": ...}.

// JWTBearerGrant is the grant_type of the JWT bearer flow.
const JWTBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

type jwtState struct {
	key   *rsa.PublicKey  // the connected app's certificate; nil: flow not enabled
	users map[string]bool // pre-approved users
}

// EnableJWT turns the JWT bearer flow on for the connected app, whose
// certificate holds key, and pre-approves users.
func (o *Org) EnableJWT(key *rsa.PublicKey, users ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.jwt.key = key
	o.jwt.users = map[string]bool{}
	for _, u := range users {
		o.jwt.users[u] = true
	}
}

// SignJWT makes an assertion for the JWT bearer flow: iss clientID, aud
// aud, sub user, expiring at exp, signed with key.
func SignJWT(key *rsa.PrivateKey, clientID, aud, user string, exp time.Time) (string, error) {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256"})
	claims, _ := json.Marshal(map[string]any{"iss": clientID, "aud": aud, "sub": user, "exp": exp.Unix()})
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// jwtBearer answers a JWT bearer token request; the caller holds o.mu.
func (o *Org) jwtBearer(w http.ResponseWriter, r *http.Request) {
	fail := func(desc string) {
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": desc})
	}
	if o.jwt.key == nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_client_id", "error_description": "client identifier invalid"})
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		fail("invalid assertion")
		return
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Sub string          `json:"sub"`
		Exp json.Number     `json:"exp"`
	}
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil || header.Alg != "RS256" {
		fail("invalid assertion")
		return
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(o.jwt.key, crypto.SHA256, sum[:], sig) != nil {
		fail("invalid assertion")
		return
	}
	if claims.Iss != o.clientID {
		writeJSON(w, 400, map[string]string{"error": "invalid_client_id", "error_description": "client identifier invalid"})
		return
	}
	var auds []string
	if json.Unmarshal(claims.Aud, &auds) != nil {
		var one string
		json.Unmarshal(claims.Aud, &one)
		auds = []string{one}
	}
	audOK := false
	for _, a := range auds {
		a = strings.TrimRight(a, "/")
		audOK = audOK || a == "https://login.salesforce.com" || a == "https://test.salesforce.com" || a == o.URL()
	}
	if !audOK {
		fail("audience is invalid")
		return
	}
	exp, err := strconv.ParseInt(claims.Exp.String(), 10, 64)
	if err != nil || time.Unix(exp, 0).Before(time.Now()) {
		fail("expired authorization code")
		return
	}
	if !o.jwt.users[claims.Sub] {
		fail("user hasn't approved this consumer")
		return
	}
	tok := fmt.Sprintf("00D!jwt-%d", o.next())
	o.access[tok] = true
	writeJSON(w, 200, map[string]string{"access_token": tok, "instance_url": o.URL(), "id": o.URL() + "/id/00D/005",
		"token_type": "Bearer", "scope": "api", "issued_at": strconv.FormatInt(time.Now().UnixMilli(), 10)})
}
