// Package catalogreg registers a flow's S3 output in the Glue Data Catalog
// (metadataCatalogConfig.glueDataCatalog; data-plane 10, connectors-aws 8).
// The service checks a flow's configuration with CheckDatabase; the runner
// calls Register after each successful run that wrote data.
//
// Per run, for a flow {flow} created at {created} (Unix seconds) with
// tablePrefix {prefix} (both lower-cased, any character outside [a-z0-9_]
// made "_"):
//
//   - {prefix}_appflow_{flow}_{schemaVersion}: one table per schema version,
//     created once, located at the flow's folder
//     (s3://{bucket}/{bucketPrefix}/{flow}/, plus schemaVersion_{N}/ when the
//     prefix hierarchy holds SCHEMA_VERSION). Its partition keys follow the
//     key layout below that folder: year, month, day, hour, minute (as deep as
//     the date folders go), execution_id (when runs get a folder), then the
//     Partition task's fields; each run's folders are added as partitions
//     (BatchCreatePartition, 100 a call; a partition already registered is
//     left as is: its location cannot have changed).
//   - {prefix}_appflow_{flow}_{created}_latest: created or updated every run
//     to point at the latest run's folder, partitioned by the Partition
//     task's fields only; its partitions move to the run's folders, and
//     those the run did not write are dropped.
//
// Storage descriptors follow the file type: CSV (OpenCSVSerde, header line
// skipped), JSON Lines (JsonSerDe), Parquet (ParquetHiveSerDe). Columns are
// the run's output fields: typed from their declared types for JSON, and for
// Parquet with preserveSourceDataTyping; strings otherwise (CSV text, and
// Parquet written as strings).
//
// A catalog failure never fails the run (the data is already in S3): the
// table's entry in metadataCatalogDetails says Error with Glue's message.
package catalogreg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/wire"
)

// MaxBatch is BatchCreatePartition's limit on partitions per call.
const MaxBatch = 100

// Run is what Register needs of a finished run.
type Run struct {
	Flow        *wire.DescribeFlowResponse // the flow as stored
	ExecutionID string
	Objects     []string // keys the run wrote in the destination bucket
	Fields      []connector.FieldSpec
}

// Register creates or updates the run's tables and partitions and reports
// each table; nil when the flow registers nothing or the run wrote nothing.
func Register(ctx context.Context, deps connector.Deps, run Run) []wire.MetadataCatalogDetail {
	f := run.Flow
	if f == nil || f.MetadataCatalogConfig == nil || f.MetadataCatalogConfig.GlueDataCatalog == nil ||
		len(run.Objects) == 0 || len(f.DestinationFlowConfigList) == 0 {
		return nil
	}
	cfg := f.MetadataCatalogConfig.GlueDataCatalog
	dst := f.DestinationFlowConfigList[0]
	if dst.ConnectorType != wire.ConnectorTypeS3 || dst.DestinationConnectorProperties == nil || dst.DestinationConnectorProperties.S3 == nil {
		return nil
	}
	plan := newPlan(f, dst.DestinationConnectorProperties.S3, run)
	c, err := client(ctx, deps, cfg, "appflowd-"+run.ExecutionID)
	if err != nil {
		return plan.failAll(err)
	}
	r := &registrar{c: c, db: cfg.DatabaseName, plan: plan}
	var out []wire.MetadataCatalogDetail
	for _, t := range plan.tables {
		out = append(out, r.table(ctx, t))
	}
	return out
}

// table is one table to create or update, with its partitions.
type table struct {
	name       string
	update     bool // update an existing table (the _latest one); else leave it
	location   string
	partKeys   []string
	partitions []partition
}

type partition struct {
	values   []string
	location string
}

type plan struct {
	sd     gluetypes.StorageDescriptor // without Location
	params map[string]string
	tables []table
}

