// Package events publishes the EventBridge events AppFlow emits about flows
// (data-plane 7.3, 6.4): "AppFlow End Flow Run Report" when a run ends and
// "AppFlow Scheduled Flow Deactivated" (or "AppFlow Event Flow
// Deactivated") when appflowd suspends a flow, on the default event bus,
// with source "aws.appflow" and every number in the detail as a JSON string.
//
// Delivery is best effort, as AWS documents it for these events: a failed
// PutEvents is logged and never changes the run or the flow. Without an
// endpoint (no --endpoint eventbridge=URL) New returns a nil *Emitter, whose
// methods do nothing, so no event is sent anywhere by default.
//
// Choices where AWS publishes no example [U, data-plane 12]:
//   - status is "Execution Successful", "Execution Failed" or "Execution
//     Canceled"; runs that did not succeed add "error", the executionMessage.
//   - the deactivation detail carries the flow's identity fields of the run
//     report plus "deactivation-reason" and "deactivation-time".
//   - resources holds one opaque flow id (hex MD5 of the flow ARN), as the
//     sample events hold an opaque id rather than the ARN.
//   - events go to the default bus of the account the endpoint's
//     credentials belong to, whichever appflowd account owns the flow.
package events

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/wire"
)

// Source is the source of every event this package sends.
const Source = "aws.appflow"

// Detail types (EventBridge events reference, Amazon AppFlow events).
const (
	EndFlowRunReport         = "AppFlow End Flow Run Report"
	ScheduledFlowDeactivated = "AppFlow Scheduled Flow Deactivated"
	EventFlowDeactivated     = "AppFlow Event Flow Deactivated"
)

// Run statuses in the End Flow Run Report.
const (
	StatusSuccessful = "Execution Successful"
	StatusFailed     = "Execution Failed"
	StatusCanceled   = "Execution Canceled"
)

// sendTimeout bounds one PutEvents, retries included: a report must not hold
// up the run that produced it for long.
const sendTimeout = 15 * time.Second

// Config is what New needs.
type Config struct {
	// Endpoint is the EventBridge API URL; "" turns events off.
	Endpoint   string
	Region     string
	HTTPClient *http.Client // nil: the SDK's default
	Logger     *slog.Logger
	// Credentials, when set, replace the default AWS credential chain.
	Credentials aws.CredentialsProvider
}

// Emitter sends flow events. A nil *Emitter sends nothing.
type Emitter struct {
	client *eventbridge.Client
	logger *slog.Logger
}

// New returns an Emitter for c.Endpoint, or nil when it is empty. It loads
// the default AWS credential chain (AWS_ACCESS_KEY_ID etc.).
func New(ctx context.Context, c Config) (*Emitter, error) {
	if c.Endpoint == "" {
		return nil, nil
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var opts []func(*config.LoadOptions) error
	if c.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(c.Credentials))
	}
	cfg, err := awsconfig.Load(ctx, connector.Deps{Region: c.Region, HTTPClient: c.HTTPClient}, "", opts...)
	if err != nil {
		return nil, fmt.Errorf("events: load AWS config: %w", err)
	}
	endpoint := c.Endpoint
	client := eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(endpoint) })
	return &Emitter{client: client, logger: c.Logger}, nil
}

// Flow is a flow definition as DescribeFlow returns it (the store's flow
// document).
type Flow = wire.DescribeFlowResponse

// RunReport sends the End Flow Run Report of a finished execution; filtered
// is how many records filters and the incremental window dropped (the
// execution record does not keep it).
func (e *Emitter) RunReport(ctx context.Context, f *Flow, rec *wire.ExecutionRecord, filtered int64) {
	if e == nil || f == nil || rec == nil {
		return
	}
	e.send(ctx, f, EndFlowRunReport, RunReportDetail(f, rec, filtered))
}

// FlowDeactivated sends the deactivation event of a flow appflowd
// suspended at at for reason: "AppFlow Event Flow Deactivated" for an
// event-triggered flow, else "AppFlow Scheduled Flow Deactivated".
func (e *Emitter) FlowDeactivated(ctx context.Context, f *Flow, reason string, at time.Time) {
	if e == nil || f == nil {
		return
	}
	typ := ScheduledFlowDeactivated
	if f.TriggerConfig != nil && f.TriggerConfig.TriggerType == wire.TriggerTypeEvent {
		typ = EventFlowDeactivated
	}
	e.send(ctx, f, typ, DeactivationDetail(f, reason, at))
}

func (e *Emitter) send(ctx context.Context, f *Flow, detailType string, detail map[string]string) {
	body, err := json.Marshal(detail)
	if err != nil {
		e.logger.Warn("flow event not sent", "flow", f.FlowName, "detail_type", detailType, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	out, err := e.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source:     aws.String(Source),
		DetailType: aws.String(detailType),
		Detail:     aws.String(string(body)),
		Resources:  []string{FlowID(f.FlowArn)},
	}}})
	if err == nil && out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		err = fmt.Errorf("%s: %s", aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage))
	}
	if err != nil {
		e.logger.Warn("flow event not sent", "flow", f.FlowName, "detail_type", detailType, "err", err)
	}
}

