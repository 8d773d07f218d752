package redshiftconn

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/appflowd/appflowd/internal/fault"
)

// A Data API that cannot be reached is a ConnectorServer fault (the
// vendor's side), not an unclassified error that an API call would turn
// into a 500; a cancelled call is Canceled.
func TestDataAPITransportFailureIsClassified(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { // accept and hang up at once: no answer ever comes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer ln.Close()
	c := &dataAPIClient{endpoint: "http://" + ln.Addr().String(), region: "us-east-1",
		creds: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKID", "secret", "")),
		http:  &http.Client{Timeout: 10 * time.Second}, signer: v4.NewSigner(), now: time.Now}
	_, err = c.DescribeStatement(context.Background(), "id-1")
	if !fault.Is(err, fault.ConnectorServer) {
		t.Fatalf("hung-up Data API: %v (code %v), want ConnectorServer", err, fault.CodeOf(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.DescribeStatement(ctx, "id-1")
	if !fault.Is(err, fault.Canceled) {
		t.Fatalf("cancelled call: %v (code %v), want Canceled", err, fault.CodeOf(err))
	}
}