func newPlan(f *wire.DescribeFlowResponse, s3 *wire.S3DestinationProperties, run Run) *plan {
	out := s3.S3OutputFormatConfig
	if out == nil {
		out = &wire.S3OutputFormatConfig{}
	}
	p := &plan{}
	p.sd, p.params = descriptor(out)

	root := strings.Trim(s3.BucketPrefix, "/")
	if root != "" {
		root += "/"
	}
	root += f.FlowName + "/"
	version := int64(1)
	if f.SchemaVersion != nil {
		version = *f.SchemaVersion
	}
	pc := out.PrefixConfig
	if pc == nil {
		pc = &wire.PrefixConfig{}
	}
	hasSchema, hasExec := false, false
	for _, h := range pc.PathPrefixHierarchy {
		hasSchema = hasSchema || h == wire.PathPrefixSchemaVersion
		hasExec = hasExec || h == wire.PathPrefixExecutionId
	}
	if hasSchema {
		root += "schemaVersion_" + strconv.FormatInt(version, 10) + "/"
	}
	dated := (pc.PrefixType == wire.PrefixTypePath || pc.PrefixType == wire.PrefixTypePathAndFilename) && pc.PrefixFormat != ""
	var runKeys []string // the folders every run has, below root
	if dated {
		levels := map[wire.PrefixFormat]int{wire.PrefixFormatYear: 1, wire.PrefixFormatMonth: 2, wire.PrefixFormatDay: 3, wire.PrefixFormatHour: 4, wire.PrefixFormatMinute: 5}
		runKeys = append(runKeys, []string{"year", "month", "day", "hour", "minute"}[:levels[pc.PrefixFormat]]...)
	}
	if hasExec || (len(pc.PathPrefixHierarchy) == 0 && !dated) {
		runKeys = append(runKeys, "execution_id")
	}

	// Folders of the run's files, below root.
	dirs := map[string][]string{}
	var fieldKeys []string
	for _, key := range run.Objects {
		rel, ok := strings.CutPrefix(path.Dir(key)+"/", root)
		if !ok {
			continue
		}
		segs := strings.Split(strings.TrimSuffix(rel, "/"), "/")
		if rel == "/" || rel == "" {
			segs = nil
		}
		if len(segs) < len(runKeys) {
			continue
		}
		dirs[rel] = segs
		if fieldKeys == nil {
			for _, s := range segs[len(runKeys):] {
				k, _, _ := strings.Cut(s, "=")
				fieldKeys = append(fieldKeys, column(unescape(k)))
			}
		}
	}
	rels := make([]string, 0, len(dirs))
	for rel := range dirs {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	bucket := "s3://" + s3.BucketName + "/"

	prefix := name(f.MetadataCatalogConfig.GlueDataCatalog.TablePrefix) + "_appflow_" + name(f.FlowName)
	versioned := table{name: trim(prefix + "_" + strconv.FormatInt(version, 10)), location: bucket + root,
		partKeys: append(append([]string(nil), runKeys...), fieldKeys...)}
	latest := table{name: trim(prefix + "_" + strconv.FormatInt(created(f), 10) + "_latest"), update: true, partKeys: fieldKeys}
	for _, rel := range rels {
		segs := dirs[rel]
		values := make([]string, len(segs))
		for i, s := range segs {
			if i >= len(runKeys) {
				_, v, _ := strings.Cut(s, "=")
				s = unescape(v)
			}
			values[i] = s
		}
		if len(values) > 0 {
			versioned.partitions = append(versioned.partitions, partition{values: values, location: bucket + root + rel})
		}
		runDir := bucket + root + strings.Join(segs[:len(runKeys)], "/")
		if len(runKeys) > 0 {
			runDir += "/"
		}
		latest.location = runDir
		if len(fieldKeys) > 0 {
			latest.partitions = append(latest.partitions, partition{values: values[len(runKeys):], location: bucket + root + rel})
		}
	}
	// Data columns: the output fields, less those that are partition keys.
	isKey := map[string]bool{}
	for _, k := range versioned.partKeys {
		isKey[k] = true
	}
	typed := out.FileType == wire.FileTypeJson || (out.FileType == wire.FileTypeParquet && out.PreserveSourceDataTyping != nil && *out.PreserveSourceDataTyping)
	for _, fs := range run.Fields {
		col := column(fs.Name)
		if isKey[col] {
			continue
		}
		typ := "string"
		if typed {
			typ = glueType(string(fs.Type))
		}
		p.sd.Columns = append(p.sd.Columns, gluetypes.Column{Name: aws.String(col), Type: aws.String(typ),
			Parameters: map[string]string{"AppFlowLabel": fs.Name}})
	}
	if len(rels) > 0 {
		p.tables = []table{versioned, latest}
	}
	return p
}

// failAll reports every table as not registered.
func (p *plan) failAll(err error) []wire.MetadataCatalogDetail {
	var out []wire.MetadataCatalogDetail
	for _, t := range p.tables {
		out = append(out, detail(t.name, failed(err), failed(err)))
	}
	return out
}

type registrar struct {
	c    *glue.Client
	db   string
	plan *plan
}

func (r *registrar) table(ctx context.Context, t table) wire.MetadataCatalogDetail {
	in := r.tableInput(t)
	tableOut := &wire.RegistrationOutput{Status: wire.ExecutionStatusSuccessful, Result: "0", Message: "Table " + t.name + " already registered"}
	_, err := r.c.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String(r.db), Name: aws.String(t.name)})
	var nf *gluetypes.EntityNotFoundException
	switch {
	case errors.As(err, &nf):
		if _, err := r.c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String(r.db), TableInput: in}); err != nil {
			return detail(t.name, failed(err), skipped())
		}
		tableOut = &wire.RegistrationOutput{Status: wire.ExecutionStatusSuccessful, Result: "1", Message: "Created table " + t.name}
	case err != nil:
		return detail(t.name, failed(err), skipped())
	case t.update:
		if _, err := r.c.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String(r.db), TableInput: in}); err != nil {
			return detail(t.name, failed(err), skipped())
		}
		tableOut = &wire.RegistrationOutput{Status: wire.ExecutionStatusSuccessful, Result: "1", Message: "Updated table " + t.name}
	}
	parts := r.partitions(ctx, t, in.StorageDescriptor)
	if t.update && len(t.partKeys) > 0 && parts.Status == wire.ExecutionStatusSuccessful {
		if err := r.dropOthers(ctx, t); err != nil {
			parts = failed(err)
		}
	}
	return detail(t.name, tableOut, parts)
}

