package catalogreg_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/events/eventstest"
)

func TestMain(m *testing.M) {
	eventstest.SetAWSEnv()
	code := m.Run()
	eventstest.Stop()
	os.Exit(code)
}

type env struct {
	srv    *apptest.Server
	glue   *glue.Client
	s3     *s3.Client
	db     string
	bucket string
	// batchCreates counts BatchCreatePartition calls that reached Glue.
	batchCreates atomic.Int64

	mu sync.Mutex
	// glueKeys are the access keys that signed Glue calls; assumed are
	// "role session -> access key" of each AssumeRole STS answered.
	glueKeys map[string]bool
	assumed  []string
	// denyAssume makes STS refuse AssumeRole, as it does a role that does
	// not trust the caller.
	denyAssume atomic.Bool
}

// glueRole is the flows' roleArn, in moto's account (the database's): moto
// acts for the role's account with the assumed credentials.
const glueRole = "arn:aws:iam::123456789012:role/appflow-glue"

const denied = "User: arn:aws:iam::123456789012:user/appflowd is not authorized to perform: sts:AssumeRole on resource: " + glueRole

var credentialRE = regexp.MustCompile(`Credential=([^/]+)/`)

// newEnv starts appflowd with S3, Glue and STS on moto (Glue and STS
// behind a proxy that counts BatchCreatePartition calls and records who
// signed Glue calls and which roles were assumed), a database and a source
// bucket holding rows.
func newEnv(t *testing.T, rows string) *env {
	moto := eventstest.Moto(t)
	e := &env{db: strings.ToLower(eventstest.Name("db")), bucket: eventstest.Name("lake-"), glueKeys: map[string]bool{}}
	target, _ := url.Parse(moto)
	proxy := httputil.NewSingleHostReverseProxy(target)
	recording := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.") {
			if r.Header.Get("X-Amz-Target") == "AWSGlue.BatchCreatePartition" {
				e.batchCreates.Add(1)
			}
			if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
				e.mu.Lock()
				e.glueKeys[m[1]] = true
				e.mu.Unlock()
			}
			proxy.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body) // STS, query protocol
		q, _ := url.ParseQuery(string(body))
		if q.Get("Action") != "AssumeRole" {
			r.Body = io.NopCloser(bytes.NewReader(body))
			proxy.ServeHTTP(w, r)
			return
		}
		if e.denyAssume.Load() {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>`+
				denied+`</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		res := httptest.NewRecorder()
		proxy.ServeHTTP(res, r)
		out := res.Body.Bytes()
		var ar struct {
			Key string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		}
		_ = xml.Unmarshal(out, &ar)
		e.mu.Lock()
		e.assumed = append(e.assumed, q.Get("RoleArn")+" "+q.Get("RoleSessionName")+" -> "+ar.Key)
		e.mu.Unlock()
		w.Header().Set("Content-Type", res.Header().Get("Content-Type"))
		w.WriteHeader(res.Code)
		_, _ = w.Write(out)
	}))
	t.Cleanup(recording.Close)
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	e.glue = glue.New(glue.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), Credentials: creds})
	e.s3 = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), UsePathStyle: true, Credentials: creds})
	ctx := context.Background()
	if _, err := e.glue.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String(e.db)}}); err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.bucket)}); err != nil {
		t.Fatal(err)
	}
	e.put(t, rows)
	e.srv = apptest.Start(t, app.Config{PlanInterval: -1, Endpoints: connector.Endpoints{
		connector.EndpointS3: moto, connector.EndpointGlue: recording.URL, connector.EndpointSTS: recording.URL}})
	return e
}

