package salesforceconn_test

// More end-to-end tests through the AppFlow SDK against the documented-API
// test org: scheduled incremental runs, deleted records, every filter
// operator pushed down, UPDATE and DELETE, the Bulk API 2.0 write path,
// both error-handling modes and the JWT bearer grant.

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
)

// clock is a settable time for app.Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// finished waits until flow has n execution records, none in progress,
// and returns them oldest window first.
func (e *e2e) finished(flow string, n int) []types.ExecutionRecord {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := e.client.DescribeFlowExecutionRecords(e.ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
		if err != nil {
			e.t.Fatal(err)
		}
		done := 0
		for _, r := range out.FlowExecutions {
			if r.ExecutionStatus != types.ExecutionStatusInprogress {
				done++
			}
		}
		if done == n && len(out.FlowExecutions) == n {
			recs := out.FlowExecutions
			sort.Slice(recs, func(i, j int) bool {
				return aws.ToTime(recs[i].DataPullEndTime).Before(aws.ToTime(recs[j].DataPullEndTime))
			})
			return recs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %d of %d runs finished in 60 s (%d records)", flow, done, n, len(out.FlowExecutions))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idNameTasks projects fields (Id and Name first) and maps Id and Name.
func idNameTasks(fields ...string) []types.Task {
	return []types.Task{
		{TaskType: types.TaskTypeFilter, SourceFields: append([]string{"Id", "Name"}, fields...), ConnectorOperator: sfOp(types.SalesforceConnectorOperatorProjection)},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"Id"}, DestinationField: aws.String("id"), ConnectorOperator: sfOp(types.SalesforceConnectorOperatorNoOp),
			TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "id", "DESTINATION_DATA_TYPE": "string"}},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"Name"}, DestinationField: aws.String("name"), ConnectorOperator: sfOp(types.SalesforceConnectorOperatorNoOp),
			TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}},
	}
}

// names is the name column of an id,name CSV output, in order.
func names(t *testing.T, out string) []string {
	t.Helper()
	rows := readCSV(t, out)
	if len(rows) == 0 {
		return nil // no records, no header
	}
	if strings.Join(rows[0], ",") != "id,name" {
		t.Fatalf("output %q, want an id,name CSV", out)
	}
	var list []string
	for _, r := range rows[1:] {
		list = append(list, r[1])
	}
	return list
}

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) // seedAccounts' first LastModifiedDate

