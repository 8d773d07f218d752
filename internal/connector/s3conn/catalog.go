package s3conn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// The catalog (control-plane 8, inferred for S3): the top level lists the
// buckets (group "Buckets"); the path "bucket" or "bucket/folder" lists the
// folders one level down as "bucket/folder" (group "Folders", nested).
// DescribeEntity("bucket/folder") reads the first object under the folder:
// the CSV header or the JSON keys of up to describeRows rows, with types
// inferred from the values seen.

const describeRows = 100

// ListEntities lists buckets (path "") or the folders under path.
func (d *Driver) ListEntities(ctx context.Context, p string) (map[string][]connector.Entity, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		names, err := d.buckets(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]connector.Entity, len(names))
		for i, n := range names {
			out[i] = connector.Entity{Name: n, Label: n, HasNestedEntities: true}
		}
		return map[string][]connector.Entity{"Buckets": out}, nil
	}
	bucket, prefix, _ := strings.Cut(p, "/")
	b, err := d.openBucket(ctx, bucket)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if err := d.checkLocal(bucket, prefix); err != nil {
		return nil, err
	}
	if prefix != "" {
		prefix += "/"
	}
	var out []connector.Entity
	for obj, err := range awsconfig.List(ctx, b, &blob.ListOptions{Prefix: prefix, Delimiter: "/"}) {
		if err != nil {
			return nil, classify(err, "list s3://%s/%s", bucket, prefix)
		}
		if !obj.IsDir {
			continue
		}
		key := strings.TrimSuffix(obj.Key, "/")
		if path.Base(key) == stagingDir {
			continue
		}
		out = append(out, connector.Entity{Name: bucket + "/" + key, Label: path.Base(key), HasNestedEntities: true})
	}
	return map[string][]connector.Entity{"Folders": out}, nil
}

// buckets lists local bucket folders, or the S3 API's ListBuckets.
func (d *Driver) buckets(ctx context.Context) ([]string, error) {
	var names []string
	if d.client == nil {
		ents, err := os.ReadDir(d.localDir(""))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				names = append(names, e.Name())
			}
		}
		return names, nil
	}
	out, err := d.client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return nil, err
	}
	for _, b := range out.Buckets {
		if b.Name != nil {
			names = append(names, *b.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

var errEnough = errors.New("enough rows")

// DescribeEntity infers the fields of "bucket/prefix" from its first object.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	bucket, prefix, _ := strings.Cut(strings.Trim(name, "/"), "/")
	b, err := d.openBucket(ctx, bucket)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if err := d.checkLocal(bucket, prefix); err != nil {
		return nil, err
	}
	var key string
	for obj, err := range awsconfig.List(ctx, b, &blob.ListOptions{Prefix: prefix}) {
		if err != nil {
			return nil, classify(err, "list s3://%s/%s", bucket, prefix)
		}
		if err := checkListed(bucket, obj); err != nil {
			return nil, err
		}
		if obj.IsDir || obj.Size == 0 || strings.HasSuffix(obj.Key, "/") || isStagingKey(obj.Key) {
			continue
		}
		key = obj.Key
		break
	}
	if key == "" {
		return nil, fault.New(fault.NotFound, "no object under s3://%s/%s to describe", bucket, prefix)
	}
	if err := d.checkLocal(bucket, key); err != nil {
		return nil, err
	}
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, classify(err, "open s3://%s/%s", bucket, key)
	}
	defer r.Close()
	br := bufio.NewReader(io.LimitReader(r, 1<<20))
	src := &objectReader{ctx: ctx, r: br, bucket: bucket, key: key}
	var fields []string
	var cols []colGuess
	rows := 0
	collect := func(bt *record.Batch) error {
		fields = bt.Fields
		for len(cols) < len(fields) {
			cols = append(cols, colGuess{})
		}
		for i := range bt.Len() {
			for j, v := range bt.Row(i) {
				cols[j].see(v)
			}
			if rows++; rows >= describeRows {
				return errEnough
			}
		}
		return nil
	}
	if isJSONObject(key, br) {
		err = readJSONLines(ctx, src, nil, collect)
	} else {
		err = readCSV(ctx, src, nil, collect)
	}
	// The 1 MiB cut may split the last line; what came before it stands.
	if err != nil && !errors.Is(err, errEnough) && rows == 0 {
		return nil, err
	}
	out := make([]connector.EntityField, len(fields))
	for i, f := range fields {
		t := cols[i].typ()
		out[i] = connector.EntityField{
			Name: f, Label: f, Type: t, Nullable: true,
			FilterOperators: operatorsFor(t),
			Queryable:       true, Creatable: true, Updatable: true, Upsertable: true,
		}
	}
	return out, nil
}

// isJSONObject picks the reader by the key's extension, else by the first
// byte (JSON Lines start with '{').
func isJSONObject(key string, r *bufio.Reader) bool {
	switch strings.ToLower(path.Ext(key)) {
	case ".json", ".jsonl", ".ndjson":
		return true
	case ".csv", ".txt", ".tsv":
		return false
	}
	head, _ := r.Peek(512)
	head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF")), " \t\r\n")
	return len(head) > 0 && head[0] == '{'
}

func operatorsFor(t record.FieldType) []string {
	switch t {
	case "integer", "double", "datetime":
		return []string{"PROJECTION", "LESS_THAN", "GREATER_THAN", "BETWEEN", "LESS_THAN_OR_EQUAL_TO",
			"GREATER_THAN_OR_EQUAL_TO", "EQUAL_TO", "NOT_EQUAL_TO", "NO_OP"}
	}
	return []string{"PROJECTION", "EQUAL_TO", "NOT_EQUAL_TO", "NO_OP"}
}

// colGuess narrows a column's type as values come in.
type colGuess struct {
	seen                             bool
	notInt, notNum, notBool, notTime bool
}

func (g *colGuess) see(v record.Value) {
	switch v.K {
	case record.Missing, record.Null:
		return
	case record.Int:
		g.seen = true
		g.notBool, g.notTime = true, true
		return
	case record.Decimal, record.Float:
		g.seen = true
		g.notInt, g.notBool, g.notTime = true, true, true
		return
	case record.Bool:
		g.seen = true
		g.notInt, g.notNum, g.notTime = true, true, true
		return
	case record.Time:
		g.seen = true
		g.notInt, g.notNum, g.notBool = true, true, true
		return
	case record.JSON:
		g.seen = true
		g.notInt, g.notNum, g.notBool, g.notTime = true, true, true, true
		return
	}
	s := strings.TrimSpace(v.S)
	if s == "" {
		return
	}
	g.seen = true
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		g.notInt = true
	}
	if !g.notNum {
		if _, err := strconv.ParseFloat(s, 64); err != nil || !strings.ContainsAny(s, "0123456789") {
			g.notNum = true
		}
	}
	if !g.notBool && !strings.EqualFold(s, "true") && !strings.EqualFold(s, "false") {
		g.notBool = true
	}
	if !g.notTime {
		if _, ok := parseTime(s); !ok {
			g.notTime = true
		}
	}
}

func (g *colGuess) typ() record.FieldType {
	switch {
	case !g.seen:
		return "string"
	case !g.notInt:
		return "integer"
	case !g.notNum:
		return "double"
	case !g.notBool:
		return "boolean"
	case !g.notTime:
		return "datetime"
	}
	return "string"
}