// FlowID is the opaque flow id the events carry in resources.
func FlowID(flowArn string) string {
	sum := md5.Sum([]byte(flowArn))
	return hex.EncodeToString(sum[:])
}

// Time renders a time as AppFlow's reports do: "2023-08-29T12:55:23.835Z[UTC]".
func Time(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z") + "[UTC]"
}

// RunReportDetail is the detail of an End Flow Run Report.
func RunReportDetail(f *Flow, rec *wire.ExecutionRecord, filtered int64) map[string]string {
	d := flowDetail(f)
	var res wire.ExecutionResult
	if rec.ExecutionResult != nil {
		res = *rec.ExecutionResult
	}
	var failures int64
	message := ""
	if res.ErrorInfo != nil {
		failures = deref(res.ErrorInfo.PutFailuresCount)
		message = res.ErrorInfo.ExecutionMessage
	}
	d["execution-id"] = rec.ExecutionId
	d["num-of-records-processed"] = itoa(deref(res.RecordsProcessed))
	d["num-of-records-filtered"] = itoa(filtered)
	// Documents are Veeva's; no appflowd connector reads any.
	d["num-of-documents-processed"] = "0"
	d["num-of-record-failures"] = itoa(failures)
	d["data-processed"] = itoa(deref(res.BytesProcessed))
	d["start-time"] = timestamp(rec.StartedAt)
	d["end-time"] = timestamp(rec.LastUpdatedAt)
	switch rec.ExecutionStatus {
	case wire.ExecutionStatusSuccessful:
		d["status"] = StatusSuccessful
	case wire.ExecutionStatusCanceled:
		d["status"] = StatusCanceled
		d["error"] = message
	default:
		d["status"] = StatusFailed
		d["error"] = message
	}
	return d
}

// DeactivationDetail is the detail of a Flow Deactivated event.
func DeactivationDetail(f *Flow, reason string, at time.Time) map[string]string {
	d := flowDetail(f)
	d["deactivation-reason"] = reason
	d["deactivation-time"] = Time(at)
	return d
}

// flowDetail holds the fields naming the flow, its ends and its trigger.
func flowDetail(f *Flow) map[string]string {
	d := map[string]string{
		"flow-name":  f.FlowName,
		"flow-arn":   f.FlowArn,
		"created-by": f.CreatedBy,
	}
	trigger := wire.TriggerTypeOnDemand
	if f.TriggerConfig != nil && f.TriggerConfig.TriggerType != "" {
		trigger = f.TriggerConfig.TriggerType
	}
	d["trigger-type"] = strings.ToUpper(string(trigger)) // ONDEMAND, SCHEDULED, EVENT
	if s := f.SourceFlowConfig; s != nil {
		d["source"] = end(string(s.ConnectorType), s.ConnectorProfileName)
		d["source-object"] = object(s.SourceConnectorProperties, string(s.ConnectorType))
	}
	if len(f.DestinationFlowConfigList) > 0 {
		dc := f.DestinationFlowConfigList[0]
		d["destination"] = end(string(dc.ConnectorType), dc.ConnectorProfileName)
		d["destination-object"] = object(dc.DestinationConnectorProperties, string(dc.ConnectorType))
	}
	return d
}

// end names a flow's source or destination as the reports do: the type
// alone without a profile ("S3"), else "TYPE/profile"
// ("CUSTOMCONNECTOR/my-profile").
func end(typ, profile string) string {
	if profile == "" {
		return typ
	}
	return strings.ToUpper(typ) + "/" + profile
}

// object reads what a source or destination reads or writes from its
// connector properties union: "s3://bucket/prefix" for a bucket, else its
// object (or a custom connector's entityName).
func object(props any, typ string) string {
	raw, err := json.Marshal(props)
	if err != nil {
		return ""
	}
	var union map[string]json.RawMessage
	if json.Unmarshal(raw, &union) != nil {
		return ""
	}
	member, ok := union[wire.UnionKey(wire.ConnectorType(typ))]
	if !ok {
		for _, m := range union { // one member is set
			member = m
		}
	}
	var p struct {
		BucketName   string `json:"bucketName"`
		BucketPrefix string `json:"bucketPrefix"`
		Object       string `json:"object"`
		EntityName   string `json:"entityName"`
	}
	if json.Unmarshal(member, &p) != nil {
		return ""
	}
	switch {
	case p.BucketName != "":
		if prefix := strings.Trim(p.BucketPrefix, "/"); prefix != "" {
			return "s3://" + p.BucketName + "/" + prefix
		}
		return "s3://" + p.BucketName
	case p.Object != "":
		return p.Object
	}
	return p.EntityName
}

func timestamp(t *wire.Timestamp) string {
	if t == nil {
		return ""
	}
	return Time(t.Time)
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