// TestE2EScheduledIncremental: a scheduled Incremental flow on
// LastModifiedDate, planned by hand (app.Config.PlanInterval -1 and
// Scheduler().Tick at an injected clock, app.Config.Now). The first window runs from
// firstExecutionFrom to the first fire, the second from where the first
// ended; each SOQL query carries its window, start inclusive and end
// exclusive, and the execution records say the windows.
func TestE2EScheduledIncremental(t *testing.T) {
	clk := &clock{t: base.Add(2*time.Hour + 30*time.Minute)}
	e := newE2E(t, func(c *app.Config) { c.Now = clk.Now; c.PlanInterval = -1 })
	seedAccounts(e.org)
	// On the boundary of the two windows: in the second only.
	e.org.Insert("Account", map[string]any{"Name": "Boundary", "LastModifiedDate": base.Add(2*time.Hour + 30*time.Minute)})
	e.mustProfile("sf", tokens())
	var soql soqlLog
	soql.watch(e.org)

	in := sfSourceFlow("incr", "sf", "REST_SYNC", idNameTasks("LastModifiedDate"), "lake")
	in.TriggerConfig = &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
		Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String("rate(1hours)"), DataPullMode: types.DataPullModeIncremental,
			FirstExecutionFrom: aws.Time(base), ScheduleOffset: aws.Int64(0)}}}
	in.SourceFlowConfig.IncrementalPullConfig = &types.IncrementalPullConfig{DatetimeTypeFieldName: aws.String("LastModifiedDate")}
	if _, err := e.client.CreateFlow(e.ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String("incr")}); err != nil {
		t.Fatal(err)
	}
	// StartFlow also queues a planning job of its own (a rate() fires at
	// activation), which may plan a due run before Tick does: either
	// enqueues it, once.
	tick := func() {
		t.Helper()
		if n, err := e.app.Queue.Scheduler().Tick(e.ctx); n > 1 || err != nil {
			t.Fatalf("Tick at %s: %d runs (%v), want at most 1", clk.Now().Format(time.RFC3339), n, err)
		}
	}
	tick()
	first := e.finished("incr", 1)[0]
	mustSucceed(t, first)
	if s, end := aws.ToTime(first.DataPullStartTime), aws.ToTime(first.DataPullEndTime); !s.Equal(base) || !end.Equal(base.Add(150*time.Minute)) {
		t.Errorf("first window [%s, %s), want [firstExecutionFrom, first fire)", s, end)
	}
	if got := names(t, e.oneOutput("lake", first)); strings.Join(got, "|") != `Acme|Globex, Inc.|Say "hi"` {
		t.Errorf("first window read %q", got)
	}

	clk.Set(base.Add(3*time.Hour + 30*time.Minute))
	tick()
	runs := e.finished("incr", 2)
	second := runs[1]
	mustSucceed(t, second)
	if s := aws.ToTime(second.DataPullStartTime); !s.Equal(aws.ToTime(first.DataPullEndTime)) {
		t.Errorf("second window starts %s, want where the first ended (%s)", s, aws.ToTime(first.DataPullEndTime))
	}
	if end := aws.ToTime(second.DataPullEndTime); !end.Equal(base.Add(210 * time.Minute)) {
		t.Errorf("second window ends %s, want the second fire", end)
	}
	if got := names(t, e.oneOutput("lake", second)); strings.Join(got, "|") != "Initech|Boundary" {
		t.Errorf("second window read %q, want Initech and the record on the boundary", got)
	}
	want := []string{
		"SELECT Id, Name, LastModifiedDate FROM Account WHERE LastModifiedDate >= 2024-01-01T00:00:00Z AND LastModifiedDate < 2024-01-01T02:30:00Z",
		"SELECT Id, Name, LastModifiedDate FROM Account WHERE LastModifiedDate >= 2024-01-01T02:30:00Z AND LastModifiedDate < 2024-01-01T03:30:00Z",
	}
	if got := soql.all(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("SOQL:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// bodyLog records the bodies of Bulk API 2.0 job creations.
type bodyLog struct {
	mu     sync.Mutex
	bodies []string
}

func (l *bodyLog) watch(o *sftest.Org, soql *soqlLog) {
	o.Inject(func(r *http.Request) (int, string, bool) {
		if q := r.URL.Query().Get("q"); q != "" && soql != nil {
			soql.mu.Lock()
			soql.qs = append(soql.qs, q)
			soql.mu.Unlock()
		}
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, sftest.VersionPrefix+"/jobs/") {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			l.mu.Lock()
			l.bodies = append(l.bodies, string(b))
			l.mu.Unlock()
		}
		return 0, "", false
	})
}

func (l *bodyLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.bodies...)
}

