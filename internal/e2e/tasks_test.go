package e2e_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/google/go-cmp/cmp"
)

// Task constructors: the connectorOperator key is the source's, S3.

func op(o types.S3ConnectorOperator) *types.ConnectorOperator {
	return &types.ConnectorOperator{S3: o}
}

func projection(fields ...string) types.Task {
	return types.Task{TaskType: types.TaskTypeFilter, SourceFields: fields, ConnectorOperator: op(types.S3ConnectorOperatorProjection)}
}

func filter(o types.S3ConnectorOperator, field string, props map[string]string) types.Task {
	return types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{field}, ConnectorOperator: op(o), TaskProperties: props}
}

func mapTask(src, dst string, props map[string]string) types.Task {
	return types.Task{TaskType: types.TaskTypeMap, SourceFields: []string{src}, DestinationField: aws.String(dst),
		ConnectorOperator: op(types.S3ConnectorOperatorNoOp), TaskProperties: props}
}

// maps maps each field to itself.
func maps(fields ...string) []types.Task {
	var ts []types.Task
	for _, f := range fields {
		ts = append(ts, mapTask(f, f, map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}))
	}
	return ts
}

func mapAll(props map[string]string) types.Task {
	return types.Task{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: op(types.S3ConnectorOperatorNoOp), TaskProperties: props}
}

func task(typ types.TaskType, o types.S3ConnectorOperator, src []string, dst string, props map[string]string) types.Task {
	t := types.Task{TaskType: typ, SourceFields: src, ConnectorOperator: op(o), TaskProperties: props}
	if dst != "" {
		t.DestinationField = aws.String(dst)
	}
	return t
}

func tasks(groups ...any) []types.Task {
	var out []types.Task
	for _, g := range groups {
		switch g := g.(type) {
		case types.Task:
			out = append(out, g)
		case []types.Task:
			out = append(out, g...)
		default:
			panic(fmt.Sprintf("tasks: %T", g))
		}
	}
	return out
}

// people is the CSV most task cases read.
const people = "id,name,amount,qty,created,phone\n" +
	"1,Ann,10.50,3,2024-01-01T00:00:00Z,555-1234\n" +
	"2,Bob,-2,0,2024-02-01T00:00:00Z,555-9876\n" +
	"3,Cy,100,7,2024-03-01T00:00:00Z,\n" +
	"4,Di,20.25,5,2024-04-01T00:00:00Z,555-0000\n"

// ids is the JSON Lines output of Map tasks for id and name, for the given
// rows of people.
func ids(rows ...int) string {
	names := map[int]string{1: "Ann", 2: "Bob", 3: "Cy", 4: "Di"}
	var sb strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&sb, "{\"id\":\"%d\",\"name\":\"%s\"}\n", r, names[r])
	}
	return sb.String()
}

func dbl(o types.S3ConnectorOperator, v string) types.Task {
	return filter(o, "amount", map[string]string{"DATA_TYPE": "double", "VALUE": v})
}

// Epoch milliseconds of the people's created dates.
const (
	ms0115 = "1705276800000" // 2024-01-15T00:00:00Z
	ms0201 = "1706745600000" // 2024-02-01T00:00:00Z
	ms0301 = "1709251200000" // 2024-03-01T00:00:00Z
)

type taskCase struct {
	name  string
	input string // CSV, or JSON Lines when json
	json  bool
	tasks []types.Task
	// want is the single output file's content (JSON Lines), unless files
	// is set: the output keys under out/{flow}/{exec}/ and their contents.
	want  string
	files map[string]string
	// wantErr, when set, are substrings of the executionMessage of a run
	// that must end in Error, with no output.
	wantErr []string
	// records is recordsProcessed; -1 means the number of input lines - 1.
	records int64
}

