// Package secretlend lends credentials to code outside the process (a
// custom connector's Lambda) as AWS Secrets Manager secrets: appflowd
// answers secretsmanager:GetSecretValue for them on its own address, for
// as long as the driver that lent them is open. It implements
// connector.SecretLender.
package secretlend

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/sigv4"
)

// Server serves secretsmanager:GetSecretValue (JSON 1.1, POST with
// X-Amz-Target: secretsmanager.GetSecretValue) for credentials lent to
// connector Lambdas. AppFlow hands a connector a secretArn rather than the
// credentials; a connector reads the secret itself. A secret exists only
// while a driver holding it is open, under an ARN with a random name.
//
// Who may read: with Credentials set (appflowd --credentials), a caller
// must sign its request with SigV4 (service "secretsmanager") using one of
// those keys, and reads only the secrets of that key's account; without,
// only loopback callers (a connector on the same host) are answered.
type Server struct {
	region string
	now    func() time.Time

	// Credentials, when set before serving, are the access keys a caller
	// must sign with; nil: loopback callers only.
	Credentials *sigv4.Credentials

	mu      sync.Mutex
	secrets map[string]lentSecret // by ARN
}

type lentSecret struct {
	account string
	name    string
	value   []byte
	at      time.Time
}

// NewServer returns an empty Server naming secrets in region.
func NewServer(region string, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{region: region, now: now, secrets: map[string]lentSecret{}}
}

// Lend makes value readable under a fresh ARN until release is called.
func (s *Server) Lend(accountID, name string, value []byte) (string, func()) {
	secretName := fmt.Sprintf("appflow!%s-%s-%s", accountID, name, randomToken(20))
	arn := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.region, accountID, secretName, randomToken(6))
	s.mu.Lock()
	s.secrets[arn] = lentSecret{account: accountID, name: secretName, value: append([]byte(nil), value...), at: s.now()}
	s.mu.Unlock()
	var once sync.Once
	return arn, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.secrets, arn)
			s.mu.Unlock()
		})
	}
}

// Len is the number of secrets lent now.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets)
}

// Handles says whether r is a Secrets Manager call for this server.
func (s *Server) Handles(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") == "secretsmanager.GetSecretValue"
}

// Wrap serves Secrets Manager calls and passes everything else to next.
func (s *Server) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Handles(r) {
			s.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP answers GetSecretValue.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SecretID string `json:"SecretId"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		secretsError(w, http.StatusBadRequest, "InvalidParameterException", "The request body could not be read.")
		return
	}
	account, ok := s.authorize(w, r, body)
	if !ok {
		return
	}
	if json.Unmarshal(body, &in) != nil || in.SecretID == "" {
		secretsError(w, http.StatusBadRequest, "InvalidParameterException", "SecretId is required.")
		return
	}
	s.mu.Lock()
	sec, ok := s.secrets[in.SecretID]
	s.mu.Unlock()
	if !ok {
		secretsError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	if account != "" && sec.account != account {
		// Another account's secret: as AWS answers without a resource policy.
		secretsError(w, http.StatusBadRequest, "AccessDeniedException", fmt.Sprintf(
			"User: arn:aws:iam::%s:root is not authorized to perform: secretsmanager:GetSecretValue on resource: %s", account, in.SecretID))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ARN":           in.SecretID,
		"Name":          sec.name,
		"SecretString":  string(sec.value),
		"VersionId":     "00000000-0000-0000-0000-000000000001",
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   float64(sec.at.UnixMilli()) / 1000,
	})
}

// authorize decides whether the caller may read secrets: with Credentials,
// a valid SigV4 signature for secretsmanager from a listed key (account is
// the key's account); without, a loopback peer (account "" = any). On
// refusal it has answered.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, body []byte) (account string, ok bool) {
	if s.Credentials != nil {
		caller, err := sigv4.Verify(r, body, s.Credentials, "secretsmanager", s.now())
		if err != nil {
			var ae *sigv4.Error
			if errors.As(err, &ae) {
				secretsError(w, ae.Status, ae.Code, ae.Message)
			} else {
				secretsError(w, http.StatusForbidden, "AccessDeniedException", err.Error())
			}
			return "", false
		}
		return caller.AccountID, true
	}
	if !loopback(r.RemoteAddr) {
		secretsError(w, http.StatusBadRequest, "AccessDeniedException",
			"appflowd serves lent secrets only to loopback callers when it runs without --credentials")
		return "", false
	}
	return "", true
}

// loopback says whether a RemoteAddr is a loopback address.
func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func secretsError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func randomToken(n int) string {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i, c := range b {
		b[i] = alnum[int(c)%len(alnum)]
	}
	return string(b)
}