// TestE2EIncludeDeletedRecords: includeDeletedRecords reads the recycle
// bin too, through queryAll on REST and a queryAll job on Bulk API 2.0;
// without it, deleted records stay out.
func TestE2EIncludeDeletedRecords(t *testing.T) {
	e := newE2E(t, nil)
	seedAccounts(e.org).SoftDelete(1) // Globex, Inc.
	e.mustProfile("sf", tokens())
	var jobs bodyLog
	jobs.watch(e.org, nil)
	accountNames := []string{"Acme", "Globex, Inc.", `Say "hi"`, "Initech", "Umbrella", "Hooli", "Stark"}
	for _, c := range []struct {
		api     string
		deleted bool
	}{{"REST_SYNC", true}, {"BULKV2", true}, {"REST_SYNC", false}, {"BULKV2", false}} {
		t.Run(fmt.Sprintf("%s-deleted-%v", c.api, c.deleted), func(t *testing.T) {
			e.t = t
			flow := strings.ToLower(fmt.Sprintf("deleted-%s-%v", strings.ReplaceAll(c.api, "_", "-"), c.deleted))
			tasks := append(idNameTasks("IsDeleted"), types.Task{TaskType: types.TaskTypeMap, SourceFields: []string{"IsDeleted"}, DestinationField: aws.String("deleted"),
				ConnectorOperator: sfOp(types.SalesforceConnectorOperatorNoOp), TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "boolean", "DESTINATION_DATA_TYPE": "boolean"}})
			in := sfSourceFlow(flow, "sf", c.api, tasks, "lake")
			in.SourceFlowConfig.SourceConnectorProperties.Salesforce.IncludeDeletedRecords = c.deleted
			if _, err := e.client.CreateFlow(e.ctx, in); err != nil {
				t.Fatal(err)
			}
			r := e.run(flow)
			mustSucceed(t, r)
			want := [][]string{{"id", "name", "deleted"}}
			for i, n := range accountNames {
				if i == 1 && !c.deleted {
					continue
				}
				want = append(want, []string{"001" + strings.Repeat("0", 14) + string(rune('A'+i)), n, strconv.FormatBool(i == 1)})
			}
			if got := readCSV(t, e.oneOutput("lake", r)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("output %q\nwant   %q", got, want)
			}
		})
	}
	e.t = t
	if n := e.org.Logged("GET " + sftest.VersionPrefix + "/queryAll"); n != 1 {
		t.Errorf("REST queryAll requests: %d, want 1", n)
	}
	var ops []string
	for _, b := range jobs.all() {
		var spec map[string]string
		_ = json.Unmarshal([]byte(b), &spec)
		ops = append(ops, spec["operation"])
	}
	if strings.Join(ops, ",") != "queryAll,query" {
		t.Errorf("Bulk API 2.0 query job operations %v, want queryAll then query", ops)
	}
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("output %q: %v", s, err)
	}
	return rows
}

func sfFilter(field string, op types.SalesforceConnectorOperator, props map[string]string) types.Task {
	return types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{field}, ConnectorOperator: sfOp(op), TaskProperties: props}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// TestE2EFilterOperators: every filter operator the model allows for
