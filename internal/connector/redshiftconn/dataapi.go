package redshiftconn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// The Redshift Data API (service redshift-data, protocol awsJson1_1,
// X-Amz-Target RedshiftData.<Operation>). Only the operations a load and
// the catalog need are spoken (ExecuteStatement, DescribeStatement,
// CancelStatement; ListSchemas, ListTables, DescribeTable), by hand over
// net/http and the SDK's SigV4 signer, so the shared go.mod needs no new
// module.

// ExecuteStatementInput is the ExecuteStatement request.
type ExecuteStatementInput struct {
	ClusterIdentifier string `json:"ClusterIdentifier,omitempty"`
	WorkgroupName     string `json:"WorkgroupName,omitempty"`
	Database          string `json:"Database"`
	DbUser            string `json:"DbUser,omitempty"`
	Sql               string `json:"Sql"`
	StatementName     string `json:"StatementName,omitempty"`
	ClientToken       string `json:"ClientToken,omitempty"`
}

// ExecuteStatementOutput is the part of the response a load reads.
type ExecuteStatementOutput struct {
	Id string `json:"Id"`
}

// DescribeStatementOutput is the part of the response a load reads.
type DescribeStatementOutput struct {
	Id         string `json:"Id"`
	Status     string `json:"Status"` // SUBMITTED, PICKED, STARTED, FINISHED, ABORTED, FAILED
	Error      string `json:"Error"`
	ResultRows int64  `json:"ResultRows"`
}

// ListSchemasInput is the ListSchemas request. SchemaPattern is a LIKE
// pattern (% and _).
type ListSchemasInput struct {
	ClusterIdentifier string `json:"ClusterIdentifier,omitempty"`
	WorkgroupName     string `json:"WorkgroupName,omitempty"`
	Database          string `json:"Database"`
	DbUser            string `json:"DbUser,omitempty"`
	SchemaPattern     string `json:"SchemaPattern,omitempty"`
	NextToken         string `json:"NextToken,omitempty"`
}

// ListSchemasOutput is the ListSchemas response.
type ListSchemasOutput struct {
	Schemas   []string `json:"Schemas"`
	NextToken string   `json:"NextToken"`
}

// ListTablesInput is the ListTables request; the patterns are LIKE
// patterns.
type ListTablesInput struct {
	ClusterIdentifier string `json:"ClusterIdentifier,omitempty"`
	WorkgroupName     string `json:"WorkgroupName,omitempty"`
	Database          string `json:"Database"`
	DbUser            string `json:"DbUser,omitempty"`
	SchemaPattern     string `json:"SchemaPattern,omitempty"`
	TablePattern      string `json:"TablePattern,omitempty"`
	NextToken         string `json:"NextToken,omitempty"`
}

// TableMember is one table of a ListTables response.
type TableMember struct {
	Name   string `json:"name"`
	Schema string `json:"schema"`
	Type   string `json:"type"` // TABLE, VIEW, ...
}

// ListTablesOutput is the ListTables response.
type ListTablesOutput struct {
	Tables    []TableMember `json:"Tables"`
	NextToken string        `json:"NextToken"`
}

// DescribeTableInput is the DescribeTable request.
type DescribeTableInput struct {
	ClusterIdentifier string `json:"ClusterIdentifier,omitempty"`
	WorkgroupName     string `json:"WorkgroupName,omitempty"`
	Database          string `json:"Database"`
	DbUser            string `json:"DbUser,omitempty"`
	Schema            string `json:"Schema,omitempty"`
	Table             string `json:"Table,omitempty"`
	NextToken         string `json:"NextToken,omitempty"`
}

// ColumnMetadata is one column of a DescribeTable response.
type ColumnMetadata struct {
	Name          string  `json:"name"`
	TypeName      string  `json:"typeName"` // int4, varchar, numeric, timestamptz, ...
	Nullable      int     `json:"nullable"` // 0 no nulls, 1 nullable, 2 unknown (JDBC)
	ColumnDefault *string `json:"columnDefault"`
	Length        int     `json:"length"`
	Precision     int     `json:"precision"`
	Scale         int     `json:"scale"`
	SchemaName    string  `json:"schemaName"`
	TableName     string  `json:"tableName"`
}