func (e *env) put(t *testing.T, rows string) {
	t.Helper()
	if _, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("in/rows.csv"),
		Body: strings.NewReader(rows)}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) flowInput(name, db string, dest types.ConnectorType, tasks []types.Task) *appflow.CreateFlowInput {
	d := types.DestinationFlowConfig{ConnectorType: dest}
	switch dest {
	case types.ConnectorTypeS3:
		d.DestinationConnectorProperties = &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
			BucketName: aws.String(e.bucket), BucketPrefix: aws.String("out"),
			S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeJson}}}
	case types.ConnectorTypeEventbridge:
		d.DestinationConnectorProperties = &types.DestinationConnectorProperties{EventBridge: &types.EventBridgeDestinationProperties{Object: aws.String("bus")}}
	}
	if tasks == nil {
		tasks = []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}}
	}
	return &appflow.CreateFlowInput{FlowName: aws.String(name),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String(e.bucket), BucketPrefix: aws.String("in"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{d},
		Tasks:                     tasks,
		MetadataCatalogConfig: &types.MetadataCatalogConfig{GlueDataCatalog: &types.GlueDataCatalogConfig{
			DatabaseName: aws.String(db), RoleArn: aws.String(glueRole), TablePrefix: aws.String("Sales")}},
	}
}

func (e *env) table(t *testing.T, name string) *gluetypes.Table {
	t.Helper()
	out, err := e.glue.GetTable(context.Background(), &glue.GetTableInput{DatabaseName: aws.String(e.db), Name: aws.String(name)})
	if err != nil {
		t.Fatalf("GetTable %s: %v", name, err)
	}
	return out.Table
}