// Salesforce, on numbers, strings, datetimes and booleans, in three flows;
// each is pushed into the SOQL (bounds inclusive, literals in SOQL's
// formats, strings escaped) and the output is what the filters keep.
// NOT_EQUAL_TO and ordering on strings are not pushed: SOQL compares
// strings ignoring case, so the engine alone applies them (package doc).
func TestE2EFilterOperators(t *testing.T) {
	e := newE2E(t, nil)
	seedAccounts(e.org)
	e.mustProfile("sf", tokens())
	var soql soqlLog
	soql.watch(e.org)
	cases := []struct {
		name    string
		fields  []string
		filters []types.Task
		where   string
		want    string
	}{
		{"numbers", []string{"Employees", "Revenue"}, []types.Task{
			sfFilter("Employees", types.SalesforceConnectorOperatorGreaterThan, map[string]string{"DATA_TYPE": "integer", "VALUE": "5"}),
			sfFilter("Employees", types.SalesforceConnectorOperatorLessThan, map[string]string{"DATA_TYPE": "integer", "VALUE": "60"}),
			sfFilter("Employees", types.SalesforceConnectorOperatorBetween, map[string]string{"DATA_TYPE": "integer", "LOWER_BOUND": "10", "UPPER_BOUND": "50"}),
			sfFilter("Employees", types.SalesforceConnectorOperatorNotEqualTo, map[string]string{"DATA_TYPE": "integer", "VALUE": "20"}),
			sfFilter("Employees", types.SalesforceConnectorOperatorEqualTo, map[string]string{"DATA_TYPE": "integer", "VALUES": "[10, 20, 30, 50, 60]"}),
			sfFilter("Revenue", types.SalesforceConnectorOperatorGreaterThanOrEqualTo, map[string]string{"DATA_TYPE": "double", "VALUE": "1000.5"}),
			sfFilter("Revenue", types.SalesforceConnectorOperatorLessThanOrEqualTo, map[string]string{"DATA_TYPE": "double", "VALUE": "5002.5"}),
		}, "Employees > 5 AND Employees < 60 AND (Employees >= 10 AND Employees <= 50) AND Employees != 20 AND Employees IN (10, 20, 30, 50, 60) AND Revenue >= 1000.5 AND Revenue <= 5002.5",
			"Globex, Inc.|Initech|Hooli"},
		{"strings-and-datetimes", []string{"LastModifiedDate"}, []types.Task{
			sfFilter("Name", types.SalesforceConnectorOperatorContains, map[string]string{"DATA_TYPE": "string", "VALUE": "e"}),
			sfFilter("LastModifiedDate", types.SalesforceConnectorOperatorGreaterThanOrEqualTo, map[string]string{"DATA_TYPE": "datetime", "VALUE": ms(base.Add(time.Hour))}),
			sfFilter("LastModifiedDate", types.SalesforceConnectorOperatorLessThan, map[string]string{"DATA_TYPE": "datetime", "VALUE": ms(base.Add(5 * time.Hour))}),
			sfFilter("LastModifiedDate", types.SalesforceConnectorOperatorBetween, map[string]string{"DATA_TYPE": "datetime", "LOWER_BOUND": ms(base.Add(time.Hour)), "UPPER_BOUND": ms(base.Add(4 * time.Hour))}),
			sfFilter("LastModifiedDate", types.SalesforceConnectorOperatorNotEqualTo, map[string]string{"DATA_TYPE": "datetime", "VALUE": ms(base.Add(3 * time.Hour))}),
			sfFilter("LastModifiedDate", types.SalesforceConnectorOperatorGreaterThan, map[string]string{"DATA_TYPE": "datetime", "VALUE": ms(base)}),
			sfFilter("LastModifiedDate", types.SalesforceConnectorOperatorLessThanOrEqualTo, map[string]string{"DATA_TYPE": "datetime", "VALUE": ms(base.Add(4 * time.Hour))}),
		}, "Name LIKE '%e%' AND LastModifiedDate >= 2024-01-01T01:00:00Z AND LastModifiedDate < 2024-01-01T05:00:00Z AND " +
			"(LastModifiedDate >= 2024-01-01T01:00:00Z AND LastModifiedDate <= 2024-01-01T04:00:00Z) AND LastModifiedDate != 2024-01-01T03:00:00Z AND " +
			"LastModifiedDate > 2024-01-01T00:00:00Z AND LastModifiedDate <= 2024-01-01T04:00:00Z",
			"Globex, Inc.|Umbrella"},
		{"equality", []string{"Active", "LastModifiedDate"}, []types.Task{
			sfFilter("Name", types.SalesforceConnectorOperatorEqualTo, map[string]string{"DATA_TYPE": "string", "VALUE": `Say "hi"`}),
			sfFilter("Active", types.SalesforceConnectorOperatorNotEqualTo, map[string]string{"DATA_TYPE": "boolean", "VALUE": "false"}),
			sfFilter("Active", types.SalesforceConnectorOperatorEqualTo, map[string]string{"DATA_TYPE": "boolean", "VALUE": "true"}),
			sfFilter("LastModifiedDate", types.SalesforceConnectorOperatorEqualTo, map[string]string{"DATA_TYPE": "datetime", "VALUE": ms(base.Add(2 * time.Hour))}),
		}, `Name = 'Say \"hi\"' AND Active != false AND Active = true AND LastModifiedDate = 2024-01-01T02:00:00Z`,
			`Say "hi"`},
		// The engine's string comparisons keep case; SOQL's ignore it:
		// EQUAL_TO and CONTAINS go to Salesforce as a superset the engine
		// narrows, NOT_EQUAL_TO stays in the engine.
		{"string-case", nil, []types.Task{
			sfFilter("Name", types.SalesforceConnectorOperatorContains, map[string]string{"DATA_TYPE": "string", "VALUE": "ACME"}),
			sfFilter("Name", types.SalesforceConnectorOperatorNotEqualTo, map[string]string{"DATA_TYPE": "string", "VALUE": "acme"}),
		}, "Name LIKE '%ACME%'", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			n0 := len(soql.all())
			if _, err := e.client.CreateFlow(e.ctx, sfSourceFlow("filters-"+c.name, "sf", "REST_SYNC", append(idNameTasks(c.fields...), c.filters...), "lake")); err != nil {
				t.Fatal(err)
			}
			r := e.run("filters-" + c.name)
			mustSucceed(t, r)
			qs := soql.all()[n0:]
			want := "SELECT " + strings.Join(append([]string{"Id", "Name"}, c.fields...), ", ") + " FROM Account WHERE " + c.where
			if len(qs) != 1 || qs[0] != want {
				t.Errorf("SOQL %q\nwant %q", qs, want)
			}
			out := ""
			files := e.bucketFiles("lake")
			for k, v := range files {
				if strings.Contains(k, aws.ToString(r.ExecutionId)) {
					out = v
				}
			}
			if got := names(t, out); strings.Join(got, "|") != c.want {
				t.Errorf("output names %q, want %q", strings.Join(got, "|"), c.want)
			}
		})
	}
}

