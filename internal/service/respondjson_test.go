package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// respondEnv has flows of every shape DescribeFlow and ListFlows splice:
// with and without tags, runs (successful, failed, in progress), custom
// connector labels, a metadata catalog, and a document written by an
// older version (json.Marshal, <>& escaped) with a member the model no
// longer has.
func respondEnv(t *testing.T) *flowEnv {
	t.Helper()
	env := newFlowEnv(t, false)
	ctx := context.Background()
	env.profile(t, "cc", "CustomConnector", "my-connector")
	env.registration(t, "my-connector", true, "BYMINUTE")
	for i, name := range []string{"a-plain", "b-tagged", "c-failed", "d-custom", "e-running"} {
		in := flowS3(name, wire.TriggerTypeOnDemand)
		if name != "a-plain" {
			in.Tags = map[string]string{"i": fmt.Sprint(i), "team": "data"}
		}
		if name == "d-custom" {
			in.SourceFlowConfig = &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorProfileName: "cc",
				SourceConnectorProperties: &wire.SourceConnectorProperties{CustomConnector: &wire.CustomConnectorSourceProperties{EntityName: "things"}}}
			in.Tasks = []wire.Task{{TaskType: wire.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &wire.ConnectorOperator{CustomConnector: wire.OperatorNoOp}}}
		}
		if _, err := env.svc.CreateFlow(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	for _, run := range []struct {
		flow   string
		finish wire.ExecutionStatus
	}{{"b-tagged", wire.ExecutionStatusSuccessful}, {"c-failed", wire.ExecutionStatusError}, {"d-custom", wire.ExecutionStatusSuccessful}, {"e-running", ""}} {
		env.runner.Finish = run.finish
		if _, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: run.flow}); err != nil {
			t.Fatal(err)
		}
		env.clock.Now() // the next run starts later
	}
	// An older document: escaped by json.Marshal, with a metadata catalog
	// and a member since dropped, and a run that registered a table.
	doc := `{"createdAt":1700000000.123,"description":"\u003cb\u003e \u0026 ü","flowArn":"arn:aws:appflow:us-east-1:` + flowTestAccount +
		`:flow/f-old","flowName":"f-old","flowStatus":"Suspended","kmsArn":"k","metadataCatalogConfig":{"glueDataCatalog":{"databaseName":"db","roleArn":"r","tablePrefix":"p"}},` +
		`"retired":{"x":[1,"]}"]},"sourceFlowConfig":{"connectorType":"S3","sourceConnectorProperties":{"S3":{"bucketName":"b"}}},` +
		`"tasks":[],"triggerConfig":{"triggerType":"OnDemand"}}`
	f := &store.Flow{AccountID: flowTestAccount, Name: "f-old", Arn: "arn:aws:appflow:us-east-1:" + flowTestAccount + ":flow/f-old",
		Status: "Active", Doc: []byte(doc)}
	if err := env.store.FlowCreate(ctx, f); err != nil {
		t.Fatal(err)
	}
	rec := `{"executionId":"old-1","executionStatus":"Successful","startedAt":1700000001,"metadataCatalogDetails":[{"catalogType":"GLUE","tableName":"p_t"}]}`
	if err := env.store.ExecutionCreate(ctx, &store.Execution{AccountID: flowTestAccount, FlowName: "f-old", ExecutionID: "old-1",
		Status: "Successful", Doc: []byte(rec), StartedAt: time.Unix(1700000001, 0)}); err != nil {
		t.Fatal(err)
	}
	return env
}

