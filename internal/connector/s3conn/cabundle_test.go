package s3conn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
)

// The server gives the driver a plain *http.Client; with AWS_CA_BUNDLE set
// the SDK used to refuse it ("HTTPClient has no WithTransportOptions") and
// every run against an S3 endpoint failed.
func TestNewWithCABundleAndHTTPClient(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	d, err := New(context.Background(), connector.Deps{Endpoints: connector.Endpoints{connector.EndpointS3: "http://127.0.0.1:1"}, Region: "us-east-1",
		HTTPClient: &http.Client{Timeout: time.Minute}})
	if err != nil {
		t.Fatalf("New with AWS_CA_BUNDLE and a plain http.Client: %v", err)
	}
	if d.client == nil {
		t.Fatal("New gave no S3 client for an endpoint")
	}
}