// contacts is the Contacts' LastName|Score|Ext__c, sorted.
func (e *e2e) contacts() []string {
	var got []string
	for _, rec := range e.org.Live("Contact") {
		got = append(got, sftest.CSVValue(rec["LastName"])+"|"+sftest.CSVValue(rec["Score"])+"|"+sftest.CSVValue(rec["Ext__c"]))
	}
	sort.Strings(got)
	return got
}

// contactIDs inserts Contacts named names and returns their Ids.
func contactIDs(o *sftest.Org, names ...string) []string {
	var recs []map[string]any
	for _, n := range names {
		recs = append(recs, map[string]any{"LastName": n, "Score": 1.0})
	}
	return o.Insert("Contact", recs...)
}

// TestE2EUpdateAndDelete: UPDATE matches the record Id (a missing Id or
// an unknown one is a rejected record with Salesforce's error), DELETE
// takes the Ids and moves the records to the recycle bin; on REST (sObject
// Collections) and on Bulk API 2.0 ingest jobs.
func TestE2EUpdateAndDelete(t *testing.T) {
	for _, api := range []types.SalesforceDataTransferApi{types.SalesforceDataTransferApiRestSync, types.SalesforceDataTransferApiBulkv2} {
		t.Run(string(api), func(t *testing.T) {
			e := newE2E(t, nil)
			seedContacts(e.org) // Old|1|E1
			ids := contactIDs(e.org, "Ann", "Bo", "Cy")
			e.mustProfile("sf", tokens())
			const unknown = "003000000000000AAA"

			e.put("raw", "update/contacts.csv", "id,last,score\n"+ids[0]+",Anne,2.5\n"+unknown+",Nobody,1\n,NoId,1\n"+ids[1]+",bad,\n"+ids[2]+",Cyd,\n")
			in := sfDestFlow("update", "update", types.WriteOperationTypeUpdate, []string{"Id"},
				[]types.Task{s3Map("id", "Id", "string"), s3Map("last", "LastName", "string"), s3Map("score", "Score", "double")})
			in.DestinationFlowConfigList[0].DestinationConnectorProperties.Salesforce.DataTransferApi = api
			if _, err := e.client.CreateFlow(e.ctx, in); err != nil {
				t.Fatal(err)
			}
			r := e.run("update")
			mustSucceed(t, r)
			if n := putFailures(r); n != 3 {
				t.Errorf("UPDATE putFailuresCount = %d, want 3 (%s)", n, message(r))
			}
			if m := message(r); !strings.Contains(m, "INVALID_CROSS_REFERENCE_KEY") && !strings.Contains(m, "MISSING_ARGUMENT") {
				t.Errorf("UPDATE message %q, want Salesforce's error code", m)
			}
			// Cy's empty score clears it: null is written as null.
			if got, want := e.contacts(), []string{"Anne|2.5|", "Bo|1|", "Cyd||", "Old|1|E1"}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("after UPDATE: %v, want %v", got, want)
			}

			e.put("raw", "delete/ids.csv", "id\n"+ids[0]+"\n"+unknown+"\n"+ids[2]+"\n")
			in = sfDestFlow("delete", "delete", types.WriteOperationTypeDelete, []string{"Id"}, []types.Task{s3Map("id", "Id", "string")})
			in.DestinationFlowConfigList[0].DestinationConnectorProperties.Salesforce.DataTransferApi = api
			if _, err := e.client.CreateFlow(e.ctx, in); err != nil {
				t.Fatal(err)
			}
			r = e.run("delete")
			mustSucceed(t, r)
			if n := putFailures(r); n != 1 {
				t.Errorf("DELETE putFailuresCount = %d, want 1 (%s)", n, message(r))
			}
			if m := message(r); !strings.Contains(m, "INVALID_CROSS_REFERENCE_KEY") {
				t.Errorf("DELETE message %q, want Salesforce's INVALID_CROSS_REFERENCE_KEY", m)
			}
			if got, want := e.contacts(), []string{"Bo|1|", "Old|1|E1"}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("after DELETE: %v, want %v", got, want)
			}
			bulk := e.org.Logged("POST " + sftest.VersionPrefix + "/jobs/ingest")
			collections := e.org.Logged("PATCH "+sftest.VersionPrefix+"/composite/sobjects") + e.org.Logged("DELETE "+sftest.VersionPrefix+"/composite/sobjects")
			if api == types.SalesforceDataTransferApiBulkv2 && (bulk != 2 || collections != 0) {
				t.Errorf("BULKV2: %d ingest jobs and %d sObject Collections calls, want 2 and 0", bulk, collections)
			}
			if api == types.SalesforceDataTransferApiRestSync && (bulk != 0 || collections != 2) {
				t.Errorf("REST_SYNC: %d ingest jobs and %d sObject Collections calls, want 0 and 2", bulk, collections)
			}
		})
	}
}