// TestRespondJSONIsTheModelEncoding: the bodies written from stored
// documents are byte for byte what encoding the model values would give
// (the methods' results are those bodies decoded), so splicing changes
// nothing a client sees, for new documents; an older one keeps its
// escapes and retired members, which decode the same.
func TestRespondJSONIsTheModelEncoding(t *testing.T) {
	env := respondEnv(t)
	ctx := context.Background()
	for _, name := range []string{"a-plain", "b-tagged", "c-failed", "d-custom", "e-running"} {
		body, handled, err := env.svc.RespondJSON(ctx, &wire.DescribeFlowRequest{FlowName: name})
		if err != nil || !handled {
			t.Fatalf("RespondJSON DescribeFlow %s: handled %v, %v", name, handled, err)
		}
		out, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: name})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := encodePlain(out)
		if string(body) != string(want) {
			t.Errorf("DescribeFlow %s body:\n got %s\nwant %s", name, body, want)
		}
	}
	token := ""
	for page := 0; ; page++ {
		in := &wire.ListFlowsRequest{MaxResults: flowPtr(int32(4)), NextToken: token}
		body, handled, err := env.svc.RespondJSON(ctx, in)
		if err != nil || !handled {
			t.Fatalf("RespondJSON ListFlows: handled %v, %v", handled, err)
		}
		out, err := env.svc.ListFlows(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := encodePlain(out)
		// The older document's description keeps its escapes.
		if got := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(body)); got != string(want) {
			t.Errorf("ListFlows page %d body:\n got %s\nwant %s", page, body, want)
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	if _, handled, _ := env.svc.RespondJSON(ctx, &wire.ListTagsForResourceRequest{}); handled {
		t.Error("RespondJSON handled ListTagsForResource; want it left to the method")
	}
}

// TestListFlowsSummaryIsTheDocument: a flow listed from its stored list
// summary reads byte for byte as it would from its whole document.
func TestListFlowsSummaryIsTheDocument(t *testing.T) {
	env := respondEnv(t)
	ctx := context.Background()
	views, _, err := env.store.FlowViewList(ctx, &store.FlowListParams{AccountID: flowTestAccount, Page: store.Page{Limit: 100}})
	if err != nil || len(views) != 6 {
		t.Fatalf("FlowViewList: %d views, %v", len(views), err)
	}
	for _, v := range views {
		whole, err := env.store.FlowViewGet(ctx, flowTestAccount, v.Flow.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Summary) >= len(whole.Flow.Doc) {
			t.Errorf("%s: summary of %d bytes, document of %d", v.Flow.Name, len(v.Summary), len(whole.Flow.Doc))
		}
		body := func(doc []byte) string {
			ms, err := objectMembers(doc, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := appendFlowSummary(nil, v, ms)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		if got, want := body(v.Summary), body(whole.Flow.Doc); got != want {
			t.Errorf("%s from its summary:\n got %s\nwant %s", v.Flow.Name, got, want)
		}
	}
}

// TestDescribeFlowSplicesTheLiveMembers checks what is spliced into the
// stored document: the status, tags and newest run, and the catalog tables
// of that run only for a flow with a catalog.
func TestDescribeFlowSplicesTheLiveMembers(t *testing.T) {
	env := respondEnv(t)
	ctx := context.Background()
	old, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "f-old"})
	if err != nil {
		t.Fatal(err)
	}
	if old.FlowStatus != wire.FlowStatusActive || old.Description != "<b> & ü" || old.Tags != nil ||
		old.LastRunExecutionDetails == nil || old.LastRunExecutionDetails.MostRecentExecutionStatus != wire.ExecutionStatusSuccessful ||
		len(old.LastRunMetadataCatalogDetails) != 1 || old.LastRunMetadataCatalogDetails[0].TableName != "p_t" {
		t.Errorf("DescribeFlow of an older document: %+v", old)
	}
	body, _, err := env.svc.RespondJSON(ctx, &wire.DescribeFlowRequest{FlowName: "f-old"})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(body), `"flowStatus"`); n != 1 || !strings.Contains(string(body), `"flowStatus":"Active"`) {
		t.Errorf("body has %d flowStatus members, want one, Active: %s", n, body)
	}
	failed, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "c-failed"})
	if err != nil {
		t.Fatal(err)
	}
	if d := failed.LastRunExecutionDetails; d == nil || d.MostRecentExecutionStatus != wire.ExecutionStatusError ||
		d.MostRecentExecutionMessage != "source bucket is missing" || failed.Tags["team"] != "data" || failed.LastRunMetadataCatalogDetails != nil {
		t.Errorf("DescribeFlow of a failed flow: %+v, %+v", failed, failed.LastRunExecutionDetails)
	}
	list, err := env.svc.ListFlows(ctx, &wire.ListFlowsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]wire.FlowDefinition{}
	for _, f := range list.Flows {
		byName[f.FlowName] = f
	}
	if f := byName["d-custom"]; f.SourceConnectorLabel != "my-connector" || f.SourceConnectorType != wire.ConnectorTypeCustomConnector || f.DestinationConnectorLabel != "" {
		t.Errorf("ListFlows custom source: %+v", f)
	}
	if f := byName["e-running"]; f.LastRunExecutionDetails == nil || f.LastRunExecutionDetails.MostRecentExecutionStatus != wire.ExecutionStatusInProgress {
		t.Errorf("ListFlows running flow: %+v", f)
	}
	if f := byName["f-old"]; f.Description != "<b> & ü" || f.FlowStatus != wire.FlowStatusActive || f.DestinationConnectorType != "" || f.CreatedAt == nil {
		t.Errorf("ListFlows older document: %+v", f)
	}
	if f := byName["a-plain"]; f.Tags != nil || f.LastRunExecutionDetails != nil || f.TriggerType != wire.TriggerTypeOnDemand {
		t.Errorf("ListFlows plain flow: %+v", f)
	}
}