// DescribeTableOutput is the DescribeTable response.
type DescribeTableOutput struct {
	ColumnList []ColumnMetadata `json:"ColumnList"`
	TableName  string           `json:"TableName"`
	NextToken  string           `json:"NextToken"`
}

// dataAPI is the slice of the Data API the driver calls; tests record it.
type dataAPI interface {
	ExecuteStatement(ctx context.Context, in *ExecuteStatementInput) (*ExecuteStatementOutput, error)
	DescribeStatement(ctx context.Context, id string) (*DescribeStatementOutput, error)
	CancelStatement(ctx context.Context, id string) error
	ListSchemas(ctx context.Context, in *ListSchemasInput) (*ListSchemasOutput, error)
	ListTables(ctx context.Context, in *ListTablesInput) (*ListTablesOutput, error)
	DescribeTable(ctx context.Context, in *DescribeTableInput) (*DescribeTableOutput, error)
}

// dataAPIClient speaks the Data API over HTTP.
type dataAPIClient struct {
	endpoint string
	region   string
	creds    aws.CredentialsProvider
	http     aws.HTTPClient
	signer   *v4.Signer
	now      func() time.Time
}

func newDataAPIClient(ctx context.Context, deps connector.Deps, p Properties, endpoint string) (*dataAPIClient, error) {
	if deps.HTTPClient == nil {
		deps.HTTPClient = &http.Client{Timeout: time.Minute}
	}
	cfg, err := awsconfig.Load(ctx, deps, "")
	if err != nil {
		return nil, fmt.Errorf("redshift: AWS config for the Data API: %w", err)
	}
	creds := cfg.Credentials
	if p.DataAPIRoleArn != "" {
		// AppFlow calls the Data API as dataApiRoleArn; so does appflowd.
		creds = awsconfig.AssumeRole(cfg, deps, p.DataAPIRoleArn, "appflowd-redshift")
	}
	if endpoint == "" {
		endpoint = "https://redshift-data." + cfg.Region + ".amazonaws.com"
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	// cfg.HTTPClient is deps.HTTPClient, or one like it that trusts AWS_CA_BUNDLE.
	return &dataAPIClient{endpoint: endpoint, region: cfg.Region, creds: creds, http: cfg.HTTPClient, signer: v4.NewSigner(), now: now}, nil
}

// apiError is an error answer of the Data API.
type apiError struct {
	Status  int
	Type    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("redshift data api: %s (HTTP %d): %s", e.Type, e.Status, e.Message)
}

func (c *dataAPIClient) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return fault.Wrap(fault.Invalid, err, "redshift data api endpoint %q", c.endpoint)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "RedshiftData."+op)
	cr, err := c.creds.Retrieve(ctx)
	if err != nil {
		return fault.Wrap(fault.AuthFailed, err, "redshift data api: credentials")
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, cr, req, hex.EncodeToString(sum[:]), "redshift-data", c.region, c.now()); err != nil {
		return fmt.Errorf("redshift data api: sign %s: %w", op, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return connector.Canceled(ctx, "redshift", "data api "+op)
		}
		return fault.Wrap(fault.ConnectorServer, err, "redshift data api %s", op)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "redshift data api %s: read answer", op)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Type     string `json:"__type"`
			Message  string `json:"message"`
			Message2 string `json:"Message"`
		}
		_ = json.Unmarshal(data, &e)
		ae := &apiError{Status: resp.StatusCode, Type: e.Type, Message: e.Message}
		if ae.Message == "" {
			ae.Message = e.Message2
		}
		if ae.Type == "" {
			ae.Type = resp.Header.Get("X-Amzn-ErrorType")
		}
		code := fault.ConnectorServer
		switch {
		case resp.StatusCode == 403 || resp.StatusCode == 401:
			code = fault.AuthFailed
		case resp.StatusCode == 429:
			code = fault.Throttled
		case resp.StatusCode == 400:
			code = fault.Invalid
		}
		return &fault.Error{Code: code, Msg: op, Err: ae}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "redshift data api %s: decode answer", op)
	}
	return nil
}