// TestE2EAutomaticBulkWrite: AUTOMATIC writes 1,000 records or more
// through a Bulk API 2.0 ingest job (AppFlow's threshold); the one
// Salesforce rejects is counted and named, the others are all written.
func TestE2EAutomaticBulkWrite(t *testing.T) {
	e := newE2E(t, nil)
	seedContacts(e.org)
	e.mustProfile("sf", tokens())
	var b strings.Builder
	b.WriteString("last,score\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "N%04d,%d\n", i, i)
	}
	b.WriteString("bad,1\n")
	e.put("raw", "many/contacts.csv", b.String())
	in := sfDestFlow("many", "many", types.WriteOperationTypeInsert, nil, []types.Task{s3Map("last", "LastName", "string"), s3Map("score", "Score", "double")})
	in.DestinationFlowConfigList[0].DestinationConnectorProperties.Salesforce.DataTransferApi = types.SalesforceDataTransferApiAutomatic
	if _, err := e.client.CreateFlow(e.ctx, in); err != nil {
		t.Fatal(err)
	}
	r := e.run("many")
	mustSucceed(t, r)
	if n := putFailures(r); n != 1 {
		t.Errorf("putFailuresCount = %d, want 1 (%s)", n, message(r))
	}
	if m := message(r); !strings.Contains(m, "FIELD_CUSTOM_VALIDATION_EXCEPTION") || !strings.Contains(m, "line 1002") {
		t.Errorf("message %q, want Salesforce's code and the record's line", m)
	}
	if r.ExecutionResult == nil || aws.ToInt64(r.ExecutionResult.RecordsProcessed) != 1001 {
		t.Errorf("recordsProcessed = %+v, want 1001", r.ExecutionResult)
	}
	if n := len(e.org.Live("Contact")); n != 1001 {
		t.Errorf("%d Contacts, want 1001 (Old and the 1,000 good ones)", n)
	}
	if n := e.org.Logged("POST " + sftest.VersionPrefix + "/jobs/ingest"); n != 1 {
		t.Errorf("%d ingest jobs, want 1", n)
	}
	if n := e.org.Logged("POST " + sftest.VersionPrefix + "/composite/sobjects"); n != 0 {
		t.Errorf("%d sObject Collections calls, want none over the threshold", n)
	}
}

