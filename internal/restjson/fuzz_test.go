package restjson

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/appflowd/appflowd/internal/wire"
)

// FuzzHandler sends arbitrary bodies to every route: whatever the bytes, the
// answer is a 2xx or a 4xx with an AWS error, never a panic or a 5xx.
func FuzzHandler(f *testing.F) {
	seeds := map[string][]string{
		"CreateFlow": {
			`{"flowName":"orders-copy","triggerConfig":{"triggerType":"OnDemand"},"sourceFlowConfig":{"connectorType":"S3","sourceConnectorProperties":{"S3":{"bucketName":"src-bucket","bucketPrefix":"flow"}}},"destinationFlowConfigList":[{"connectorType":"S3","destinationConnectorProperties":{"S3":{"bucketName":"dst-bucket","s3OutputFormatConfig":{"prefixConfig":{"prefixType":"PATH"}}}}}],"tasks":[{"sourceFields":["id"],"destinationField":"id","taskType":"Map","connectorOperator":{"S3":"NO_OP"}}],"tags":{"env":"test"},"clientToken":"3f1c"}`,
			`{"flowName":"my flow","tasks":[{"taskProperties":{"NOPE":"x"}}],"tags":{"aws:x":""}}`,
			`{"triggerConfig":{"triggerProperties":{"Scheduled":{"scheduleStartTime":1e300,"scheduleOffset":-1}}}}`,
		},
		"CreateConnectorProfile": {`{"connectorProfileName":"p","connectorType":"SAPOData","connectionMode":"Public","connectorProfileConfig":{"connectorProfileProperties":{"SAPOData":{"portNumber":99999,"clientNumber":"1"}},"connectorProfileCredentials":{"CustomConnector":{"authenticationType":"CUSTOM","custom":{"customAuthenticationType":"x","credentialsMap":{"k y":"v"}}}}}}`},
		"ListFlows":              {``, `{}`, `{"maxResults":0}`, `{"maxResults":"x"}`, `null`, `[]`, `{"nextToken":"\u0000"}`},
		"TagResource":            {`{"tags":{"k":"v"}}`, `{"tags":null}`},
		"UntagResource":          {``},
		"ListTagsForResource":    {``},
		"ListConnectorEntities":  {`{"maxResults":10001}`, `{"maxResults":1.5}`},
		"DescribeConnectors":     {`{"connectorTypes":["S3","nope"]}`},
		"UpdateFlow":             {`{"flowName":"ab","triggerConfig":{"triggerType":"Event"}}`, `{{{`, "\xff\xfe", `{"flowName":"ab"} trailing`},
		"NoSuchOperation":        {`{}`},
	}
	for op, bodies := range seeds {
		for _, b := range bodies {
			f.Add(op, []byte(b))
		}
	}
	fake := newFake()
	h := NewHandler(fake, Options{Logger: quietLogger, MaxBodyBytes: 64 << 10})
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		method, path := "POST", "/"+url.PathEscape(op)
		if o, ok := wire.OperationByName(op); ok {
			method, path = o.Method, o.Path
			if o.Bind != nil {
				path = "/tags/" + url.PathEscape("arn:aws:appflow:us-east-1:123456789012:flow/f") + "?tagKeys=a&tagKeys=" + url.QueryEscape(op)
			}
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK && rec.Header().Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("%s %s: status %d without X-Amzn-ErrorType", method, path, rec.Code)
		}
		if rec.Header().Get("X-Amzn-RequestId") == "" {
			t.Fatal("no request id")
		}
	})
}
