package e2e_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/google/go-cmp/cmp"
)

// TestSources reads CSV with quoting, CRLF and a BOM, and JSON Lines from
// several objects with folder markers and sub-folders.
func TestSources(t *testing.T) {
	cases := []struct {
		name    string
		in      types.S3InputFileType
		objects map[string]string
		tasks   []types.Task
		want    string // the output lines, sorted (several objects are read concurrently)
		records int64
	}{
		{name: "csv-quoting-bom-crlf", in: types.S3InputFileTypeCsv,
			objects: map[string]string{"a.csv": "\xEF\xBB\xBFid,text\r\n1,\"multi\r\nline\"\r\n2,\"q\"\"x\"\r\n3,\"a,b\"\r\n4,\r\n"},
			tasks:   maps("id", "text"),
			want:    "{\"id\":\"1\",\"text\":\"multi\\r\\nline\"}\n{\"id\":\"2\",\"text\":\"q\\\"x\"}\n{\"id\":\"3\",\"text\":\"a,b\"}\n{\"id\":\"4\",\"text\":\"\"}\n",
			records: 4},
		{name: "csv-several-objects-and-folders", in: types.S3InputFileTypeCsv,
			objects: map[string]string{"a.csv": "id\n1\n2\n", "sub/": "", "sub/b.csv": "id\n3\n", "empty/": "", "sub/deeper/c.csv": "id\n4\n"},
			tasks:   tasks(mapAll(nil)),
			want:    "{\"id\":\"1\"}\n{\"id\":\"2\"}\n{\"id\":\"3\"}\n{\"id\":\"4\"}\n",
			records: 4},
		{name: "json-lines", in: types.S3InputFileTypeJson,
			objects: map[string]string{"a.jsonl": "{\"id\":1,\"name\":\"Ann\",\"score\":1.25,\"vip\":true}\n{\"id\":2,\"name\":\"Bob\",\"score\":null,\"vip\":false}\n",
				"sub/": "", "sub/b.jsonl": "{\"id\":3,\"name\":\"Cy\",\"score\":-4,\"vip\":false}\n"},
			tasks: tasks(mapAll(nil)),
			want: "{\"id\":1,\"name\":\"Ann\",\"score\":1.25,\"vip\":true}\n{\"id\":2,\"name\":\"Bob\",\"score\":null,\"vip\":false}\n" +
				"{\"id\":3,\"name\":\"Cy\",\"score\":-4,\"vip\":false}\n",
			records: 3},
		{name: "json-lines-filter-numeric", in: types.S3InputFileTypeJson,
			objects: map[string]string{"a.jsonl": "{\"id\":1,\"score\":1.25}\n{\"id\":2,\"score\":10}\n\n{\"id\":3,\"score\":9.5}\n"},
			tasks:   tasks(filter(types.S3ConnectorOperatorGreaterThan, "score", map[string]string{"DATA_TYPE": "double", "VALUE": "2"}), mapTask("id", "id", nil)),
			want:    "{\"id\":2}\n{\"id\":3}\n",
			records: 3},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				var inBytes int64
				for k, v := range c.objects {
					e.be.Put(t, e.src, c.name+"/"+k, []byte(v))
					inBytes += int64(len(v))
				}
				id, r := e.run(flowSpec{name: c.name, srcPrefix: c.name, inType: c.in, tasks: c.tasks,
					out: &types.S3OutputFormatConfig{FileType: types.FileTypeJson,
						AggregationConfig: &types.AggregationConfig{AggregationType: types.AggregationTypeSingleFile}}})
				mustSucceed(t, r)
				got := e.outputUnder(id, "out/"+c.name+"/")
				if len(got) != 1 {
					t.Fatalf("output keys %v, want one file", keys(got))
				}
				if d := cmp.Diff(sortedLines(c.want), sortedLines(got["part-00001-{exec}"])); d != "" {
					t.Errorf("output lines (-want +got):\n%s", d)
				}
				checkCounts(t, r, c.records, inBytes, got)
			})
		}
	})
}

// execMessageRe is the model's ExecutionMessage pattern.
var execMessageRe = regexp.MustCompile(`^[\s\w/!@#+=.-]*$`)

