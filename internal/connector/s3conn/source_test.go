package s3conn

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// parse runs a reader over data and returns fields and rows as text
// (Missing as "<missing>", Null as "<null>", other kinds prefixed).
func parse(t testing.TB, format, data string) ([]string, [][]string, error) {
	t.Helper()
	src := &objectReader{r: strings.NewReader(data), key: "dir/obj"}
	var fields []string
	var rows [][]string
	finals := 0
	emit := func(b *record.Batch) error {
		if finals > 0 {
			t.Fatal("batch after Final")
		}
		if b.Final {
			finals++
		}
		fields = b.Fields
		for i := range b.Len() {
			var r []string
			for _, v := range b.Row(i) {
				r = append(r, show(v))
			}
			rows = append(rows, r)
		}
		return nil
	}
	var err error
	if format == "CSV" {
		err = readCSV(context.Background(), src, nil, emit)
	} else {
		err = readJSONLines(context.Background(), src, nil, emit)
	}
	if err == nil && finals != 1 {
		t.Fatalf("%d Final batches", finals)
	}
	return fields, rows, err
}

func show(v record.Value) string {
	switch v.K {
	case record.Missing:
		return "<missing>"
	case record.Null:
		return "<null>"
	case record.String:
		return v.S
	}
	return v.K.String() + ":" + v.Text()
}

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		fields []string
		rows   [][]string
	}{
		{"plain", "a,b\n1,2\n3,4\n", []string{"a", "b"}, [][]string{{"1", "2"}, {"3", "4"}}},
		{"no trailing newline", "a,b\n1,2", []string{"a", "b"}, [][]string{{"1", "2"}}},
		{"CRLF", "a,b\r\n1,2\r\n", []string{"a", "b"}, [][]string{{"1", "2"}}},
		{"BOM", "\xEF\xBB\xBFa,b\n1,2\n", []string{"a", "b"}, [][]string{{"1", "2"}}},
		{"empty cells", "a,b,c\n,,\n1,,\n", []string{"a", "b", "c"}, [][]string{{"", "", ""}, {"1", "", ""}}},
		{"blank lines skipped", "\na,b\n\n1,2\r\n\n", []string{"a", "b"}, [][]string{{"1", "2"}}},
		{"quoted comma", "a,b\n\"x,y\",2\n", []string{"a", "b"}, [][]string{{"x,y", "2"}}},
		{"doubled quote", "a,b\n\"say \"\"hi\"\"\",2\n", []string{"a", "b"}, [][]string{{`say "hi"`, "2"}}},
		{"quoted newline", "a,b\n\"l1\nl2\",2\n3,4\n", []string{"a", "b"}, [][]string{{"l1\nl2", "2"}, {"3", "4"}}},
		{"quoted CRLF kept", "a,b\r\n\"l1\r\nl2\",2\r\n", []string{"a", "b"}, [][]string{{"l1\r\nl2", "2"}}},
		{"quoted empty", "a,b\n\"\",\"\"\n", []string{"a", "b"}, [][]string{{"", ""}}},
		{"quoted header", "\"a,1\",b\n1,2\n", []string{"a,1", "b"}, [][]string{{"1", "2"}}},
		{"quoted last field at EOF", "a,b\n1,\"2\"", []string{"a", "b"}, [][]string{{"1", "2"}}},
		{"header only", "a,b\n", []string{"a", "b"}, nil},
		{"empty object", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, rows, err := parse(t, "CSV", tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fields, tt.fields) || !reflect.DeepEqual(rows, tt.rows) {
				t.Errorf("got %q %q, want %q %q", fields, rows, tt.fields, tt.rows)
			}
		})
	}
}

func TestReadCSVErrorsNameObjectAndLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line string
	}{
		{"ragged short", "a,b\n1,2\n3\n", "dir/obj line 3: row has 1 fields, the header has 2"},
		{"ragged long", "a,b\n1,2,3\n", "dir/obj line 2: row has 3 fields"},
		{"ragged after quoted newline", "a,b\n\"x\ny\",2\n3\n", "dir/obj line 4:"},
		{"bare quote", "a,b\n1,x\"y\n", "dir/obj line 2: bare quote"},
		{"text after closing quote", "a,b\n\"x\"y,2\n", "dir/obj line 2: unexpected character after a closing quote"},
		{"unterminated quote", "a,b\n1,2\n\"open,3\n4,5\n", "dir/obj line 3: quoted field is not terminated"},
		{"duplicate header", "a,a\n1,2\n", "dir/obj line 1: header repeats"},
		{"invalid UTF-8 in a row", "a,b\n1,2\n3,caf\xe9\n", "dir/obj line 3: byte 0xE9 at column 6 is not UTF-8"},
		{"invalid UTF-8 in the header", "a,\xff\n1,2\n", "dir/obj line 1: byte 0xFF at column 3 is not UTF-8"},
		{"invalid UTF-8 in a quoted field's second line", "a,b\n\"x\ny\x80\",2\n", "dir/obj line 3: byte 0x80 at column 2 is not UTF-8"},
		{"a truncated rune", "a\n\xe2\x82\n", "dir/obj line 2: byte 0xE2 at column 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parse(t, "CSV", tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.line) {
				t.Fatalf("error %v, want it to contain %q", err, tt.line)
			}
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("code %v, want Invalid", fault.CodeOf(err))
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Object != "dir/obj" {
				t.Errorf("error %v carries no ParseError for dir/obj", err)
			}
		})
	}
}