// rejected reads the error file of a run: JSON Lines under
// bucket/prefix/<flow>/<execution>/.
func (e *e2e) rejected(bucket, prefix, flow string, r types.ExecutionRecord) []map[string]any {
	e.t.Helper()
	p := filepath.Join(e.dataDir, "s3", bucket, prefix, flow, aws.ToString(r.ExecutionId), "salesforce-rejected-records.jsonl")
	b, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatalf("error file: %v (bucket holds %v)", err, e.bucketFiles(bucket))
	}
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			e.t.Fatalf("error file %s: %v", p, err)
		}
		out = append(out, m)
	}
	return out
}

// TestE2EErrorHandling: failOnFirstDestinationError true ends the run in
// Error naming the first rejected record (written records stay: Salesforce
// has no rollback); false keeps going, counts the rejected records and
// writes them, with Salesforce's error, to the error bucket and prefix, on
// REST and on Bulk API 2.0.
func TestE2EErrorHandling(t *testing.T) {
	const data = "last,score\nAnn,1\nbad,2\n,3\nBo,4\n"
	tasks := []types.Task{s3Map("last", "LastName", "string"), s3Map("score", "Score", "double")}
	for _, api := range []types.SalesforceDataTransferApi{types.SalesforceDataTransferApiRestSync, types.SalesforceDataTransferApiBulkv2} {
		t.Run("stop-"+string(api), func(t *testing.T) {
			e := newE2E(t, nil)
			seedContacts(e.org)
			e.mustProfile("sf", tokens())
			e.put("raw", "in/contacts.csv", data)
			in := sfDestFlow("stop", "in", types.WriteOperationTypeInsert, nil, tasks)
			sf := in.DestinationFlowConfigList[0].DestinationConnectorProperties.Salesforce
			sf.DataTransferApi = api
			sf.ErrorHandlingConfig = &types.ErrorHandlingConfig{FailOnFirstDestinationError: true}
			if _, err := e.client.CreateFlow(e.ctx, in); err != nil {
				t.Fatal(err)
			}
			r := e.run("stop")
			if r.ExecutionStatus != types.ExecutionStatusError {
				t.Fatalf("run %s (%s), want Error", r.ExecutionStatus, message(r))
			}
			if m := message(r); !strings.Contains(m, "FIELD_CUSTOM_VALIDATION_EXCEPTION") || !strings.Contains(m, "line 3") {
				t.Errorf("message %q, want the first rejected record (line 3) with Salesforce's code", m)
			}
		})
		t.Run("continue-"+string(api), func(t *testing.T) {
			e := newE2E(t, nil)
			seedContacts(e.org)
			e.mustProfile("sf", tokens())
			if err := os.MkdirAll(filepath.Join(e.dataDir, "s3", "errors"), 0o755); err != nil {
				t.Fatal(err)
			}
			// and a score that is no number: the Map task passes it on as
			// text, Salesforce refuses it
			e.put("raw", "in/contacts.csv", data+"Cy,lots\n")
			in := sfDestFlow("go-on", "in", types.WriteOperationTypeInsert, nil, tasks)
			sf := in.DestinationFlowConfigList[0].DestinationConnectorProperties.Salesforce
			sf.DataTransferApi = api
			sf.ErrorHandlingConfig = &types.ErrorHandlingConfig{FailOnFirstDestinationError: false, BucketName: aws.String("errors"), BucketPrefix: aws.String("sf-rejected")}
			if _, err := e.client.CreateFlow(e.ctx, in); err != nil {
				t.Fatal(err)
			}
			r := e.run("go-on")
			mustSucceed(t, r)
			if n := putFailures(r); n != 3 {
				t.Errorf("putFailuresCount = %d, want 3 (%s)", n, message(r))
			}
			if got, want := e.contacts(), []string{"Ann|1|", "Bo|4|", "Old|1|E1"}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("Contacts %v, want %v", got, want)
			}
			rej := e.rejected("errors", "sf-rejected", "go-on", r)
			if len(rej) != 3 {
				t.Fatalf("error file holds %d records, want 3: %v", len(rej), rej)
			}
			for i, want := range []struct {
				line       float64
				reason     string
				last, scor string
			}{{3, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Last name may not be bad", "bad", "2"},
				{4, "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (fields: LastName)", "", "3"},
				{6, "INVALID_TYPE_ON_FIELD_IN_RECORD: Score: value not of required type: lots (fields: Score)", "Cy", "lots"}} {
				got := rej[i]
				rec, _ := got["record"].(map[string]any)
				if got["line"] != want.line || got["reason"] != want.reason || got["split"] == "" || rec["Score"] != want.scor || (rec["LastName"] != nil && rec["LastName"] != want.last) {
					t.Errorf("rejected record %d = %v, want line %v, reason %q, LastName %q, Score %q", i, got, want.line, want.reason, want.last, want.scor)
				}
			}
		})
	}
}