func taskCases() []taskCase {
	idName := maps("id", "name")
	return []taskCase{
		{name: "projection-with-maps", tasks: tasks(projection("id", "name", "amount"), idName), want: ids(1, 2, 3, 4)},
		{name: "projection-with-map-all", tasks: tasks(projection("id", "amount"), mapAll(nil)),
			want: "{\"id\":\"1\",\"amount\":\"10.50\"}\n{\"id\":\"2\",\"amount\":\"-2\"}\n{\"id\":\"3\",\"amount\":\"100\"}\n{\"id\":\"4\",\"amount\":\"20.25\"}\n"},
		{name: "less-than", tasks: tasks(dbl(types.S3ConnectorOperatorLessThan, "20"), idName), want: ids(1, 2)},
		{name: "greater-than", tasks: tasks(dbl(types.S3ConnectorOperatorGreaterThan, "20"), idName), want: ids(3, 4)},
		{name: "less-than-or-equal", tasks: tasks(dbl(types.S3ConnectorOperatorLessThanOrEqualTo, "20.25"), idName), want: ids(1, 2, 4)},
		{name: "greater-than-or-equal", tasks: tasks(dbl(types.S3ConnectorOperatorGreaterThanOrEqualTo, "100"), idName), want: ids(3)},
		{name: "between-inclusive", tasks: tasks(filter(types.S3ConnectorOperatorBetween, "amount",
			map[string]string{"DATA_TYPE": "double", "LOWER_BOUND": "10.5", "UPPER_BOUND": "20.25"}), idName), want: ids(1, 4)},
		{name: "equal-to-values-or", tasks: tasks(filter(types.S3ConnectorOperatorEqualTo, "name",
			map[string]string{"DATA_TYPE": "string", "VALUES": "Ann,Cy"}), idName), want: ids(1, 3)},
		{name: "equal-to-number", tasks: tasks(dbl(types.S3ConnectorOperatorEqualTo, "10.5"), idName), want: ids(1)},
		{name: "not-equal-to", tasks: tasks(filter(types.S3ConnectorOperatorNotEqualTo, "name",
			map[string]string{"DATA_TYPE": "string", "VALUE": "Bob"}), idName), want: ids(1, 3, 4)},
		{name: "filters-and", tasks: tasks(dbl(types.S3ConnectorOperatorGreaterThan, "0"), filter(types.S3ConnectorOperatorNotEqualTo, "name",
			map[string]string{"DATA_TYPE": "string", "VALUE": "Cy"}), idName), want: ids(1, 4)},
		{name: "datetime-greater-than-epoch-ms", tasks: tasks(filter(types.S3ConnectorOperatorGreaterThan, "created",
			map[string]string{"DATA_TYPE": "datetime", "VALUE": ms0201}), idName), want: ids(3, 4)},
		{name: "datetime-between-epoch-ms", tasks: tasks(filter(types.S3ConnectorOperatorBetween, "created",
			map[string]string{"DATA_TYPE": "datetime", "LOWER_BOUND": ms0115, "UPPER_BOUND": ms0301}), idName), want: ids(2, 3)},
		{name: "datetime-less-than-epoch-ms", tasks: tasks(filter(types.S3ConnectorOperatorLessThan, "created",
			map[string]string{"DATA_TYPE": "datetime", "VALUE": ms0201}), idName), want: ids(1)},
		{name: "map-rename-and-type", tasks: tasks(
			mapTask("id", "Ident", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "integer"}),
			mapTask("amount", "Amt", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "double"}),
			mapTask("name", "Who", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"})),
			want: "{\"Ident\":1,\"Amt\":10.5,\"Who\":\"Ann\"}\n{\"Ident\":2,\"Amt\":-2,\"Who\":\"Bob\"}\n" +
				"{\"Ident\":3,\"Amt\":100,\"Who\":\"Cy\"}\n{\"Ident\":4,\"Amt\":20.25,\"Who\":\"Di\"}\n"},
		{name: "map-fan-out", tasks: tasks(mapTask("name", "a", nil), mapTask("name", "b", nil)),
			want: "{\"a\":\"Ann\",\"b\":\"Ann\"}\n{\"a\":\"Bob\",\"b\":\"Bob\"}\n{\"a\":\"Cy\",\"b\":\"Cy\"}\n{\"a\":\"Di\",\"b\":\"Di\"}\n"},
		{name: "map-all-exclude", tasks: tasks(mapAll(map[string]string{"EXCLUDE_SOURCE_FIELDS_LIST": `["created","phone","qty"]`})),
			want: "{\"id\":\"1\",\"name\":\"Ann\",\"amount\":\"10.50\"}\n{\"id\":\"2\",\"name\":\"Bob\",\"amount\":\"-2\"}\n" +
				"{\"id\":\"3\",\"name\":\"Cy\",\"amount\":\"100\"}\n{\"id\":\"4\",\"name\":\"Di\",\"amount\":\"20.25\"}\n"},
		{name: "map-all-empty-exclude", input: "a,b\nx,y\n", tasks: tasks(mapAll(map[string]string{"EXCLUDE_SOURCE_FIELDS_LIST": "[]"})),
			want: "{\"a\":\"x\",\"b\":\"y\"}\n"},
		{name: "mask", tasks: tasks(
			task(types.TaskTypeMask, types.S3ConnectorOperatorMaskAll, []string{"name"}, "", map[string]string{"MASK_VALUE": "*", "MASK_LENGTH": "5"}),
			task(types.TaskTypeMask, types.S3ConnectorOperatorMaskFirstN, []string{"phone"}, "", map[string]string{"MASK_VALUE": "#", "MASK_LENGTH": "3"}),
			task(types.TaskTypeMask, types.S3ConnectorOperatorMaskLastN, []string{"created"}, "", map[string]string{"MASK_VALUE": "*", "MASK_LENGTH": "10"}),
			maps("name", "phone", "created")),
			want: "{\"name\":\"***\",\"phone\":\"###-1234\",\"created\":\"2024-01-01**********\"}\n" +
				"{\"name\":\"***\",\"phone\":\"###-9876\",\"created\":\"2024-02-01**********\"}\n" +
				"{\"name\":\"**\",\"phone\":\"\",\"created\":\"2024-03-01**********\"}\n" +
				"{\"name\":\"**\",\"phone\":\"###-0000\",\"created\":\"2024-04-01**********\"}\n"},
		{name: "mask-longer-than-value", input: "code\nab\n", tasks: tasks(
			task(types.TaskTypeMask, types.S3ConnectorOperatorMaskLastN, []string{"code"}, "", map[string]string{"MASK_VALUE": "x", "MASK_LENGTH": "5"}),
			maps("code")), want: "{\"code\":\"xx\"}\n"},
		{name: "truncate", tasks: tasks(
			task(types.TaskTypeTruncate, types.S3ConnectorOperatorNoOp, []string{"phone"}, "", map[string]string{"TRUNCATE_LENGTH": "3"}),
			maps("phone")),
			want: "{\"phone\":\"555\"}\n{\"phone\":\"555\"}\n{\"phone\":\"\"}\n{\"phone\":\"555\"}\n"},
		{name: "merge-into-map", tasks: tasks(
			task(types.TaskTypeMerge, types.S3ConnectorOperatorNoOp, []string{"name", "id"}, "name,id", map[string]string{"CONCAT_FORMAT": "${name} (#${id})"}),
			mapTask("name,id", "label", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"})),
			want: "{\"label\":\"Ann (#1)\"}\n{\"label\":\"Bob (#2)\"}\n{\"label\":\"Cy (#3)\"}\n{\"label\":\"Di (#4)\"}\n"},
		{name: "arithmetic", input: "a,b\n10.50,3\n0.1,0.2\n-7,2.5\n", tasks: tasks(
			task(types.TaskTypeArithmetic, types.S3ConnectorOperatorAddition, []string{"a", "b"}, "a,b", map[string]string{"MATH_OPERATION_FIELDS_ORDER": "a,b"}),
			task(types.TaskTypeArithmetic, types.S3ConnectorOperatorSubtraction, []string{"b", "a"}, "b,a", map[string]string{"MATH_OPERATION_FIELDS_ORDER": "b,a"}),
			task(types.TaskTypeArithmetic, types.S3ConnectorOperatorMultiplication, []string{"a", "a"}, "a,a", map[string]string{"MATH_OPERATION_FIELDS_ORDER": "a,a"}),
			task(types.TaskTypeArithmetic, types.S3ConnectorOperatorDivision, []string{"a", "b"}, "a/b", map[string]string{"MATH_OPERATION_FIELDS_ORDER": "a,b"}),
			mapTask("a,b", "sum", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}),
			mapTask("b,a", "diff", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}),
			mapTask("a,a", "square", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}),
			mapTask("a/b", "ratio", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"})),
			want: "{\"sum\":\"13.50\",\"diff\":\"-7.50\",\"square\":\"110.2500\",\"ratio\":\"3.5\"}\n" +
				"{\"sum\":\"0.3\",\"diff\":\"0.1\",\"square\":\"0.01\",\"ratio\":\"0.5\"}\n" +
				"{\"sum\":\"-4.5\",\"diff\":\"9.5\",\"square\":\"49\",\"ratio\":\"-2.8\"}\n"},
		{name: "arithmetic-divide-by-zero", input: "a,b\n1,2\n3,0\n", tasks: tasks(
			task(types.TaskTypeArithmetic, types.S3ConnectorOperatorDivision, []string{"a", "b"}, "a,b", map[string]string{"MATH_OPERATION_FIELDS_ORDER": "a,b"}),
			mapTask("a,b", "q", nil)),
			wantErr: []string{"data.csv", "line 3"}},
		{name: "validate-drop-record", tasks: tasks(
			task(types.TaskTypeValidate, types.S3ConnectorOperatorValidateNonNull, []string{"phone"}, "", map[string]string{"VALIDATION_ACTION": "DropRecord"}),
			task(types.TaskTypeValidate, types.S3ConnectorOperatorValidateNonNegative, []string{"amount"}, "", map[string]string{"VALIDATION_ACTION": "DropRecord"}),
			idName), want: ids(1, 4)},
		{name: "validate-non-zero-numeric", input: "id,name,qty\n1,Ann,3\n2,Bob,0\n3,Cy,x\n4,Di,0.0\n5,Ed,-1\n", tasks: tasks(
			task(types.TaskTypeValidate, types.S3ConnectorOperatorValidateNonZero, []string{"qty"}, "", map[string]string{"VALIDATION_ACTION": "DropRecord"}),
			task(types.TaskTypeValidate, types.S3ConnectorOperatorValidateNumeric, []string{"qty"}, "", map[string]string{"VALIDATION_ACTION": "DropRecord"}),
			maps("id", "qty")), want: "{\"id\":\"1\",\"qty\":\"3\"}\n{\"id\":\"5\",\"qty\":\"-1\"}\n"},
		{name: "validate-terminate", tasks: tasks(
			task(types.TaskTypeValidate, types.S3ConnectorOperatorValidateNonNegative, []string{"amount"}, "", map[string]string{"VALIDATION_ACTION": "TerminateFlow"}),
			idName), wantErr: []string{"data.csv", "line 3"}},
		{name: "passthrough-json", json: true,
			input: "{\"id\":1,\"tags\":[\"a\",\"b\"],\"to_Item\":[{\"n\":1.5,\"ok\":true}],\"none\":null}\n{\"id\":2,\"tags\":[],\"to_Item\":[],\"none\":null}\n",
			tasks: tasks(types.Task{TaskType: types.TaskTypePassthrough, SourceFields: []string{}, ConnectorOperator: op(types.S3ConnectorOperatorNoOp)}),
			want:  "{\"id\":1,\"tags\":[\"a\",\"b\"],\"to_Item\":[{\"n\":1.5,\"ok\":true}],\"none\":null}\n{\"id\":2,\"tags\":[],\"to_Item\":[],\"none\":null}\n"},
		{name: "partition", input: "id,region\n1,eu\n2,us\n3,eu\n4,\n", tasks: tasks(mapAll(nil),
			task(types.TaskTypePartition, types.S3ConnectorOperatorNoOp, []string{"region"}, "", map[string]string{"ORDERED_PARTITION_KEYS_LIST": `["region"]`})),
			files: map[string]string{
				"region=eu/part-00001-{exec}":   "{\"id\":\"1\",\"region\":\"eu\"}\n{\"id\":\"3\",\"region\":\"eu\"}\n",
				"region=us/part-00002-{exec}":   "{\"id\":\"2\",\"region\":\"us\"}\n",
				"region=null/part-00003-{exec}": "{\"id\":\"4\",\"region\":\"\"}\n",
			}},
	}
}

// TestTasks runs every task type through a flow per case, on every backend,
// and compares the output object byte for byte.
func TestTasks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, c := range taskCases() {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				if c.input == "" {
					c.input = people
				}
				key, in := "c-"+c.name+"/data.csv", types.S3InputFileTypeCsv
				if c.json {
					key, in = "c-"+c.name+"/data.jsonl", types.S3InputFileTypeJson
				}
				e.put(map[string]string{key: c.input})
				flow := "f-" + c.name
				id, r := e.run(flowSpec{name: flow, srcPrefix: "c-" + c.name, inType: in, dstPrefix: "out", tasks: c.tasks})
				got := e.outputUnder(id, "out/"+flow+"/")
				if c.wantErr != nil {
					if r.ExecutionStatus != types.ExecutionStatusError {
						t.Fatalf("status %s, want Error", r.ExecutionStatus)
					}
					msg := execMessage(r)
					for _, s := range c.wantErr {
						if !strings.Contains(msg, s) {
							t.Errorf("executionMessage %q does not contain %q", msg, s)
						}
					}
					if len(got) != 0 {
						t.Errorf("a failed run left output: %v", keys(got))
					}
					return
				}
				mustSucceed(t, r)
				want := c.files
				if want == nil {
					want = map[string]string{"part-00001-{exec}": c.want}
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("output (-want +got):\n%s", d)
				}
				checkCounts(t, r, int64(strings.Count(strings.TrimSuffix(c.input, "\n"), "\n")+boolInt(c.json)), int64(len(c.input)), got)
			})
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkCounts compares an execution record's counters.
func checkCounts(t *testing.T, r *types.ExecutionRecord, records, bytesIn int64, out map[string]string) {
	t.Helper()
	var written int64
	for _, v := range out {
		written += int64(len(v))
	}
	res := r.ExecutionResult
	if res == nil {
		t.Fatal("no executionResult")
	}
	got := [3]int64{aws.ToInt64(res.RecordsProcessed), aws.ToInt64(res.BytesProcessed), aws.ToInt64(res.BytesWritten)}
	want := [3]int64{records, bytesIn, written}
	if got != want {
		t.Errorf("recordsProcessed, bytesProcessed, bytesWritten = %v, want %v", got, want)
	}
}