func (e *env) partitions(t *testing.T, table string) [][]string {
	t.Helper()
	var out [][]string
	var token *string
	for {
		page, err := e.glue.GetPartitions(context.Background(), &glue.GetPartitionsInput{DatabaseName: aws.String(e.db), TableName: aws.String(table), NextToken: token})
		if err != nil {
			t.Fatalf("GetPartitions %s: %v", table, err)
		}
		for _, p := range page.Partitions {
			out = append(out, p.Values)
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	return out
}

func tableNames(details []types.MetadataCatalogDetail) []string {
	var names []string
	for _, d := range details {
		names = append(names, aws.ToString(d.TableName))
	}
	sort.Strings(names)
	return names
}

func TestCatalogRegistration(t *testing.T) {
	e := newEnv(t, "id,name,amount\n1,a,10\n2,b,20\n")
	ctx := context.Background()
	if _, err := e.srv.Client.CreateFlow(ctx, e.flowInput("Orders-Flow", e.db, types.ConnectorTypeS3, nil)); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	fl, err := e.srv.Client.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String("Orders-Flow")})
	if err != nil {
		t.Fatal(err)
	}
	latest := fmt.Sprintf("sales_appflow_orders_flow_%d_latest", fl.CreatedAt.Unix())
	const versioned = "sales_appflow_orders_flow_1"

	rec1 := e.srv.RunFlow(t, "Orders-Flow", time.Minute)
	if rec1.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run 1: %s %q", rec1.ExecutionStatus, apptest.Message(rec1))
	}
	if got := tableNames(rec1.MetadataCatalogDetails); len(got) != 2 || got[0] != versioned || got[1] != latest {
		t.Fatalf("metadataCatalogDetails tables %v, want %s and %s", got, versioned, latest)
	}
	for _, d := range rec1.MetadataCatalogDetails {
		if d.CatalogType != types.CatalogTypeGlue || d.TableRegistrationOutput.Status != types.ExecutionStatusSuccessful ||
			aws.ToString(d.TableRegistrationOutput.Result) != "1" || d.PartitionRegistrationOutput.Status != types.ExecutionStatusSuccessful {
			t.Errorf("run 1 detail %s: table %+v partitions %+v, want GLUE, both Successful, 1 table", aws.ToString(d.TableName), *d.TableRegistrationOutput, *d.PartitionRegistrationOutput)
		}
	}

	tb := e.table(t, versioned)
	sd := tb.StorageDescriptor
	wantLoc := "s3://" + e.bucket + "/out/Orders-Flow/"
	if aws.ToString(sd.Location) != wantLoc || aws.ToString(sd.SerdeInfo.SerializationLibrary) != "org.openx.data.jsonserde.JsonSerDe" ||
		aws.ToString(sd.InputFormat) != "org.apache.hadoop.mapred.TextInputFormat" || tb.Parameters["classification"] != "json" {
		t.Errorf("%s: location %q serde %q input %q params %v, want %s, JsonSerDe, TextInputFormat, classification json",
			versioned, aws.ToString(sd.Location), aws.ToString(sd.SerdeInfo.SerializationLibrary), aws.ToString(sd.InputFormat), tb.Parameters, wantLoc)
	}
	var cols []string
	for _, c := range sd.Columns {
		cols = append(cols, aws.ToString(c.Name)+":"+aws.ToString(c.Type))
	}
	if strings.Join(cols, ",") != "id:string,name:string,amount:string" {
		t.Errorf("%s columns %v, want id, name, amount as strings (untyped CSV fields)", versioned, cols)
	}
	if len(tb.PartitionKeys) != 1 || aws.ToString(tb.PartitionKeys[0].Name) != "execution_id" {
		t.Errorf("%s partition keys %+v, want [execution_id]", versioned, tb.PartitionKeys)
	}
	if p := e.partitions(t, versioned); len(p) != 1 || p[0][0] != aws.ToString(rec1.ExecutionId) {
		t.Errorf("%s partitions %v, want [[%s]]", versioned, p, aws.ToString(rec1.ExecutionId))
	}

	// A second run adds a partition and moves _latest to its folder.
	rec2 := e.srv.RunFlow(t, "Orders-Flow", time.Minute)
	if rec2.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run 2: %s %q", rec2.ExecutionStatus, apptest.Message(rec2))
	}
	if p := e.partitions(t, versioned); len(p) != 2 {
		t.Errorf("%s after run 2: %d partitions, want 2", versioned, len(p))
	}
	if loc := aws.ToString(e.table(t, latest).StorageDescriptor.Location); loc != wantLoc+aws.ToString(rec2.ExecutionId)+"/" {
		t.Errorf("%s location %q, want run 2's folder", latest, loc)
	}
	for _, d := range rec2.MetadataCatalogDetails {
		if aws.ToString(d.TableName) == latest && !strings.Contains(aws.ToString(d.TableRegistrationOutput.Message), "Updated") {
			t.Errorf("run 2 %s: %+v, want the table updated", latest, *d.TableRegistrationOutput)
		}
	}
	fl, err = e.srv.Client.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String("Orders-Flow")})
	if err != nil {
		t.Fatal(err)
	}
	if got := tableNames(fl.LastRunMetadataCatalogDetails); len(got) != 2 || got[1] != latest {
		t.Errorf("DescribeFlow lastRunMetadataCatalogDetails %v, want the run's two tables", got)
	}

	// A changed mapping is a new schema version, and a new table.
	typed := []types.Task{
		{TaskType: types.TaskTypeFilter, SourceFields: []string{"id", "amount"}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorProjection}},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("id"), ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp},
			TaskProperties: map[string]string{"DESTINATION_DATA_TYPE": "integer"}},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"amount"}, DestinationField: aws.String("amount"), ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp},
			TaskProperties: map[string]string{"DESTINATION_DATA_TYPE": "double"}},
	}
	in := e.flowInput("Orders-Flow", e.db, types.ConnectorTypeS3, typed)
	if _, err := e.srv.Client.UpdateFlow(ctx, &appflow.UpdateFlowInput{FlowName: in.FlowName, TriggerConfig: in.TriggerConfig,
		SourceFlowConfig: in.SourceFlowConfig, DestinationFlowConfigList: in.DestinationFlowConfigList, Tasks: in.Tasks,
		MetadataCatalogConfig: in.MetadataCatalogConfig}); err != nil {
		t.Fatalf("UpdateFlow: %v", err)
	}
	rec3 := e.srv.RunFlow(t, "Orders-Flow", time.Minute)
	if rec3.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run 3: %s %q", rec3.ExecutionStatus, apptest.Message(rec3))
	}
	cols = nil
	for _, c := range e.table(t, "sales_appflow_orders_flow_2").StorageDescriptor.Columns {
		cols = append(cols, aws.ToString(c.Name)+":"+aws.ToString(c.Type))
	}
	if strings.Join(cols, ",") != "id:int,amount:double" {
		t.Errorf("schema version 2 table columns %v, want id:int, amount:double (typed JSON output)", cols)
	}
}

