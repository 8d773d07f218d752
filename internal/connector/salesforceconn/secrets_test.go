package salesforceconn

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// TestSecretsCacheIsDepsShared: a clientCredentialsArn secret read once is
// reused for five minutes by every driver opened with the same
// Deps.Shared, and by no other; a nil Shared keeps nothing. The stand-in
// answers GetSecretValue as the Secrets Manager API reference documents
// (JSON 1.1, X-Amz-Target, ResourceNotFoundException as __type).
func TestSecretsCacheIsDepsShared(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sf/app-AbCdEf"
	var reads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SecretId string }
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, `{"__type":"InvalidRequestException","message":"bad request"}`, http.StatusBadRequest)
			return
		}
		reads.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if in.SecretId != arn {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ARN": arn, "Name": "sf/app", "VersionId": "v1",
			"SecretString": `{"clientId":"app-id","clientSecret":"app-secret"}`})
	}))
	defer srv.Close()

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	deps := func(shared *connector.Shared) connector.Deps {
		return connector.Deps{Region: "us-east-1", Shared: shared, Now: func() time.Time { return now },
			Endpoints: connector.Endpoints{connector.EndpointSecretsManager: srv.URL}}
	}
	ctx := context.Background()
	read := func(d connector.Deps, wantReads int32) {
		t.Helper()
		id, secret, err := secretsManagerReader(d)(ctx, arn)
		if err != nil || id != "app-id" || secret != "app-secret" {
			t.Fatalf("read = %q %q %v", id, secret, err)
		}
		if n := reads.Load(); n != wantReads {
			t.Fatalf("GetSecretValue calls: %d, want %d", n, wantReads)
		}
	}
	shared := connector.NewShared()
	read(deps(shared), 1)
	read(deps(shared), 1) // another open, same process: cached
	read(deps(connector.NewShared()), 2)
	read(deps(nil), 3)
	read(deps(nil), 4)
	now = now.Add(secretTTL + time.Second)
	read(deps(shared), 5) // expired: read again
	read(deps(shared), 5)

	_, _, err := secretsManagerReader(deps(shared))(ctx, strings.Replace(arn, "sf/app", "sf/none", 1))
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("missing secret: %v, want AuthFailed naming it", err)
	}
}

func TestParseClientSecret(t *testing.T) {
	for _, c := range []struct{ in, id, secret, err string }{
		{`{"clientId":"a","clientSecret":"b"}`, "a", "b", ""},
		{`{"client_id":"a","client_secret":"b"}`, "a", "b", ""},
		{`{"clientId":"a"}`, "a", "", ""},
		{`{"clientSecret":"hunter2"}`, "", "", "no clientId"},
		{`hunter2`, "", "", "not a JSON object"},
	} {
		id, secret, err := parseClientSecret(c.in)
		if c.err != "" {
			if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: err %v, want AuthFailed with %q and no secret value", c.in, err, c.err)
			}
			continue
		}
		if err != nil || id != c.id || secret != c.secret {
			t.Errorf("%s: got %q %q %v", c.in, id, secret, err)
		}
	}
}
