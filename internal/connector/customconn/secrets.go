package customconn

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// SecretServer serves secretsmanager:GetSecretValue (JSON 1.1, POST with
// X-Amz-Target: secretsmanager.GetSecretValue) for credentials lent to
// connector Lambdas. AppFlow hands a connector a secretArn rather than the
// credentials; a connector reads the secret itself. A secret exists only
// while a driver holding it is open, under an ARN with a random name, so
// only code that was handed the ARN can read it.
type SecretServer struct {
	region string
	now    func() time.Time

	mu      sync.Mutex
	secrets map[string]lentSecret // by ARN
}

type lentSecret struct {
	name  string
	value []byte
	at    time.Time
}

// NewSecretServer returns an empty SecretServer naming secrets in region.
func NewSecretServer(region string, now func() time.Time) *SecretServer {
	if now == nil {
		now = time.Now
	}
	return &SecretServer{region: region, now: now, secrets: map[string]lentSecret{}}
}

// Lend makes value readable under a fresh ARN until release is called.
func (s *SecretServer) Lend(accountID, name string, value []byte) (string, func()) {
	secretName := fmt.Sprintf("appflow!%s-%s-%s", accountID, name, randomToken(20))
	arn := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.region, accountID, secretName, randomToken(6))
	s.mu.Lock()
	s.secrets[arn] = lentSecret{name: secretName, value: append([]byte(nil), value...), at: s.now()}
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
func (s *SecretServer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets)
}

// Handles says whether r is a Secrets Manager call for this server.
func (s *SecretServer) Handles(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") == "secretsmanager.GetSecretValue"
}

// Wrap serves Secrets Manager calls and passes everything else to next.
func (s *SecretServer) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Handles(r) {
			s.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP answers GetSecretValue.
func (s *SecretServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SecretID string `json:"SecretId"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || json.Unmarshal(body, &in) != nil || in.SecretID == "" {
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