func TestCatalogPartitionsInChunks(t *testing.T) {
	var rows strings.Builder
	rows.WriteString("id,region\n")
	for i := range 150 {
		fmt.Fprintf(&rows, "%d,r%03d\n", i, i)
	}
	e := newEnv(t, rows.String())
	tasks := []types.Task{
		{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}},
		{TaskType: types.TaskTypePartition, SourceFields: []string{"region"}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp},
			TaskProperties: map[string]string{"ORDERED_PARTITION_KEYS_LIST": `["region"]`}},
	}
	if _, err := e.srv.Client.CreateFlow(context.Background(), e.flowInput("by-region", e.db, types.ConnectorTypeS3, tasks)); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	rec := e.srv.RunFlow(t, "by-region", 2*time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run: %s %q", rec.ExecutionStatus, apptest.Message(rec))
	}
	tb := e.table(t, "sales_appflow_by_region_1")
	var keys []string
	for _, k := range tb.PartitionKeys {
		keys = append(keys, aws.ToString(k.Name))
	}
	if strings.Join(keys, ",") != "execution_id,region" {
		t.Errorf("partition keys %v, want execution_id, region", keys)
	}
	if p := e.partitions(t, "sales_appflow_by_region_1"); len(p) != 150 {
		t.Errorf("%d partitions, want 150", len(p))
	}
	// 150 partitions in each of the two tables, 100 a call.
	if n := e.batchCreates.Load(); n != 4 {
		t.Errorf("BatchCreatePartition calls %d, want 4 (2 per table)", n)
	}

	// A second run writes two regions, one new: the versioned table keeps
	// every run's partitions, the latest table only this run's, located in
	// this run's folders.
	e.put(t, "id,region\n1,r001\n2,new\n")
	rec2 := e.srv.RunFlow(t, "by-region", time.Minute)
	if rec2.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run 2: %s %q", rec2.ExecutionStatus, apptest.Message(rec2))
	}
	if p := e.partitions(t, "sales_appflow_by_region_1"); len(p) != 152 {
		t.Errorf("versioned table: %d partitions after run 2, want 152", len(p))
	}
	fl, err := e.srv.Client.DescribeFlow(context.Background(), &appflow.DescribeFlowInput{FlowName: aws.String("by-region")})
	if err != nil {
		t.Fatal(err)
	}
	latest := fmt.Sprintf("sales_appflow_by_region_%d_latest", fl.CreatedAt.Unix())
	out, err := e.glue.GetPartitions(context.Background(), &glue.GetPartitionsInput{DatabaseName: aws.String(e.db), TableName: aws.String(latest)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range out.Partitions {
		got[strings.Join(p.Values, "/")] = aws.ToString(p.StorageDescriptor.Location)
	}
	run2 := "s3://" + e.bucket + "/out/by-region/" + aws.ToString(rec2.ExecutionId) + "/region="
	if len(got) != 2 || got["r001"] != run2+"r001/" || got["new"] != run2+"new/" {
		t.Errorf("latest table partitions %v, want r001 and new in run 2's folders", got)
	}
}

func TestCatalogRefusals(t *testing.T) {
	e := newEnv(t, "id\n1\n")
	ctx := context.Background()
	var ve *types.ValidationException
	_, err := e.srv.Client.CreateFlow(ctx, e.flowInput("no-db", "nosuchdb", types.ConnectorTypeS3, nil))
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "nosuchdb") {
		t.Errorf("CreateFlow with a missing database: %v, want a ValidationException naming nosuchdb", err)
	}
	_, err = e.srv.Client.CreateFlow(ctx, e.flowInput("not-s3", e.db, types.ConnectorTypeEventbridge, nil))
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "only for Amazon S3 destinations") {
		t.Errorf("CreateFlow to EventBridge with a catalog: %v, want a ValidationException", err)
	}

	// UpdateFlow checks the same way.
	if _, err := e.srv.Client.CreateFlow(ctx, e.flowInput("to-update", e.db, types.ConnectorTypeS3, nil)); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	up := e.flowInput("to-update", "otherdb", types.ConnectorTypeS3, nil)
	_, err = e.srv.Client.UpdateFlow(ctx, &appflow.UpdateFlowInput{FlowName: up.FlowName, TriggerConfig: up.TriggerConfig,
		SourceFlowConfig: up.SourceFlowConfig, DestinationFlowConfigList: up.DestinationFlowConfigList, Tasks: up.Tasks,
		MetadataCatalogConfig: up.MetadataCatalogConfig})
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "otherdb") {
		t.Errorf("UpdateFlow to a missing database: %v, want a ValidationException naming otherdb", err)
	}

	// The database disappears after CreateFlow: the run still succeeds (its
	// data is in S3), and the catalog entries say Error with Glue's words.
	if _, err := e.srv.Client.CreateFlow(ctx, e.flowInput("db-gone", e.db, types.ConnectorTypeS3, nil)); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	if _, err := e.glue.DeleteDatabase(ctx, &glue.DeleteDatabaseInput{Name: aws.String(e.db)}); err != nil {
		t.Fatal(err)
	}
	rec := e.srv.RunFlow(t, "db-gone", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run: %s %q, want Successful despite the catalog", rec.ExecutionStatus, apptest.Message(rec))
	}
	if len(rec.MetadataCatalogDetails) != 2 {
		t.Fatalf("metadataCatalogDetails %+v, want 2 entries", rec.MetadataCatalogDetails)
	}
	for _, d := range rec.MetadataCatalogDetails {
		o := d.TableRegistrationOutput
		if o.Status != types.ExecutionStatusError || !strings.Contains(aws.ToString(o.Message), "EntityNotFoundException") {
			t.Errorf("%s: %+v, want Error with Glue's EntityNotFoundException", aws.ToString(d.TableName), *o)
		}
	}
}

