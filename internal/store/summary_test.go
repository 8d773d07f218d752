package store_test

import (
	"testing"

	"github.com/appflowd/appflowd/internal/store"
)

func TestFlowListSummary(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{ // what a list shows is kept byte for byte; the rest goes
			`{"createdAt":1.7e9 ,"createdBy":"a","description":"<b> & \u00e9 \"é\" \u2028","destinationFlowConfigList":[` +
				`{"connectorProfileName":"out","connectorType":"S3","destinationConnectorProperties":{"S3":{"bucketName":"lake"}}},{"connectorType":"Snowflake"}],` +
				`"flowArn":"arn:f","flowName":"f","flowStatus":"Active","lastUpdatedAt":1700000000.123,"lastUpdatedBy":"b",` +
				`"sourceFlowConfig":{"connectorType":"Salesforce","sourceConnectorProperties":{}},"tasks":[{"taskType":"Map_all"}],` +
				`"triggerConfig":{"triggerProperties":{"Scheduled":{}},"triggerType":"Scheduled"}}`,
			`{"createdAt":1.7e9,"createdBy":"a","description":"<b> & \u00e9 \"é\" \u2028","destinationFlowConfigList":[{"connectorType":"S3","connectorProfileName":"out"}],` +
				`"flowArn":"arn:f","flowName":"f","lastUpdatedAt":1700000000.123,"lastUpdatedBy":"b",` +
				`"sourceFlowConfig":{"connectorType":"Salesforce"},"triggerConfig":{"triggerType":"Scheduled"}}`,
		},
		{`{"flowName":"bare"}`, `{"flowName":"bare"}`},
		{`{"destinationFlowConfigList":[]}`, `{"destinationFlowConfigList":[]}`},
		// Members of the wrong kind are kept as they are, for the reader to refuse.
		{`{"sourceFlowConfig":"x","triggerConfig":[1],"destinationFlowConfigList":[7]}`,
			`{"destinationFlowConfigList":[7],"sourceFlowConfig":"x","triggerConfig":[1]}`},
		{`not json`, ``},
		{`[1]`, ``},
		{``, ``},
	} {
		got := store.FlowListSummary([]byte(c.doc))
		if string(got) != c.want || (c.want == "") != (got == nil) {
			t.Errorf("FlowListSummary(%s)\n got %s\nwant %s", c.doc, got, c.want)
		}
	}
}
