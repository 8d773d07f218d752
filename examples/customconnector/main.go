// Command customconnector runs the example custom connector on the Lambda
// Invoke path, for appflowd's --lambda-endpoint. See README.md.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/appflowd/appflowd/examples/customconnector/exampleconn"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to serve the Lambda Invoke API on")
	secrets := flag.String("secrets-endpoint", "http://127.0.0.1:8484", "Secrets Manager endpoint to read credentials from (appflowd serves one); empty: accept any credentials")
	flag.Parse()
	s := exampleconn.New()
	s.SecretsEndpoint = *secrets
	// With appflowd --credentials, GetSecretValue must be signed with a
	// listed key, as a Lambda's execution role signs it.
	s.AccessKeyID, s.SecretAccessKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	s.HTTP = &http.Client{Timeout: 5 * time.Second}
	log.Printf("example connector on http://%s/2015-03-31/functions/function/invocations (user %q, password %q)", *addr, s.Username, s.Password)
	srv := &http.Server{Addr: *addr, Handler: s, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