// TestCatalogDateFoldersCSV: a CSV flow with date folders (PATH, DAY) and
// an execution id folder is partitioned by year, month, day and
// execution_id, each partition located at its folder, with the CSV SerDe.
func TestCatalogDateFoldersCSV(t *testing.T) {
	e := newEnv(t, "id,name\n1,a\n")
	in := e.flowInput("dated", e.db, types.ConnectorTypeS3, nil)
	in.DestinationFlowConfigList[0].DestinationConnectorProperties.S3.S3OutputFormatConfig = &types.S3OutputFormatConfig{
		FileType: types.FileTypeCsv, PrefixConfig: &types.PrefixConfig{PrefixType: types.PrefixTypePath, PrefixFormat: types.PrefixFormatDay,
			PathPrefixHierarchy: []types.PathPrefix{types.PathPrefixExecutionId}}}
	if _, err := e.srv.Client.CreateFlow(context.Background(), in); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	rec := e.srv.RunFlow(t, "dated", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run: %s %q", rec.ExecutionStatus, apptest.Message(rec))
	}
	tb := e.table(t, "sales_appflow_dated_1")
	var keys []string
	for _, k := range tb.PartitionKeys {
		keys = append(keys, aws.ToString(k.Name))
	}
	sd := tb.StorageDescriptor
	if strings.Join(keys, ",") != "year,month,day,execution_id" || aws.ToString(sd.SerdeInfo.SerializationLibrary) != "org.apache.hadoop.hive.serde2.OpenCSVSerde" ||
		tb.Parameters["skip.header.line.count"] != "1" || tb.Parameters["classification"] != "csv" {
		t.Errorf("table: keys %v serde %q params %v, want year,month,day,execution_id, OpenCSVSerde, a skipped header", keys,
			aws.ToString(sd.SerdeInfo.SerializationLibrary), tb.Parameters)
	}
	out, err := e.glue.GetPartitions(context.Background(), &glue.GetPartitionsInput{DatabaseName: aws.String(e.db), TableName: aws.String("sales_appflow_dated_1")})
	if err != nil || len(out.Partitions) != 1 {
		t.Fatalf("GetPartitions: %+v, %v, want 1", out, err)
	}
	p := out.Partitions[0]
	day := rec.StartedAt.UTC()
	want := []string{day.Format("2006"), day.Format("01"), day.Format("02"), aws.ToString(rec.ExecutionId)}
	if strings.Join(p.Values, "/") != strings.Join(want, "/") ||
		aws.ToString(p.StorageDescriptor.Location) != "s3://"+e.bucket+"/out/dated/"+strings.Join(want, "/")+"/" {
		t.Errorf("partition %v at %q, want %v at its folder", p.Values, aws.ToString(p.StorageDescriptor.Location), want)
	}
	// The files are where the partition says.
	list, err := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket),
		Prefix: aws.String(strings.TrimPrefix(aws.ToString(p.StorageDescriptor.Location), "s3://"+e.bucket+"/"))})
	if err != nil || len(list.Contents) == 0 {
		t.Errorf("no objects under the partition's location: %v", err)
	}
}