// TestE2EJWTBearer: a profile with a jwtToken (oAuth2GrantType
// JWT_BEARER) logs in with the JWT bearer grant, needing no client
// secret (appflowd's default connected app is unset here); when the
// session times out, the run posts the JWT again. Assertions Salesforce
// refuses give ConnectorAuthenticationException with its reason.
func TestE2EJWTBearer(t *testing.T) {
	e := newE2E(t, nil)
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_ID", "")
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_SECRET", "")
	seedAccounts(e.org)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e.org.EnableJWT(&key.PublicKey, "etl@example.com")
	sign := func(k *rsa.PrivateKey, user string) *types.SalesforceConnectorProfileCredentials {
		jwt, err := sftest.SignJWT(k, sftest.ClientID, "https://login.salesforce.com", user, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return &types.SalesforceConnectorProfileCredentials{JwtToken: aws.String(jwt), OAuth2GrantType: types.OAuth2GrantTypeJwtBearer}
	}
	for _, c := range []struct {
		name  string
		creds *types.SalesforceConnectorProfileCredentials
		want  string
	}{
		{"unapproved", sign(key, "someone@example.com"), "user hasn't approved this consumer"},
		{"wrong-key", sign(other, "etl@example.com"), "invalid assertion"},
	} {
		err := e.createProfile(c.name, c.creds)
		var ae *types.ConnectorAuthenticationException
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: CreateConnectorProfile = %v (%T), want ConnectorAuthenticationException with %q", c.name, err, err, c.want)
		}
	}
	tokenCalls := e.org.Logged("POST /services/oauth2/token")
	e.mustProfile("sf-jwt", sign(key, "etl@example.com"))
	if n := e.org.Logged("POST /services/oauth2/token") - tokenCalls; n != 1 {
		t.Errorf("token requests creating the profile: %d, want 1", n)
	}
	if _, err := e.client.CreateFlow(e.ctx, sfSourceFlow("accounts", "sf-jwt", "REST_SYNC", accountTasks(), "lake")); err != nil {
		t.Fatal(err)
	}
	r := e.run("accounts")
	mustSucceed(t, r)
	if got := e.oneOutput("lake", r); got != accountsCSV {
		t.Errorf("output:\n%s\nwant:\n%s", got, accountsCSV)
	}
	if n := e.org.Logged("POST /services/oauth2/token") - tokenCalls; n != 1 {
		t.Errorf("token requests after the first run: %d, want still 1 (the stored token reused)", n)
	}
	e.org.ExpireTokens()
	r = e.run("accounts")
	mustSucceed(t, r)
	if n := e.org.Logged("POST /services/oauth2/token") - tokenCalls; n != 2 {
		t.Errorf("token requests after the session timed out: %d, want 2 (the JWT posted again)", n)
	}
}
