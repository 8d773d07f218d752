// Package e2e holds appflowd's end-to-end tests: the real server (app.New
// behind httptest) driven by the real aws-sdk-go-v2 AppFlow client, flows
// from S3 to S3 on local buckets and on moto_server, and the appflowd binary's
// run command. The package has no code of its own.
package e2e