// TestRespondJSONBadDocument: a stored document that is not a JSON object
// is an internal error, not a broken body.
func TestRespondJSONBadDocument(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	if err := env.store.FlowCreate(ctx, &store.Flow{AccountID: flowTestAccount, Name: "bad", Arn: "arn:x", Status: "Active",
		Doc: []byte(`{"flowName":"bad"`)}); err != nil {
		t.Fatal(err)
	}
	_, _, err := env.svc.RespondJSON(ctx, &wire.DescribeFlowRequest{FlowName: "bad"})
	flowWantCode(t, err, fault.Internal, "decode flow bad")
	_, _, err = env.svc.RespondJSON(ctx, &wire.ListFlowsRequest{})
	flowWantCode(t, err, fault.Internal, "decode flow bad")
	_, _, err = env.svc.RespondJSON(ctx, &wire.DescribeFlowRequest{FlowName: "missing"})
	flowWantCode(t, err, fault.NotFound, "missing")
}

func TestObjectMembers(t *testing.T) {
	for _, doc := range []string{
		`{}`,
		` { "a" : 1 , "b":[{"c":"}"},"\"]"],"d":null,"e":true,"f":-1.5e3 } `,
		`{"s":"a\\","t":{"u":{"v":[]}}}`,
		`{"a":"x\\\"}\\","b":["\\\\\"]",{"c":"\"}"}],"d":1}`,
	} {
		if !json.Valid([]byte(doc)) {
			t.Fatalf("test document %s is not JSON", doc)
		}
		ms, err := objectMembers([]byte(doc), nil)
		if err != nil {
			t.Errorf("objectMembers(%s): %v", doc, err)
			continue
		}
		// Written back, the members are the same object.
		var got, want any
		if err := json.Unmarshal(appendObject(nil, ms), &got); err != nil {
			t.Errorf("objectMembers(%s) written back: %v", doc, err)
		}
		json.Unmarshal([]byte(doc), &want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("objectMembers(%s) written back: got %v, want %v", doc, got, want)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":"x}`, `{"a":[1}`, `{"a":1} x`, `{a:1}`, `{"a":1 "b":2}`} {
		if _, err := objectMembers([]byte(bad), nil); err == nil {
			t.Errorf("objectMembers(%q): no error", bad)
		}
	}
}

func TestSplice(t *testing.T) {
	doc := []member{{"b", []byte("1")}, {"d", []byte("2")}, {"f", []byte("3")}}
	set := []member{{"a", []byte(`"A"`)}, {"d", []byte(`"D"`)}, {"e", []byte(`"E"`)}, {"g", []byte(`"G"`)}}
	got := string(appendObject(nil, splice(doc, set)))
	if want := `{"a":"A","b":1,"d":"D","e":"E","f":3,"g":"G"}`; got != want {
		t.Errorf("splice: got %s, want %s", got, want)
	}
}

func TestTagsJSON(t *testing.T) {
	tags := map[string]string{"b": "2", "a": "<1>", "ü": "\"", "A": ""}
	want, _ := encodePlain(tags)
	if got := tagsJSON(tags); string(got) != string(want) {
		t.Errorf("tagsJSON = %s, want %s", got, want)
	}
	if got := tagsJSON(nil); got != nil {
		t.Errorf("tagsJSON(nil) = %s, want nil", got)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "<&>", "ü\u2028\x01", "\xff"} {
		want, _ := encodePlain(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestListFlowsFollowsWrites: a tag added or removed, a run started and
// finished show in the next ListFlows and DescribeFlow, whose bodies stay
// the model's encoding.
func TestListFlowsFollowsWrites(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	env.runner.Finish = ""
	in := flowS3("f", wire.TriggerTypeOnDemand)
	in.Tags = map[string]string{"team": "data"}
	created, err := env.svc.CreateFlow(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, tags map[string]string, status wire.ExecutionStatus) {
		t.Helper()
		body, _, err := env.svc.RespondJSON(ctx, &wire.ListFlowsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := env.svc.ListFlows(ctx, &wire.ListFlowsRequest{})
		if err != nil || len(out.Flows) != 1 {
			t.Fatalf("%s: ListFlows: %v, %+v", step, err, out)
		}
		if want, _ := encodePlain(out); string(body) != string(want) {
			t.Errorf("%s: ListFlows body:\n got %s\nwant %s", step, body, want)
		}
		got := out.Flows[0]
		var gotStatus wire.ExecutionStatus
		if got.LastRunExecutionDetails != nil {
			gotStatus = got.LastRunExecutionDetails.MostRecentExecutionStatus
		}
		if fmt.Sprint(got.Tags) != fmt.Sprint(tags) || gotStatus != status {
			t.Errorf("%s: ListFlows shows tags %v, last run %q; want %v, %q", step, got.Tags, gotStatus, tags, status)
		}
		body, _, err = env.svc.RespondJSON(ctx, &wire.DescribeFlowRequest{FlowName: "f"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "f"})
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := encodePlain(d); string(body) != string(want) {
			t.Errorf("%s: DescribeFlow body:\n got %s\nwant %s", step, body, want)
		}
		if fmt.Sprint(d.Tags) != fmt.Sprint(tags) || (d.LastRunExecutionDetails == nil) != (status == "") {
			t.Errorf("%s: DescribeFlow shows tags %v, last run %+v; want %v, %q", step, d.Tags, d.LastRunExecutionDetails, tags, status)
		}
	}
	check("created", map[string]string{"team": "data"}, "")
	if _, err := env.svc.TagResource(ctx, &wire.TagResourceRequest{ResourceArn: created.FlowArn, Tags: map[string]string{"env": "prod", "team": "ops"}}); err != nil {
		t.Fatal(err)
	}
	check("tagged", map[string]string{"env": "prod", "team": "ops"}, "")
	if _, err := env.svc.UntagResource(ctx, &wire.UntagResourceRequest{ResourceArn: created.FlowArn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	check("untagged", map[string]string{"env": "prod"}, "")
	run, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "f"})
	if err != nil {
		t.Fatal(err)
	}
	check("running", map[string]string{"env": "prod"}, wire.ExecutionStatusInProgress)
	k := runstate.Key{Account: flowTestAccount, Flow: "f", ID: run.ExecutionId}
	if _, err := runstate.New(env.store, env.clock.Now).Finish(ctx, k, nil, runstate.Successful, ""); err != nil {
		t.Fatal(err)
	}
	check("finished", map[string]string{"env": "prod"}, wire.ExecutionStatusSuccessful)
	if _, err := env.svc.UntagResource(ctx, &wire.UntagResourceRequest{ResourceArn: created.FlowArn, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	check("no tags", map[string]string{}, wire.ExecutionStatusSuccessful)
}