// TestCatalogAssumesRole: Glue is called as the flow's roleArn, assumed
// through STS (moto) at CreateFlow's check and for each run's
// registration, never with the process's own credentials; when STS
// refuses the role, the run stays Successful (its data is in S3) and each
// table's registration says Error with STS's message.
func TestCatalogAssumesRole(t *testing.T) {
	e := newEnv(t, "id\n1\n")
	ctx := context.Background()
	if _, err := e.srv.Client.CreateFlow(ctx, e.flowInput("as-role", e.db, types.ConnectorTypeS3, nil)); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	rec := e.srv.RunFlow(t, "as-role", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful || len(rec.MetadataCatalogDetails) != 2 {
		t.Fatalf("run: %s %q, %d catalog entries; want Successful with 2", rec.ExecutionStatus, apptest.Message(rec), len(rec.MetadataCatalogDetails))
	}
	for _, d := range rec.MetadataCatalogDetails {
		if d.TableRegistrationOutput.Status != types.ExecutionStatusSuccessful {
			t.Errorf("%s: %s %q, want Successful", aws.ToString(d.TableName), d.TableRegistrationOutput.Status, aws.ToString(d.TableRegistrationOutput.Message))
		}
	}
	e.mu.Lock()
	sessions, keys := map[string]bool{}, map[string]bool{}
	for _, a := range e.assumed {
		role, rest, _ := strings.Cut(a, " ")
		session, key, _ := strings.Cut(rest, " -> ")
		if role != glueRole || key == "" {
			t.Errorf("AssumeRole %q, want %s answered with a key", a, glueRole)
		}
		sessions[session], keys[key] = true, true
	}
	if !sessions["appflowd-glue"] || !sessions["appflowd-"+aws.ToString(rec.ExecutionId)] {
		t.Errorf("role sessions %v, want appflowd-glue (CreateFlow) and appflowd-<execution id> (the run)", sessions)
	}
	if len(e.glueKeys) == 0 {
		t.Error("no Glue calls seen")
	}
	for k := range e.glueKeys {
		if !keys[k] {
			t.Errorf("a Glue call signed by %s, want only the assumed role's keys %v", k, keys)
		}
	}
	e.mu.Unlock()

	e.denyAssume.Store(true)
	rec = e.srv.RunFlow(t, "as-role", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful || len(rec.MetadataCatalogDetails) != 2 {
		t.Fatalf("run with the role refused: %s %q, %d catalog entries; want Successful with 2", rec.ExecutionStatus, apptest.Message(rec), len(rec.MetadataCatalogDetails))
	}
	for _, d := range rec.MetadataCatalogDetails {
		if o := d.TableRegistrationOutput; o.Status != types.ExecutionStatusError || !strings.Contains(aws.ToString(o.Message), denied) {
			t.Errorf("%s: %s %q, want Error with STS's message %q", aws.ToString(d.TableName), o.Status, aws.ToString(o.Message), denied)
		}
	}
}