func (c *dataAPIClient) ExecuteStatement(ctx context.Context, in *ExecuteStatementInput) (*ExecuteStatementOutput, error) {
	var out ExecuteStatementOutput
	return &out, c.call(ctx, "ExecuteStatement", in, &out)
}

func (c *dataAPIClient) DescribeStatement(ctx context.Context, id string) (*DescribeStatementOutput, error) {
	var out DescribeStatementOutput
	return &out, c.call(ctx, "DescribeStatement", map[string]string{"Id": id}, &out)
}

func (c *dataAPIClient) CancelStatement(ctx context.Context, id string) error {
	return c.call(ctx, "CancelStatement", map[string]string{"Id": id}, nil)
}

func (c *dataAPIClient) ListSchemas(ctx context.Context, in *ListSchemasInput) (*ListSchemasOutput, error) {
	var out ListSchemasOutput
	return &out, c.call(ctx, "ListSchemas", in, &out)
}

func (c *dataAPIClient) ListTables(ctx context.Context, in *ListTablesInput) (*ListTablesOutput, error) {
	var out ListTablesOutput
	return &out, c.call(ctx, "ListTables", in, &out)
}

func (c *dataAPIClient) DescribeTable(ctx context.Context, in *DescribeTableInput) (*DescribeTableOutput, error) {
	var out DescribeTableOutput
	return &out, c.call(ctx, "DescribeTable", in, &out)
}

// dataTarget is where every Data API request goes: the workgroup, or the
// cluster with DbUser (temporary credentials for that user; serverless
// derives the user from IAM).
type dataTarget struct {
	cluster, workgroup, database, dbUser string
}

func (d *Driver) dataTarget() dataTarget {
	if d.props.WorkgroupName != "" {
		return dataTarget{workgroup: d.props.WorkgroupName, database: d.props.DatabaseName}
	}
	return dataTarget{cluster: d.props.ClusterIdentifier, database: d.props.DatabaseName, dbUser: d.creds.Username}
}

// runStatement runs one statement through the Data API and waits for it.
// One statement is one transaction there, which is what makes a single
// COPY of the whole run atomic.
func (d *Driver) runStatement(ctx context.Context, sql, name string) error {
	_, err := d.runStatementRows(ctx, sql, name)
	return err
}

func (d *Driver) runStatementRows(ctx context.Context, sql, name string) (int64, error) {
	dt := d.dataTarget()
	in := &ExecuteStatementInput{ClusterIdentifier: dt.cluster, WorkgroupName: dt.workgroup, Database: dt.database,
		DbUser: dt.dbUser, Sql: sql, StatementName: name}
	out, err := d.data.ExecuteStatement(ctx, in)
	if err != nil {
		return 0, fault.Wrap(fault.CodeOf(err), err, "redshift: ExecuteStatement")
	}
	if out.Id == "" {
		return 0, fault.New(fault.ConnectorServer, "redshift: ExecuteStatement answered no statement Id")
	}
	tick := time.NewTicker(d.pollEvery)
	defer tick.Stop()
	for {
		st, err := d.data.DescribeStatement(ctx, out.Id)
		if err != nil {
			if ctx.Err() != nil {
				d.cancelStatement(out.Id)
				return 0, fault.Wrap(fault.Canceled, ctx.Err(), "redshift: statement %s", out.Id)
			}
			return 0, fault.Wrap(fault.CodeOf(err), err, "redshift: DescribeStatement %s", out.Id)
		}
		switch st.Status {
		case "FINISHED":
			return st.ResultRows, nil
		case "FAILED":
			return 0, fault.New(fault.ConnectorServer, "redshift: statement %s failed: %s", out.Id, st.Error)
		case "ABORTED":
			return 0, fault.New(fault.ConnectorServer, "redshift: statement %s was aborted", out.Id)
		case "":
			return 0, fault.New(fault.ConnectorServer, "redshift: DescribeStatement %s answered no Status", out.Id)
		}
		select {
		case <-ctx.Done():
			d.cancelStatement(out.Id)
			return 0, fault.Wrap(fault.Canceled, ctx.Err(), "redshift: statement %s", out.Id)
		case <-tick.C:
		}
	}
}

func (d *Driver) cancelStatement(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = d.data.CancelStatement(ctx, id)
}
