package app_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/wire"
)

// FuzzAPI sends arbitrary bodies to every operation of the real server
// (service, SQLite store, engine): whatever the bytes, the answer is a 2xx or
// a modeled 4xx, never a panic or a 5xx. Seeds build real resources, so the
// fuzzer also reaches the rules past validation.
func FuzzAPI(f *testing.F) {
	src := `{"connectorType":"S3","sourceConnectorProperties":{"S3":{"bucketName":"raw","bucketPrefix":"in"}}}`
	dst := `[{"connectorType":"S3","destinationConnectorProperties":{"S3":{"bucketName":"lake","s3OutputFormatConfig":{"fileType":"CSV"}}}}]`
	mapTask := `{"taskType":"Map","sourceFields":["id"],"destinationField":"id","connectorOperator":{"S3":"NO_OP"}}`
	seeds := [][2]string{
		{"CreateFlow", `{"flowName":"f1","triggerConfig":{"triggerType":"OnDemand"},"sourceFlowConfig":` + src + `,"destinationFlowConfigList":` + dst + `,"tasks":[` + mapTask + `]}`},
		{"CreateFlow", `{"flowName":"f2","triggerConfig":{"triggerType":"Scheduled","triggerProperties":{"Scheduled":{"scheduleExpression":"rate(5minutes)","dataPullMode":"Incremental"}}},"sourceFlowConfig":` + src + `,"destinationFlowConfigList":` + dst + `,"tasks":[` + mapTask + `]}`},
		{"CreateFlow", `{"flowName":"f3","triggerConfig":{"triggerType":"Scheduled","triggerProperties":{"Scheduled":{"scheduleExpression":"cron(0 L * ? * 1#9)"}}},"sourceFlowConfig":` + src + `,"destinationFlowConfigList":` + dst + `,"tasks":[{"taskType":"Arithmetic","sourceFields":["a"],"connectorOperator":{"S3":"DIVISION"}}]}`},
		{"UpdateFlow", `{"flowName":"f1","triggerConfig":{"triggerType":"OnDemand"},"sourceFlowConfig":` + src + `,"destinationFlowConfigList":` + dst + `,"tasks":[{"taskType":"Map_all","sourceFields":[]}]}`},
		{"StartFlow", `{"flowName":"f1","clientToken":"t1"}`},
		{"StartFlow", `{"flowName":"f2"}`},
		{"StopFlow", `{"flowName":"f2"}`},
		{"DescribeFlow", `{"flowName":"f1"}`},
		{"DescribeFlowExecutionRecords", `{"flowName":"f1","maxResults":1,"nextToken":"bm9wZQ"}`},
		{"CancelFlowExecutions", `{"flowName":"f1","executionIds":["x"]}`},
		{"DeleteFlow", `{"flowName":"f2","forceDelete":true}`},
		{"CreateConnectorProfile", `{"connectorProfileName":"p","connectorType":"Zendesk","connectionMode":"Public","connectorProfileConfig":{"connectorProfileProperties":{"Zendesk":{"instanceUrl":"https://x.zendesk.com"}},"connectorProfileCredentials":{"Zendesk":{"clientId":"a","clientSecret":"b","accessToken":"c"}}}}`},
		{"DescribeConnectorProfiles", `{"connectorType":"Zendesk","maxResults":1}`},
		{"DeleteConnectorProfile", `{"connectorProfileName":"p"}`},
		{"DescribeConnectors", `{"connectorTypes":["S3","Salesforce"]}`},
		{"DescribeConnector", `{"connectorType":"CustomConnector","connectorLabel":"x"}`},
		{"ListConnectorEntities", `{"connectorType":"S3","entitiesPath":"raw"}`},
		{"DescribeConnectorEntity", `{"connectorType":"S3","connectorEntityName":"raw/in"}`},
		{"ResetConnectorMetadataCache", `{"connectorType":"S3"}`},
		{"ListConnectors", `{}`},
		{"ListFlows", `{"maxResults":100}`},
		{"TagResource", `{"tags":{"team":"data"}}`},
		{"UntagResource", ``},
		{"ListTagsForResource", ``},
		{"RegisterConnector", `{"connectorLabel":"lbl","connectorProvisioningType":"LAMBDA","connectorProvisioningConfig":{"lambda":{"lambdaArn":"arn:aws:lambda:us-east-1:000000000000:function:f"}}}`},
		{"UnregisterConnector", `{"connectorLabel":"lbl","forceDelete":true}`},
	}
	for _, s := range seeds {
		f.Add(s[0], []byte(s[1]))
	}
	dir := f.TempDir()
	for _, b := range []string{"raw/in", "lake"} {
		if err := os.MkdirAll(filepath.Join(dir, "s3", b), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "s3", "raw", "in", "a.csv"), []byte("id,a\n1,2\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	a, err := app.New(ctx, app.Config{DataDir: dir, Region: "us-east-1", AccountID: "000000000000"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		a.Shutdown(ctx)
		a.Close()
	})
	arn := "arn:aws:appflow:us-east-1:000000000000:flow/f1"
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		method, path := "POST", "/"+url.PathEscape(op)
		if o, ok := wire.OperationByName(op); ok {
			method, path = o.Method, o.Path
			if o.Bind != nil {
				path = "/tags/" + url.PathEscape(arn) + "?tagKeys=team&tagKeys=" + url.QueryEscape(op)
			}
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK && rec.Header().Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("%s %s: status %d without X-Amzn-ErrorType", method, path, rec.Code)
		}
	})
}
