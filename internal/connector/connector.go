// Package connector is the portable layer over connector drivers.
//
// A driver (internal/connector/<name>conn) implements the small interfaces
// below for one remote system and registers itself in init. Callers hold the
// concrete *Conn, which checks arguments, wraps driver errors once with a
// fault.Code, and falls back where a driver lacks an optional interface.
//
// Drivers never see the API shapes: the connector-specific parts of a profile
// or a flow arrive as raw JSON of that connector's own member (for S3,
// destinationConnectorProperties.S3), and each driver decodes its own struct.
package connector

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/appflowd/appflowd/internal/record"
)

// Deps are what the process gives every driver: no driver reads globals.
type Deps struct {
	DataDir string // local buckets: see awsconfig.LocalRoot
	// Endpoints points outside services elsewhere (--endpoint NAME=URL):
	// AWS clients look their service up by name, and so do drivers of
	// vendors with a fixed host. Without "s3", buckets are local folders
	// under DataDir; with it, buckets of that S3 API, path-style. Without
	// "lambda", custom connectors call AWS Lambda (a URL ending in
	// /invocations is posted to as is). With "secrets_manager", custom
	// connector profiles' credentials are kept there (else they are lent
	// through Secrets).
	Endpoints  Endpoints
	Region     string
	AccountID  string
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time

	// DefaultAccountID is the process's own account (--account-id): its
	// local buckets are DataDir/s3; other accounts' are kept apart.
	DefaultAccountID string

	// CustomConnector finds a registered custom connector of an account by
	// label; the process sets it (registrations live in the store).
	CustomConnector func(ctx context.Context, accountID, label string) (*CustomConnector, error)
	// Secrets lends credentials to connector code outside the process (a
	// custom connector Lambda) as Secrets Manager secrets; nil: none.
	Secrets SecretLender
	// Env reads the process's settings that drivers document as
	// environment variables (APPFLOWD_SALESFORCE_CLIENT_ID, ...), at open
	// time so tests can set them; nil: none set.
	Env func(string) string
	// Shared keeps what drivers reuse across opens (clients, secrets);
	// nil: nothing is kept between opens.
	Shared *Shared
}

// CustomConnector is what a driver needs of a registered custom connector.
type CustomConnector struct {
	Label       string
	LambdaArn   string
	APIVersions []string // the connector's supportedApiVersions, as declared
}

// SecretLender makes value readable as a Secrets Manager secret until
// release is called, and returns the secret's ARN.
type SecretLender interface {
	Lend(accountID, name string, value []byte) (arn string, release func())
}

// Profile is a connector profile as a driver needs it.
type Profile struct {
	Name string
	// Properties is the JSON of connectorProfileConfig.connectorProfileProperties.<Type>.
	Properties json.RawMessage
	// Credentials is the decrypted JSON of connectorProfileCredentials.<Type>.
	Credentials json.RawMessage
	// Label is the custom connector's label, for CustomConnector profiles.
	Label string
	// SaveCredentials, when set, persists new credentials (the JSON of this
	// connector's credentials member) that the driver obtained: an OAuth
	// code exchanged for tokens, a refreshed access token. nil: keep them
	// in memory only.
	SaveCredentials func(ctx context.Context, creds json.RawMessage) error
}

// Filter is one row filter from a flow's Filter tasks, pushed to a source
// that can apply it. The engine always re-applies every filter, so a source
// may apply a subset (or none) without changing results.
type Filter struct {
	Field    string
	Operator string   // ConnectorOperator value: LESS_THAN, BETWEEN, EQUAL_TO, CONTAINS, ...
	Values   []string // VALUE / VALUES (VALUES are ORed); for BETWEEN: lower, upper
	DataType string   // DATA_TYPE task property, e.g. "datetime", "integer"; "" = string
}

// Window is an incremental pull window on a datetime field: [Start, End).
type Window struct {
	Field string
	Start time.Time
	End   time.Time
}

// ReadRequest says what a run reads from a source.
type ReadRequest struct {
	FlowName    string
	ExecutionID string
	// Object is the entity (sourceFlowConfig.sourceConnectorProperties.<Type>.object
	// where the connector has one; empty for S3).
	Object string
	// Properties is the JSON of sourceConnectorProperties.<Type>.
	Properties json.RawMessage
	// Fields is the projection; nil means every field.
	Fields  []string
	Filters []Filter
	Window  *Window // nil: a complete pull
}

// Split is one independently readable unit of a source: an S3 object, a
// query, a partition. The engine reads several splits concurrently.
type Split struct {
	Name string // shown in errors: an object key, an entity name
	Size int64  // bytes, when known; 0 otherwise
	// Opaque is for the driver's own use.
	Opaque any
}