// dropOthers removes the partitions of the latest table that this run did
// not write: they hold an earlier run's data.
func (r *registrar) dropOthers(ctx context.Context, t table) error {
	keep := map[string]bool{}
	for _, p := range t.partitions {
		keep[strings.Join(p.values, "\x00")] = true
	}
	var stale []gluetypes.PartitionValueList
	var token *string
	for {
		page, err := r.c.GetPartitions(ctx, &glue.GetPartitionsInput{DatabaseName: aws.String(r.db), TableName: aws.String(t.name), NextToken: token})
		if err != nil {
			return err
		}
		for _, p := range page.Partitions {
			if !keep[strings.Join(p.Values, "\x00")] {
				stale = append(stale, gluetypes.PartitionValueList{Values: p.Values})
			}
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	for start := 0; start < len(stale); start += maxDelete {
		if _, err := r.c.BatchDeletePartition(ctx, &glue.BatchDeletePartitionInput{DatabaseName: aws.String(r.db), TableName: aws.String(t.name),
			PartitionsToDelete: stale[start:min(start+maxDelete, len(stale))]}); err != nil {
			return err
		}
	}
	return nil
}

// maxDelete is BatchDeletePartition's limit on partitions per call.
const maxDelete = 25

// partitions adds t's partitions, MaxBatch a call; those already there
// count as registered.
func (r *registrar) partitions(ctx context.Context, t table, sd *gluetypes.StorageDescriptor) *wire.RegistrationOutput {
	created, existing := 0, 0
	for start := 0; start < len(t.partitions); start += MaxBatch {
		chunk := t.partitions[start:min(start+MaxBatch, len(t.partitions))]
		inputs := make([]gluetypes.PartitionInput, len(chunk))
		for i, p := range chunk {
			psd := *sd
			psd.Location = aws.String(p.location)
			inputs[i] = gluetypes.PartitionInput{Values: p.values, StorageDescriptor: &psd}
		}
		out, err := r.c.BatchCreatePartition(ctx, &glue.BatchCreatePartitionInput{DatabaseName: aws.String(r.db), TableName: aws.String(t.name),
			PartitionInputList: inputs})
		if err != nil {
			o := failed(err)
			o.Result = strconv.Itoa(created)
			return o
		}
		bad := 0
		var first string
		var moved []gluetypes.BatchUpdatePartitionRequestEntry
		for _, e := range out.Errors {
			if e.ErrorDetail != nil && aws.ToString(e.ErrorDetail.ErrorCode) == "AlreadyExistsException" {
				existing++
				if t.update {
					// The latest table's partitions move to this run's folders.
					for _, in := range inputs {
						if slices.Equal(in.Values, e.PartitionValues) {
							moved = append(moved, gluetypes.BatchUpdatePartitionRequestEntry{PartitionValueList: in.Values, PartitionInput: &in})
						}
					}
				}
				continue
			}
			bad++
			if first == "" && e.ErrorDetail != nil {
				first = aws.ToString(e.ErrorDetail.ErrorCode) + ": " + aws.ToString(e.ErrorDetail.ErrorMessage)
			}
		}
		created += len(chunk) - len(out.Errors)
		if len(moved) > 0 {
			up, err := r.c.BatchUpdatePartition(ctx, &glue.BatchUpdatePartitionInput{DatabaseName: aws.String(r.db), TableName: aws.String(t.name), Entries: moved})
			if err != nil {
				o := failed(err)
				o.Result = strconv.Itoa(created)
				return o
			}
			for _, e := range up.Errors {
				bad++
				if first == "" && e.ErrorDetail != nil {
					first = aws.ToString(e.ErrorDetail.ErrorCode) + ": " + aws.ToString(e.ErrorDetail.ErrorMessage)
				}
			}
		}
		if bad > 0 {
			return &wire.RegistrationOutput{Status: wire.ExecutionStatusError, Result: strconv.Itoa(created),
				Message: fmt.Sprintf("%d partitions were not registered: %s", bad, first)}
		}
	}
	return &wire.RegistrationOutput{Status: wire.ExecutionStatusSuccessful, Result: strconv.Itoa(created),
		Message: fmt.Sprintf("Registered %d partitions (%d already registered)", created, existing)}
}

func (r *registrar) tableInput(t table) *gluetypes.TableInput {
	sd := r.plan.sd
	sd.Location = aws.String(t.location)
	keys := make([]gluetypes.Column, len(t.partKeys))
	for i, k := range t.partKeys {
		keys[i] = gluetypes.Column{Name: aws.String(k), Type: aws.String("string")}
	}
	return &gluetypes.TableInput{Name: aws.String(t.name), TableType: aws.String("EXTERNAL_TABLE"),
		Parameters: r.plan.params, PartitionKeys: keys, StorageDescriptor: &sd}
}

func detail(name string, table, parts *wire.RegistrationOutput) wire.MetadataCatalogDetail {
	return wire.MetadataCatalogDetail{CatalogType: wire.CatalogTypeGlue, TableName: name, TableRegistrationOutput: table, PartitionRegistrationOutput: parts}
}

func failed(err error) *wire.RegistrationOutput {
	msg := err.Error()
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg = ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return &wire.RegistrationOutput{Status: wire.ExecutionStatusError, Result: "0", Message: msg}
}

func skipped() *wire.RegistrationOutput {
	return &wire.RegistrationOutput{Status: wire.ExecutionStatusError, Result: "0", Message: "Partitions were not registered: the table was not"}
}

// created is the flow's creation time in Unix seconds.
func created(f *wire.DescribeFlowResponse) int64 {
	if f.CreatedAt != nil {
		return f.CreatedAt.Time.Unix()
	}
	return 0
}

// name lower-cases s and makes every character outside [a-z0-9_] "_",
// as Glue names are.
func name(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// column is a field's column name.
func column(s string) string { return name(s) }

// trim keeps a table name within Glue's 255 characters.
func trim(s string) string {
	if len(s) > 255 {
		return s[:255]
	}
	return s
}

// unescape reverses the %XX escaping of partition folder names.
func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// glueType is the Glue (Hive) type of an AppFlow field type.
func glueType(t string) string {
	switch strings.ToLower(t) {
	case "integer", "int":
		return "int"
	case "long", "bigint":
		return "bigint"
	case "double":
		return "double"
	case "float":
		return "float"
	case "boolean":
		return "boolean"
	case "date":
		return "date"
	case "datetime", "timestamp":
		return "timestamp"
	case "decimal":
		return "decimal(38,18)"
	}
	return "string"
}

// descriptor is the storage descriptor (without columns or location) and
// table parameters of a file type.
func descriptor(out *wire.S3OutputFormatConfig) (gluetypes.StorageDescriptor, map[string]string) {
	const (
		textIn  = "org.apache.hadoop.mapred.TextInputFormat"
		textOut = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
	)
	switch out.FileType {
	case wire.FileTypeParquet:
		return gluetypes.StorageDescriptor{
			InputFormat:  aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"),
			OutputFormat: aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"),
			SerdeInfo:    &gluetypes.SerDeInfo{SerializationLibrary: aws.String("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")},
		}, map[string]string{"classification": "parquet"}
	case wire.FileTypeCsv:
		return gluetypes.StorageDescriptor{
			InputFormat: aws.String(textIn), OutputFormat: aws.String(textOut),
			SerdeInfo: &gluetypes.SerDeInfo{SerializationLibrary: aws.String("org.apache.hadoop.hive.serde2.OpenCSVSerde"),
				Parameters: map[string]string{"separatorChar": ",", "quoteChar": `"`}},
		}, map[string]string{"classification": "csv", "skip.header.line.count": "1"}
	}
	return gluetypes.StorageDescriptor{
		InputFormat: aws.String(textIn), OutputFormat: aws.String(textOut),
		SerdeInfo: &gluetypes.SerDeInfo{SerializationLibrary: aws.String("org.openx.data.jsonserde.JsonSerDe")},
	}, map[string]string{"classification": "json"}
}