// A CSV spanning many buffer fills, with quoted newlines straddling the
// fill boundaries, parses the same as encoding/csv does.
func TestReadCSVLargeAgainstEncodingCSV(t *testing.T) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"id", "text", "n"})
	for i := range 60000 {
		text := strings.Repeat("x", i%50)
		if i%7 == 0 {
			text = "multi\nline, \"quoted\" " + text
		}
		_ = w.Write([]string{string(rune('a' + i%26)), text, strings.Repeat("9", i%13)})
	}
	w.Flush()
	want, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	fields, rows, err := parse(t, "CSV", buf.String())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fields, want[0]) || !reflect.DeepEqual(rows, want[1:]) {
		t.Fatalf("differs from encoding/csv (%d rows vs %d)", len(rows), len(want)-1)
	}
}

func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "a,b\n\"x,\"\"y\"\"\",2\n", "a\n\n1\n", "a,b\n1,\"2\n3\"\n", "a,b\n1\n", "x\"y\n", "a,b\n\"1\"x,2\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fields, rows, err := parse(t, "CSV", in)
		if !utf8.ValidString(in) && err == nil {
			t.Fatalf("%q is not UTF-8, we accept it", in)
		}
		// encoding/csv drops CR before LF even in quoted fields and knows
		// no BOM; compare only where the two agree on the rules.
		if strings.ContainsRune(in, '\r') || strings.HasPrefix(in, "\xEF\xBB\xBF") || !utf8.ValidString(in) {
			return
		}
		want, werr := csv.NewReader(strings.NewReader(in)).ReadAll()
		if werr != nil {
			if err == nil {
				t.Fatalf("encoding/csv rejects %q (%v), we accept it", in, werr)
			}
			return
		}
		if err != nil {
			if strings.Contains(err.Error(), "header repeats") {
				return
			}
			t.Fatalf("we reject %q (%v), encoding/csv accepts it", in, err)
		}
		if len(want) == 0 {
			if fields != nil || rows != nil {
				t.Fatalf("%q: got %q %q, want nothing", in, fields, rows)
			}
			return
		}
		if !reflect.DeepEqual(fields, want[0]) || (len(want) > 1 && !reflect.DeepEqual(rows, want[1:])) || (len(want) == 1 && len(rows) != 0) {
			t.Fatalf("%q: got %q %q, want %q", in, fields, rows, want)
		}
	})
}

func TestReadJSONLines(t *testing.T) {
	in := `{"id":1,"name":"a","amount":12.50,"big":12345678901234567890,"ok":true,"n":null,"nested":{"x":[1,2]},"arr":[ "a" ],"exp":1e3}` + "\n" +
		"\n" +
		`{"name":"b\"\u00e9\ud83d\ude00\n","extra":-0,"id":-7}` + "\r\n" +
		`  { }  `
	fields, rows, err := parse(t, "JSON", in)
	if err != nil {
		t.Fatal(err)
	}
	wantFields := []string{"id", "name", "amount", "big", "ok", "n", "nested", "arr", "exp", "extra"}
	want := [][]string{
		{"int:1", "a", "decimal:12.50", "decimal:12345678901234567890", "bool:true", "<null>", `json:{"x":[1,2]}`, `json:[ "a" ]`, "decimal:1e3", "<missing>"},
		{"int:-7", "b\"é😀\n", "<missing>", "<missing>", "<missing>", "<missing>", "<missing>", "<missing>", "<missing>", "int:0"},
		{"<missing>", "<missing>", "<missing>", "<missing>", "<missing>", "<missing>", "<missing>", "<missing>", "<missing>", "<missing>"},
	}
	if !reflect.DeepEqual(fields, wantFields) {
		t.Errorf("fields %q, want %q", fields, wantFields)
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n got %q\nwant %q", rows, want)
	}
}