// SourceDriver reads records.
type SourceDriver interface {
	// Splits lists the units to read for req.
	Splits(ctx context.Context, req *ReadRequest) ([]Split, error)
	// ReadSplit parses one split and calls emit with each batch, in order,
	// the last one with Final set. emit is not called concurrently for one
	// split; ReadSplit may be called concurrently for different splits.
	// Errors name the split and the line or record where parsing failed.
	ReadSplit(ctx context.Context, req *ReadRequest, s Split, emit func(*record.Batch) error) error
}

// FieldSpec is one destination field and its declared type (from the Map
// tasks' DESTINATION_DATA_TYPE), in output order.
type FieldSpec struct {
	Name string
	Type record.FieldType
}

// ErrorHandling is a destination's errorHandlingConfig.
type ErrorHandling struct {
	FailOnFirstError bool
	BucketName       string
	BucketPrefix     string
}

// WriteRequest says what a run writes to a destination.
type WriteRequest struct {
	FlowName      string
	ExecutionID   string
	SchemaVersion int64
	StartedAt     time.Time
	Object        string
	// SourceObject is the source's object (sourceConnectorProperties.<Type>.object,
	// e.g. a Salesforce change event); EventBridge names events after it.
	SourceObject string
	// Properties is the JSON of destinationConnectorProperties.<Type>.
	Properties     json.RawMessage
	Fields         []FieldSpec
	WriteOperation string // INSERT (default), UPSERT, UPDATE, DELETE
	IDFields       []string
	PartitionKeys  []string // from the Partition task, in order
	ErrorHandling  *ErrorHandling
	// KMSKeyArn is the flow's own kmsArn: every object the writer stages
	// or writes through an S3 API (a Snowflake or Redshift stage, the
	// error bucket) carries SSE-KMS under it (awsconfig.SSEKMS). "" when
	// the flow named none: the bucket's default encryption applies.
	KMSKeyArn string
}

// RecordFailure is one record the destination refused; the run's error
// handling decides what happens to it.
type RecordFailure struct {
	Split  string
	Line   int64
	Reason string
	Record map[string]string // the rejected record's fields, for the error bucket
}

// WriteResult sums up a committed write.
type WriteResult struct {
	RecordsWritten int64
	BytesWritten   int64
	Failures       []RecordFailure
	// Objects names what was published (object keys, table names), for
	// execution records and tests.
	Objects []string
}

// Writer receives the batches of one run. Write is called from one goroutine
// at a time, batches of one split in order. Nothing a Writer writes may be
// visible before Commit; Abort discards everything.
type Writer interface {
	Write(ctx context.Context, b *record.Batch) error
	Commit(ctx context.Context) (*WriteResult, error)
	Abort(ctx context.Context) error
}

// FailureRecorder is implemented by Writers that keep the records they
// reject (an error file, a report) so that records rejected before they
// reached the writer (a Map task's DESTINATION_DATA_TYPE that a value does
// not fit) are kept the same way. When the run continues on errors, the
// engine hands such records to RecordFailures, from the goroutine that
// calls Write, before the Write of the batch they came from; the writer then
// returns them in WriteResult.Failures and the engine does not report them
// a second time. An error from RecordFailures fails the run.
type FailureRecorder interface {
	RecordFailures(ctx context.Context, f []RecordFailure) error
}

// BatchEncoder is implemented by Writers whose Write is mostly encoding
// (text, rows into bytes), so that the engine can run the encoding on its
// transform workers, many batches at once, instead of on the one goroutine
// that calls Write. The engine calls EncodeBatch once a batch is final,
// from any goroutine, concurrently with other EncodeBatch calls and with
// Write and WriteEncoded; then, on the goroutine that calls Write and in
// the order Write would have been called, WriteEncoded in place of Write.
//
// EncodeBatch must change nothing the writer has written or will write: all
// that the output sees happens in WriteEncoded (file order, rollover, the
// first batch fixing the columns), so the result is Write's, byte for byte.
// The Encoded it returns must not refer to b's values (the engine reuses
// them once WriteEncoded returns). It returns nil, nil when it cannot
// encode b ahead (the columns are not fixed yet): the engine then calls
// Write. An error fails the run where Write of b would have been called.
type BatchEncoder interface {
	EncodeBatch(b *record.Batch) (Encoded, error)
	// WriteEncoded does what Write(ctx, b) does, with b's encoding e; it
	// takes e whatever it returns.
	WriteEncoded(ctx context.Context, b *record.Batch, e Encoded) error
}