// TestMalformedInput: a malformed object fails the run, naming the object
// and the line, and leaves no output; DescribeFlow reports the failure.
func TestMalformedInput(t *testing.T) {
	cases := []struct {
		name    string
		in      types.S3InputFileType
		objects map[string]string
		want    []string // in the executionMessage
	}{
		{"ragged-csv", types.S3InputFileTypeCsv, map[string]string{"ok.csv": "a,b\n1,2\n", "bad.csv": "a,b\n1,2\n3,4\n5\n6,7\n"},
			[]string{"ragged-csv/bad.csv", "line 4"}},
		{"too-many-cells", types.S3InputFileTypeCsv, map[string]string{"bad.csv": "a,b\n1,2,3\n"}, []string{"too-many-cells/bad.csv", "line 2"}},
		{"bad-quote", types.S3InputFileTypeCsv, map[string]string{"bad.csv": "a,b\n1,\"x\"y\n"}, []string{"bad-quote/bad.csv", "line 2"}},
		{"bad-json-line", types.S3InputFileTypeJson, map[string]string{"bad.jsonl": "{\"a\":1}\n{\"a\":2}\n{\"a\":\n{\"a\":4}\n"},
			[]string{"bad-json-line/bad.jsonl", "line 3"}},
		{"json-not-object", types.S3InputFileTypeJson, map[string]string{"bad.jsonl": "{\"a\":1}\n[1,2]\n"}, []string{"json-not-object/bad.jsonl", "line 2"}},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				for k, v := range c.objects {
					e.be.Put(t, e.src, c.name+"/"+k, []byte(v))
				}
				id, r := e.run(flowSpec{name: c.name, srcPrefix: c.name, inType: c.in, tasks: tasks(mapAll(nil))})
				if r.ExecutionStatus != types.ExecutionStatusError {
					t.Fatalf("status %s, want Error", r.ExecutionStatus)
				}
				msg := execMessage(r)
				t.Logf("executionMessage: %s", msg)
				if !execMessageRe.MatchString(msg) || len(msg) > 2048 {
					t.Errorf("executionMessage %q is not within the model's pattern [\\s\\w/!@#+=.-]{0,2048}", msg)
				}
				for _, s := range c.want {
					if !strings.Contains(msg, s) {
						t.Errorf("executionMessage %q does not name %q", msg, s)
					}
				}
				if got := e.outputUnder(id, "out/"+c.name+"/"); len(got) != 0 {
					t.Errorf("a failed run left output: %v", keys(got))
				}
				d, err := e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: aws.String(c.name)})
				if err != nil {
					t.Fatal(err)
				}
				last := d.LastRunExecutionDetails
				if last == nil || last.MostRecentExecutionStatus != types.ExecutionStatusError || aws.ToString(last.MostRecentExecutionMessage) != msg ||
					last.MostRecentExecutionTime == nil {
					t.Errorf("lastRunExecutionDetails %+v, want Error with message %q and a time", last, msg)
				}
			})
		}
	})
}

// TestExecutionDetails: DescribeFlow's lastRunExecutionDetails and the
// execution record's times follow the latest run.
func TestExecutionDetails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.put(map[string]string{"in/a.csv": "id\n1\n"})
		id, r := e.run(flowSpec{name: "details", tasks: maps("id")})
		mustSucceed(t, r)
		if r.StartedAt == nil || r.LastUpdatedAt == nil || r.LastUpdatedAt.Before(*r.StartedAt) {
			t.Errorf("startedAt %v lastUpdatedAt %v, want both, in order", r.StartedAt, r.LastUpdatedAt)
		}
		if r.StartedAt != nil && (r.StartedAt.Before(runAt) || r.StartedAt.After(runAt.Add(time.Minute))) {
			t.Errorf("startedAt %v, want the server clock's %v", r.StartedAt, runAt)
		}
		d, err := e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: aws.String("details")})
		if err != nil {
			t.Fatal(err)
		}
		last := d.LastRunExecutionDetails
		if last == nil || last.MostRecentExecutionStatus != types.ExecutionStatusSuccessful || last.MostRecentExecutionTime == nil {
			t.Fatalf("lastRunExecutionDetails %+v, want Successful with a time", last)
		}
		// A second run, made to fail, takes over.
		e.put(map[string]string{"in/b.csv": "id\n1,2\n"})
		id2 := e.start("details")
		r2 := e.wait("details", id2)
		if r2.ExecutionStatus != types.ExecutionStatusError || id2 == id {
			t.Fatalf("second run %s: %s, want Error", id2, r2.ExecutionStatus)
		}
		d, err = e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: aws.String("details")})
		if err != nil {
			t.Fatal(err)
		}
		if last := d.LastRunExecutionDetails; last == nil || last.MostRecentExecutionStatus != types.ExecutionStatusError ||
			!strings.Contains(aws.ToString(last.MostRecentExecutionMessage), "in/b.csv") {
			t.Errorf("lastRunExecutionDetails %+v, want Error naming in/b.csv", last)
		}
		// Records are listed newest first.
		out, err := e.client.DescribeFlowExecutionRecords(e.ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("details")})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range out.FlowExecutions {
			got = append(got, aws.ToString(x.ExecutionId))
		}
		if d := cmp.Diff([]string{id2, id}, got); d != "" {
			t.Errorf("execution records (-want +got):\n%s", d)
		}
	})
}