// Keys that first appear late widen the batch; earlier rows read Missing.
func TestReadJSONLinesWidensAcrossBatches(t *testing.T) {
	var sb strings.Builder
	for i := range 10000 {
		if i == 5000 {
			sb.WriteString(`{"a":1,"late":"x"}` + "\n")
			continue
		}
		sb.WriteString(`{"a":1}` + "\n")
	}
	src := &objectReader{r: strings.NewReader(sb.String()), key: "k"}
	var total, lates int
	err := readJSONLines(context.Background(), src, nil, func(b *record.Batch) error {
		for i := range b.Len() {
			total++
			if c := b.Index("late"); c >= 0 && b.Row(i)[c].K == record.String {
				lates++
			}
			if b.Row(i)[0].K != record.Int {
				t.Fatalf("row %d: a is %v", total, b.Row(i)[0])
			}
		}
		return nil
	})
	if err != nil || total != 10000 || lates != 1 {
		t.Fatalf("err %v, %d rows, %d with late; want 10000 and 1", err, total, lates)
	}
}

func TestReadJSONLinesErrorsNameObjectAndLine(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"{\"a\":1}\n{\"a\":tru}\n", "dir/obj line 2: column 6: invalid character"},
		{"{\"a\":1}\n\n[1,2]\n", "dir/obj line 3: column 1: want a JSON object"},
		{"{\"a\":01}\n", "dir/obj line 1:"},
		{"{\"a\":1} x\n", "dir/obj line 1: column 9: unexpected text after the object"},
		{"{\"a\":\"open}\n", "dir/obj line 1:"},
		{"{\"a\":{\"b\":}}\n", "dir/obj line 1:"},
		{"{\"a\":1,}\n", "dir/obj line 1:"},
		{"{\"a\":\"\\q\"}\n", "dir/obj line 1:"},
		{"{\"a\":1}\n{\"a\":\"caf\xe9\"}\n", "dir/obj line 2: byte 0xE9 at column 10 is not UTF-8"},
		// Bad UTF-8 is named before a syntax error earlier in the line, in a
		// key, a nested value or after the object.
		{"{\"a\":1}\n{\"a\":tru, \"b\":\"\xff\"}\n", "dir/obj line 2: byte 0xFF at column 16 is not UTF-8"},
		{"{\"k\xc3\":1}\n", "dir/obj line 1: byte 0xC3 at column 4 is not UTF-8"},
		{"{\"a\":{\"b\":[\"\\n\xe9\"]}}\n", "dir/obj line 1: byte 0xE9 at column 15 is not UTF-8"},
		{"{\"a\":1} \xe9\n", "dir/obj line 1: byte 0xE9 at column 9 is not UTF-8"},
		{"{\"a\":\"\xe9\xe9\"}\n", "dir/obj line 1: byte 0xE9 at column 7 is not UTF-8"},
	} {
		_, _, err := parse(t, "JSON", tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func FuzzReadJSONLines(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":"\u00e9","b":[1,{"c":null}]}`, `{"a":1.5e-3,"b":true}`, "{}\n{\"x\":-0}", `{"a":"\ud800"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		_, rows, err := parse(t, "JSON", in)
		// Agree with encoding/json on which lines are objects.
		valid := true
		n := 0
		keys := false
		for _, line := range strings.Split(in, "\n") {
			if isBlank(line) {
				continue
			}
			n++
			var m map[string]json.RawMessage
			if json.Unmarshal([]byte(line), &m) != nil || m == nil {
				valid = false
			}
			keys = keys || len(m) > 0
		}
		if !utf8.ValidString(in) {
			if err == nil {
				t.Fatalf("%q is not UTF-8, we accept it", in)
			}
			// The first line that is bad JSON or not UTF-8 fails; when
			// it is not UTF-8, that is the error, wherever the byte is.
			for i, line := range strings.Split(in, "\n") {
				if isBlank(line) {
					continue
				}
				if utf8.ValidString(line) {
					var m map[string]json.RawMessage
					if json.Unmarshal([]byte(line), &m) == nil && m != nil {
						continue
					}
					break
				}
				if want := checkUTF8("dir/obj", int64(i+1), line); err.Error() != want.Error() {
					t.Fatalf("%q: error %v, want %v", in, err, want)
				}
				break
			}
			return // encoding/json replaces invalid UTF-8; we refuse it
		}
		if valid && err != nil {
			t.Fatalf("%q: encoding/json accepts it, we fail: %v", in, err)
		}
		if !valid && err == nil {
			t.Fatalf("%q: encoding/json rejects it, we accept it", in)
		}
		// A record.Batch cannot hold rows without fields, so an object
		// holding only {} lines yields no rows.
		if valid && !keys {
			n = 0
		}
		if valid && len(rows) != n {
			t.Fatalf("%q: %d rows, want %d", in, len(rows), n)
		}
	})
}

func TestSplitsSkipsFoldersAndStaging(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	e.put(t, bucket, "in/a.csv", []byte("x\n1\n"))
	e.put(t, bucket, "in/sub/b.csv", []byte("x\n2\n"))
	e.put(t, bucket, "in/empty", nil)
	e.put(t, bucket, "in/.appflowd-staging/run/000001", []byte("x\n3\n"))
	e.put(t, bucket, "other/c.csv", []byte("x\n4\n"))
	if err := os.MkdirAll(filepath.Join(e.deps.DataDir, "s3", bucket, "in", "folder"), 0o777); err != nil {
		t.Fatal(err)
	}
	splits, err := e.drv.Splits(context.Background(), sourceRequest(bucket, "in/", "CSV"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range splits {
		got = append(got, s.Name)
	}
	if want := []string{"in/a.csv", "in/sub/b.csv"}; !reflect.DeepEqual(got, want) {
		t.Errorf("splits %q, want %q", got, want)
	}
	// The prefix is a key prefix, so an object named exactly like it is read.
	splits, err = e.drv.Splits(context.Background(), sourceRequest(bucket, "in/a.csv", "CSV"))
	if err != nil || len(splits) != 1 || splits[0].Size != 4 {
		t.Errorf("prefix equal to a key: %v, %+v", err, splits)
	}
}

func TestSplitsIncrementalWindow(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	base := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"old", "start", "inside", "end"} {
		e.put(t, bucket, "in/"+name, []byte("x\n1\n"))
		mt := base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(filepath.Join(e.deps.DataDir, "s3", bucket, "in", name), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	req := sourceRequest(bucket, "in/", "CSV")
	for _, field := range []string{"", "LastModified"} {
		req.Window = &connector.Window{Field: field, Start: base.Add(time.Hour), End: base.Add(3 * time.Hour)}
		splits, err := e.drv.Splits(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range splits {
			got = append(got, s.Name)
		}
		if want := []string{"in/inside", "in/start"}; !reflect.DeepEqual(got, want) {
			t.Errorf("window field %q: splits %q, want %q ([Start, End) by modification time)", field, got, want)
		}
	}
	req.Window = &connector.Window{Field: "created_at", Start: base, End: base.Add(time.Hour)}
	if _, err := e.drv.Splits(context.Background(), req); !fault.Is(err, fault.Invalid) {
		t.Errorf("window on a record field: %v, want Invalid", err)
	}
}

func TestMissingBucketIsNamed(t *testing.T) {
	for _, mk := range []func(testing.TB) *env{localEnv, motoEnv} {
		e := mk(t)
		ctx := context.Background()
		_, err := e.drv.Splits(ctx, sourceRequest("no-such-bucket", "", "CSV"))
		if !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), `"no-such-bucket"`) {
			t.Errorf("%s source: %v, want NotFound naming the bucket", e.name, err)
		}
		_, err = e.drv.OpenWriter(ctx, &connector.WriteRequest{FlowName: "f", ExecutionID: "e",
			Properties: destProperties("no-such-bucket", "", nil)})
		if !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), `"no-such-bucket"`) {
			t.Errorf("%s destination: %v, want NotFound naming the bucket", e.name, err)
		}
	}
}

func TestRegistered(t *testing.T) {
	s, ok := connector.Default().Lookup("S3")
	if !ok || s.Open == nil {
		t.Fatal("S3 is not registered with an opener")
	}
	if !s.CanUseAsSource || !s.CanUseAsDestination || s.NeedsProfile {
		t.Errorf("capabilities %+v", s.Capabilities)
	}
	// The driver's own facts; operators and destinations are the
	// catalog's (internal/connector/catalog checks them against the model).
	if !s.RecyclesBatches || !s.WindowByModifiedTime || !slices.Contains(s.TriggerTypes, "Event") {
		t.Errorf("capabilities %+v: want RecyclesBatches, WindowByModifiedTime and the Event trigger", s.Capabilities)
	}
	c, err := connector.Default().Open(context.Background(), "S3", connector.Deps{DataDir: t.TempDir()}, connector.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Source(); err != nil {
		t.Error(err)
	}
	if _, err := c.Destination(); err != nil {
		t.Error(err)
	}
}
