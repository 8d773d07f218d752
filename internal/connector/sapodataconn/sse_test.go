package sapodataconn

import (
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/sapodataconn/odatatest"
	"github.com/appflowd/appflowd/internal/events/eventstest"
	"github.com/appflowd/appflowd/internal/record"
)

// TestSuccessResponsesSSEKMS: through an S3 API (moto), the success
// response file of a flow with its own kmsArn carries SSE-KMS under it.
func TestSuccessResponsesSSEKMS(t *testing.T) {
	eventstest.SetAWSEnvFor(t)
	t.Setenv("AWS_CA_BUNDLE", "") // the test server's client cannot take one
	moto := eventstest.OwnMoto(t)
	c := eventstest.S3(t, moto, "sap-ok")
	s := odatatest.New(t)
	d, err := open(connector.Deps{HTTPClient: s.Client(), Region: "us-east-1", Endpoints: connector.Endpoints{connector.EndpointS3: moto}},
		connector.Profile{Name: "sap", Properties: testProps(s), Credentials: []byte(basicCreds)}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	const key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
	b := &record.Batch{Fields: []string{"SalesOrder", "SoldToParty"}, Split: "in", Final: true}
	b.AppendRow([]record.Value{record.Str("7"), record.Str("C7")})
	res := commit(t, d, &connector.WriteRequest{FlowName: "f", ExecutionID: "e", KMSKeyArn: key, Properties: destProperties(t, map[string]any{
		"objectPath": salesOrders, "writeOperationType": "INSERT",
		"successResponseHandlingConfig": map[string]string{"bucketName": "sap-ok", "bucketPrefix": "resp"}})}, b)
	if res.RecordsWritten != 1 {
		t.Fatalf("result %+v", res)
	}
	files := eventstest.Heads(t, c, "sap-ok", "resp/f/e/")
	if len(files) != 1 {
		t.Fatalf("success files %v, want one", files)
	}
	if bad := eventstest.NotUnderKey(files, key); len(bad) > 0 {
		t.Errorf("success files not under the flow's key: %v", bad)
	}
}