// DeferredWriter is implemented by Writers that go on reading a batch
// after its Write returns (a background goroutine writes its cells out), so
// that the goroutine calling Write hands over the next batch meanwhile. The
// engine then calls WriteDeferred in place of Write: from the same
// goroutine, in the same order, meaning the same, except for when the
// writer is finished with b.
//
// The writer calls done exactly once for every WriteDeferred call, whatever
// the call returns, from any goroutine, before or after WriteDeferred
// returns, once it reads nothing of b any more: not its cells, nor the
// strings they point to. Until then the engine changes nothing of b and
// hands none of its memory back (record.Batch.Release); after done it may
// reuse all of it at once, so what the writer keeps it must have copied
// (or, with Capabilities.CopiesStrings unset, may keep the strings only).
//
// The writer bounds the batches it holds (given, done not called yet):
// WriteDeferred blocks, until ctx ends, while it holds as many as it
// allows. A failure found after WriteDeferred returned (the background
// write of b failed) is returned by a later WriteDeferred or by Commit, and
// fails the run there. Once ctx ends, or after any error, the writer may
// stop reading the batches it holds and call their done. Commit and Abort
// call every done still outstanding before they return, whatever they
// return, so a held batch is never reused nor released before its done;
// a writer that returns holding batches fails the run (the engine does not
// wait for dones that may never come). WriteEncoded takes
// no done: a DeferredWriter that is a BatchEncoder too gets WriteEncoded
// for the batches it encoded ahead, and those are the engine's again once
// WriteEncoded returns.
type DeferredWriter interface {
	WriteDeferred(ctx context.Context, b *record.Batch, done func()) error
}

// Encoded is a batch's encoding by a BatchEncoder. Release gives back its
// memory when the engine drops it unwritten (the run failed or was
// canceled).
type Encoded interface {
	Release()
}

// DestinationDriver writes records.
type DestinationDriver interface {
	OpenWriter(ctx context.Context, req *WriteRequest) (Writer, error)
}

// DestinationChecker is implemented by destinations that check a flow's
// destination properties (the JSON of destinationConnectorProperties.<Type>)
// against the remote system when the flow is created or updated: a
// Customer Profiles domain and object type exist. An Invalid error says
// what is missing.
type DestinationChecker interface {
	CheckDestination(ctx context.Context, props json.RawMessage) error
}

// PublishRecoverer is implemented by destinations whose Commit makes output
// visible in several steps (files moved into place one by one). Such a
// Commit first stores a durable publish intent naming everything it will
// publish, with the WriteResult it will return; the intent stays until the
// run's staging is collected. A run that a crash cut short is settled with
// RecoverPublish: with an intent, the publish is finished (roll forward) and
// the intent's result returned with published=true; without one, whatever
// the run staged is removed (roll back) and published is false. Both are
// idempotent, and safe to repeat after a second crash.
type PublishRecoverer interface {
	RecoverPublish(ctx context.Context, req *WriteRequest) (res *WriteResult, published bool, err error)
	// CollectStaging removes the staging areas and intents that runs left in
	// places the driver can list (the data dir), except those of runs for
	// which unfinished(executionID) is true. It asks unfinished only after
	// listing: a run's record exists before its staging, so a run that
	// starts meanwhile is never mistaken for garbage.
	CollectStaging(ctx context.Context, unfinished func(executionID string) bool) error
}

// Entity is one object a connector offers (a table, an sObject, a folder).
type Entity struct {
	Name              string
	Label             string
	HasNestedEntities bool
}

// EntityField describes one field of an entity.
type EntityField struct {
	Name            string
	Label           string
	Type            record.FieldType
	IsPrimaryKey    bool
	Nullable        bool
	FilterOperators []string
	WriteOperations []string // which destination write operations may set it
	Creatable       bool
	Updatable       bool
	Upsertable      bool
	Queryable       bool
	// IsTimestampForIncremental marks fields usable as datetimeTypeFieldName.
	IsTimestampForIncremental bool
}

// CatalogDriver lists and describes entities.
type CatalogDriver interface {
	// ListEntities returns entities grouped by group name ("Objects" for flat
	// connectors) under path ("" is the top level).
	ListEntities(ctx context.Context, path string) (map[string][]Entity, error)
	DescribeEntity(ctx context.Context, name string) ([]EntityField, error)
}

// ProfileChecker is implemented by drivers that can prove a profile works
// (connect and log in) when it is created or updated.
type ProfileChecker interface {
	CheckProfile(ctx context.Context) error
}

// Driver is what an Opener returns: any value implementing at least one of
// SourceDriver, DestinationDriver, CatalogDriver, ProfileChecker; plus
// io.Closer if it holds resources.
type Driver any

// Opener builds a driver for one profile (profile is empty for connectors
// that take none, such as S3).
type Opener func(ctx context.Context, deps Deps, profile Profile) (Driver, error)

// RetiredError is what a destination whose service AWS ended returns for
// every run (Lookout for Metrics, Honeycode): flows with it are kept, and
// each run ends in Error with exactly Message, unprefixed.
type RetiredError struct{ Message string }

func (e *RetiredError) Error() string { return e.Message }

// Retired is implemented by drivers of retired services: Retired is the
// message every run ends with.
type Retired interface {
	Retired() string
}

// Clock is deps.Now, or time.Now when the process set none.
func (d Deps) Clock() func() time.Time {
	if d.Now == nil {
		return time.Now
	}
	return d.Now
}
