// Package eventbridgeconn is the Amazon EventBridge destination
// (destinationConnectorProperties.EventBridge{object, errorHandlingConfig};
// data-plane 9.3, connectors-aws 2): every record becomes one event.
//
//   - object is the partner event source name, e.g.
//     aws.partner/appflow/salesforce.com/123456789012/orders. Each event has
//     Source = object and EventBusName = object (a partner event bus is
//     named after its source). Deviation, documented: on real AWS a
//     self-hosted appflowd is not a registered partner and PutEvents cannot
//     name a partner bus, so there object must be the name of a custom bus
//     (no "/"), which then also serves as the source.
//   - detail is the record after the flow's tasks, one JSON object in field
//     order (numbers and booleans unquoted, times as RFC 3339 strings, nested
//     JSON as is); detail-type is the Salesforce event name for a change
//     event record (ChangeEventHeader.entityName + "ChangeEvent"), else the
//     flow's source object, else the flow name.
//   - PutEvents takes at most 10 entries and 256 KB a call: batches are
//     greedy within both. An event over the limit (Source + DetailType +
//     Detail bytes, EventBridge's own size rule) goes whole, as
//     {"source","detail-type","detail"} JSON, to
//     s3://{bucketName}/{bucketPrefix}/{flowName}/{executionId}/large-events/{n}.json
//     of errorHandlingConfig, and a pointer event with the same source and
//     detail-type is sent instead, its detail
//     {"largeEvent":true,"bucket":..,"key":..,"sizeBytes":..}. Without an
//     error bucket such a record is a put failure. The limit is
//     APPFLOWD_EVENTBRIDGE_MAX_EVENT_BYTES (default 262144, AppFlow's;
//     EventBridge itself now takes 1 MB).
//   - Entries PutEvents rejects (FailedEntryCount, Entries[].ErrorCode and
//     ErrorMessage) become WriteResult.Failures, also written as JSON Lines
//     to {bucketPrefix}/{flowName}/{executionId}/eventbridge-rejected-records.jsonl
//     of the error bucket; with failOnFirstDestinationError the run fails
//     after the batch holding the first rejection. InternalFailure and
//     ThrottlingException entries are resent, with backoff, by internal/retry
//     (the SDK's own retryer is off, so retries live in one place).
//
// Nothing is sent before Commit: Write buffers the events in a temporary
// file and Commit sends them. Events are not transactional: if sending
// fails part way (a whole-request error after retries, or a rejection with
// failOnFirstDestinationError), the events already accepted stay on the bus
// and cannot be withdrawn. Commit then fails with a message naming how many
// events were accepted, which becomes the Error execution record's
// executionMessage (its counters are those of a failed run).
package eventbridgeconn

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/retry"
)

// Type is the ConnectorType enum value this package registers.
const Type = "EventBridge"

// DefaultMaxEventBytes is AppFlow's event size limit (256 KB).
const DefaultMaxEventBytes = 256 * 1024

// maxEntries is PutEvents' limit on entries per call.
const maxEntries = 10

// MaxEventBytesEnv overrides DefaultMaxEventBytes.
const MaxEventBytesEnv = "APPFLOWD_EVENTBRIDGE_MAX_EVENT_BYTES"

func init() { connector.Register(Spec()) }

// Spec registers the driver, a destination; the catalog entry
// (internal/connector/catalog) supplies the rest of the capabilities.
func Spec() connector.Spec {
	return connector.Spec{Capabilities: connector.Capabilities{Type: Type, CanUseAsDestination: true}, Open: Open}
}

// Driver is the EventBridge driver; it implements connector.DestinationDriver.
type Driver struct {
	deps   connector.Deps
	client *eventbridge.Client
	// MaxEventBytes is the size past which an event goes to S3.
	MaxEventBytes int
	// Retry resends throttled entries and transient request failures.
	Retry retry.Policy
}

var _ connector.DestinationDriver = (*Driver)(nil)

// Open is the connector.Opener for EventBridge; it takes no profile.
func Open(ctx context.Context, deps connector.Deps, _ connector.Profile) (connector.Driver, error) {
	return New(ctx, deps)
}

// New builds a driver on the eventbridge endpoint (none = the region's AWS
// endpoint), with the default AWS credential chain.
func New(ctx context.Context, deps connector.Deps) (*Driver, error) {
	d := &Driver{deps: deps, MaxEventBytes: DefaultMaxEventBytes}
	if deps.Env != nil {
		if v := deps.Env(MaxEventBytesEnv); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fault.New(fault.Invalid, "eventbridge: %s must be a positive number of bytes, got %q", MaxEventBytesEnv, v)
			}
			d.MaxEventBytes = n
		}
	}
	cfg, err := awsconfig.Load(ctx, deps, "")
	if err != nil {
		return nil, fmt.Errorf("eventbridge: %w", err)
	}
	endpoint := awsconfig.Endpoint(deps, connector.EndpointEventBridge)
	d.client = eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		o.BaseEndpoint = endpoint
		// internal/retry is the one retry layer.
		o.RetryMaxAttempts = 1
	})
	return d, nil
}
