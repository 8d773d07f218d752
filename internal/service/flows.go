package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/schedule"
	"github.com/appflowd/appflowd/internal/secrets"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/transform"
	"github.com/appflowd/appflowd/internal/wire"
)

// The flow document (store.Flow.Doc) is the JSON of a wire.DescribeFlowResponse
// without tags (kept in the tags table), lastRunExecutionDetails and
// lastRunMetadataCatalogDetails (both read from the newest execution). The
// Status column is authoritative for flowStatus: the runner may change it
// (deactivation after repeated failures) without rewriting the document.

const (
	// flowQuota is AppFlow's default number of flows per account (spec §11).
	flowQuota = 1000
	// flowPageSize is the default maxResults of every paginated call (spec §1.7).
	flowPageSize = 20
	// flowWriteAttempts bounds the read-modify-write retries when a concurrent
	// writer (another request, the runner) bumped the flow's version.
	flowWriteAttempts = 5
	// flowMsgSuccess is AppFlow's own wording for a successful last run.
	flowMsgSuccess = "Successfully ran the flow"
)

// flowDef is the part of a flow that CreateFlow and UpdateFlow both carry.
type flowDef struct {
	Trigger *wire.TriggerConfig
	Source  *wire.SourceFlowConfig
	Dests   []wire.DestinationFlowConfig
	Tasks   []wire.Task
	Catalog *wire.MetadataCatalogConfig // checked in awschecks.go
}

// flowChecked is what flowCheck learned about a definition.
type flowChecked struct {
	ProfileNames []string
}

func (s *Service) flowRegistry() *connector.Registry {
	if s.d.Registry != nil {
		return s.d.Registry
	}
	return connector.Default()
}

// flowPrincipal is the createdBy/lastUpdatedBy of a call. Without IAM the
// account root is the only principal we can name (spec §2).
func (s *Service) flowPrincipal(ctx context.Context) string {
	return "arn:aws:iam::" + s.account(ctx) + ":root"
}

// flowDefaultKMSArn is the account's stand-in for AppFlow's AWS-managed key:
// AppFlow reports a kmsArn even when none was given (spec §4.1). It is
// derived from (region, account), so it is stable across restarts and
// replicas.
func (s *Service) flowDefaultKMSArn(ctx context.Context) string {
	return secrets.DefaultKeyArn(s.d.Region, s.account(ctx))
}

func flowNotFound(name string) error {
	return fault.New(fault.NotFound, "Flow with name %s does not exist.", name)
}

// flowGet reads a flow and its document; a missing flow is NotFound.
func (s *Service) flowGet(ctx context.Context, account, name string) (*store.Flow, *wire.DescribeFlowResponse, error) {
	f, err := s.d.Store.FlowGet(ctx, account, name)
	if store.IsNotFound(err) {
		return nil, nil, flowNotFound(name)
	}
	if err != nil {
		return nil, nil, fault.Wrap(fault.Internal, err, "read flow %s", name)
	}
	var doc wire.DescribeFlowResponse
	if err := json.Unmarshal(f.Doc, &doc); err != nil {
		return nil, nil, fault.Wrap(fault.Internal, err, "decode flow %s", name)
	}
	if f.Status != "" {
		doc.FlowStatus = wire.FlowStatus(f.Status)
	}
	return f, &doc, nil
}

// flowCheck applies AppFlow's semantic rules to a definition (the model's
// constraints were checked by restjson): one destination, connector
// capabilities, existing profiles of the right type, a supported trigger, a
// valid schedule, and a task list the transform compiles.
func (s *Service) flowCheck(ctx context.Context, op string, d *flowDef) (*flowChecked, error) {
	if len(d.Dests) != 1 {
		return nil, fault.New(fault.Invalid, "Exactly one destination is supported in destinationFlowConfigList, got %d.", len(d.Dests))
	}
	src, dst := d.Source, &d.Dests[0]
	var out flowChecked
	srcSpec, err := s.flowCheckEnd(ctx, "source", src.ConnectorType, src.ConnectorProfileName, src.SourceConnectorProperties)
	if err != nil {
		return nil, err
	}
	if _, err := s.flowCheckEnd(ctx, "destination", dst.ConnectorType, dst.ConnectorProfileName, dst.DestinationConnectorProperties); err != nil {
		return nil, err
	}
	if len(srcSpec.SupportedDestinations) > 0 && !slices.Contains(srcSpec.SupportedDestinations, string(dst.ConnectorType)) {
		return nil, fault.New(fault.Invalid, "Destination connector %s is not supported for source connector %s.", dst.ConnectorType, src.ConnectorType)
	}
	for _, n := range []string{src.ConnectorProfileName, dst.ConnectorProfileName} {
		if n != "" && !slices.Contains(out.ProfileNames, n) {
			out.ProfileNames = append(out.ProfileNames, n)
		}
	}
	sort.Strings(out.ProfileNames)

	if err := flowCheckTrigger(d.Trigger, srcSpec); err != nil {
		return nil, err
	}
	if err := flowCheckTasks(op, d.Tasks, src.ConnectorType, srcSpec); err != nil {
		return nil, err
	}
	if err := s.flowCheckCustomSettings(ctx, d); err != nil { // customflows.go
		return nil, err
	}
	if err := flowCheckBuckets(d); err != nil { // bucketchecks.go
		return nil, err
	}
	if err := s.flowCheckAWS(ctx, d); err != nil { // awschecks.go
		return nil, err
	}
	return &out, nil
}

// flowCheckTasks refuses a task list early, at CreateFlow or UpdateFlow,
// rather than at the first run: the transform compiles it with the
// source's operators, and a record-based source (every source whose
// capabilities do not make the projection optional) needs a projection or
// a Map_all (spec §4.1.6).
func flowCheckTasks(op string, tasks []wire.Task, source wire.ConnectorType, caps connector.Capabilities) error {
	tt := make([]transform.Task, len(tasks))
	projected := false
	for i, t := range tasks {
		operator, err := flowOperator(t.ConnectorOperator, source)
		if err != nil {
			return err
		}
		tt[i] = transform.Task{Type: string(t.TaskType), SourceFields: t.SourceFields, Operator: operator,
			DestinationField: t.DestinationField, Properties: t.TaskProperties}
		if t.TaskType == wire.TaskTypeMapAll || (t.TaskType == wire.TaskTypeFilter && operator == "PROJECTION") {
			projected = true
		}
	}
	if !projected && !caps.ProjectionOptional {
		return fault.New(fault.Invalid, "%s request failed: [Task Validation Error: You must specify a projection task or a MAP_ALL task]", op)
	}
	if _, err := transform.Compile(tt, transform.Options{SourceConnector: string(source), SourceOperators: caps.Operators,
		ProjectionWritesRecords: caps.ProjectionWritesRecords}); err != nil {
		if fault.CodeOf(err) == fault.Unknown {
			return fault.Wrap(fault.Invalid, err, "%s request failed: [Task Validation Error]", op)
		}
		return err
	}
	return nil
}

// flowOperator is a task's connectorOperator value. The union should be
// keyed by the source connector (data-plane spec §13.1); a single member
// under another key is read all the same (the transform takes the value
// whichever key it came under), more than one is refused as ambiguous —
// even when one is the source's, since the runner refuses such a task and
// every run of the flow would fail.
func flowOperator(co *wire.ConnectorOperator, source wire.ConnectorType) (string, error) {
	if co == nil {
		return "", nil
	}
	members, err := unionMembers(co)
	if err != nil {
		return "", err
	}
	if len(members) > 1 {
		return "", fault.New(fault.Invalid, "A task's connectorOperator must have one member, keyed by the source connector type %s.", source)
	}
	raw, ok := members[flowUnionKey(source)]
	if !ok {
		for _, r := range members {
			raw = r
		}
	}
	if raw == nil {
		return "", nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fault.Wrap(fault.Invalid, err, "connectorOperator")
	}
	return v, nil
}

// flowCheckEnd checks one end of a flow: the connector type can play the
// role, its properties member is present, and its profile exists and is of
// the same type. It returns the connector's capabilities: a built-in's from
// the registry, a custom connector's from its registration (the label is
// the profile's).
func (s *Service) flowCheckEnd(ctx context.Context, role string, typ wire.ConnectorType, profile string, props any) (connector.Capabilities, error) {
	var caps connector.Capabilities
	custom := typ == wire.ConnectorTypeCustomConnector
	if !custom {
		spec, ok := s.flowRegistry().Lookup(string(typ))
		if !ok {
			return caps, fault.New(fault.Invalid, "Connector type %s is not supported.", typ)
		}
		caps = spec.Capabilities
		if err := flowCheckRole(caps, role, typ); err != nil {
			return caps, err
		}
	}
	member := "sourceConnectorProperties"
	if role == "destination" {
		member = "destinationConnectorProperties"
	}
	raw, err := unionMember(props, string(typ))
	if err != nil || len(raw) == 0 || string(raw) == "null" {
		return caps, fault.New(fault.Invalid, "%s.%s is required when the %s connector type is %s.", member, flowUnionKey(typ), role, typ)
	}
	if profile == "" {
		if caps.NeedsProfile || custom {
			return caps, fault.New(fault.Invalid, "A connectorProfileName is required for the %s connector %s.", role, typ)
		}
		return caps, nil
	}
	p, err := s.d.Store.ProfileGet(ctx, s.account(ctx), profile)
	if store.IsNotFound(err) {
		return caps, fault.New(fault.NotFound, "Connector Profile with name %s does not exist.", profile)
	}
	if err != nil {
		return caps, fault.Wrap(fault.Internal, err, "read connector profile %s", profile)
	}
	if p.ConnectorType != string(typ) {
		return caps, fault.New(fault.Invalid, "Connector Profile %s is of connector type %s, but the %s connector type is %s.", profile, p.ConnectorType, role, typ)
	}
	if !custom {
		return caps, nil
	}
	reg, err := s.registration(ctx, p.Label)
	if err != nil {
		return caps, err
	}
	doc, err := decodeRegistration(reg)
	if err != nil {
		return caps, err
	}
	caps = flowCustomCapabilities(p.Label, &doc.Configuration)
	return caps, flowCheckRole(caps, role, typ)
}

func flowCheckRole(caps connector.Capabilities, role string, typ wire.ConnectorType) error {
	can := caps.CanUseAsSource
	if role == "destination" {
		can = caps.CanUseAsDestination
	}
	if can {
		return nil
	}
	name := string(typ)
	if caps.Type != "" && caps.Type != name {
		name = caps.Type // a custom connector's label
	}
	return fault.New(fault.Invalid, "Connector type %s cannot be used as a %s.", name, role)
}

// flowCustomCapabilities reads what a flow check needs from a custom
// connector's registered configuration; its schedule floor is its most
// frequent supported scheduling frequency.
func flowCustomCapabilities(label string, c *wire.ConnectorConfiguration) connector.Capabilities {
	caps := connector.Capabilities{
		Type:                label,
		CanUseAsSource:      c.CanUseAsSource != nil && *c.CanUseAsSource,
		CanUseAsDestination: c.CanUseAsDestination != nil && *c.CanUseAsDestination,
		NeedsProfile:        true,
	}
	for _, t := range c.SupportedTriggerTypes {
		caps.TriggerTypes = append(caps.TriggerTypes, string(t))
	}
	for _, d := range c.SupportedDestinationConnectors {
		caps.SupportedDestinations = append(caps.SupportedDestinations, string(d))
	}
	floors := map[wire.ScheduleFrequencyType]int{
		wire.ScheduleFrequencyTypeByminute: 1, wire.ScheduleFrequencyTypeHourly: 60, wire.ScheduleFrequencyTypeDaily: 24 * 60,
		wire.ScheduleFrequencyTypeWeekly: 7 * 24 * 60, wire.ScheduleFrequencyTypeMonthly: 28 * 24 * 60,
	}
	for _, f := range c.SupportedSchedulingFrequencies {
		if m, ok := floors[f]; ok && (caps.MinScheduleMinutes == 0 || m < caps.MinScheduleMinutes) {
			caps.MinScheduleMinutes = m
		}
	}
	return caps
}

// flowUnionKey is the union member name of a connector type, for messages.
func flowUnionKey(typ wire.ConnectorType) string { return wire.UnionKey(typ) }

// flowCheckTrigger checks the trigger against the source's supported trigger
// types and parses a schedule. A connector that lists no trigger types
// supports OnDemand and Scheduled (every built-in does, spec §7.3).
func flowCheckTrigger(t *wire.TriggerConfig, src connector.Capabilities) error {
	allowed := src.TriggerTypes
	if len(allowed) == 0 {
		allowed = []string{string(wire.TriggerTypeOnDemand), string(wire.TriggerTypeScheduled)}
	}
	if !slices.Contains(allowed, string(t.TriggerType)) {
		return fault.New(fault.Invalid, "Trigger type %s is not supported for source connector %s; supported trigger types: %s.",
			t.TriggerType, src.Type, strings.Join(allowed, ", "))
	}
	if t.TriggerType != wire.TriggerTypeScheduled {
		return nil
	}
	if t.TriggerProperties == nil || t.TriggerProperties.Scheduled == nil || t.TriggerProperties.Scheduled.ScheduleExpression == "" {
		return fault.New(fault.Invalid, "triggerConfig.triggerProperties.Scheduled.scheduleExpression is required for a Scheduled flow.")
	}
	sp := t.TriggerProperties.Scheduled
	plan := schedule.Plan{Expr: sp.ScheduleExpression}
	if sp.ScheduleStartTime != nil {
		plan.StartTime = sp.ScheduleStartTime.Time
	}
	if sp.ScheduleEndTime != nil {
		plan.EndTime = sp.ScheduleEndTime.Time
	}
	if sp.ScheduleOffset != nil {
		plan.Offset = time.Duration(*sp.ScheduleOffset) * time.Second
	}
	if err := plan.Validate(); err != nil {
		return err
	}
	if src.MinScheduleMinutes > 0 {
		sch, err := schedule.Parse(sp.ScheduleExpression)
		if err != nil {
			return err
		}
		if err := schedule.CheckMinInterval(sch, time.Duration(src.MinScheduleMinutes)*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// flowInitialStatus is the status of a new flow (spec §3.1): on-demand flows
// are ready to run, scheduled and event flows wait for StartFlow.
func flowInitialStatus(t wire.TriggerType) wire.FlowStatus {
	if t == wire.TriggerTypeOnDemand {
		return wire.FlowStatusActive
	}
	return wire.FlowStatusDraft
}

// flowNormalize applies the normalizations AppFlow is observed to make
// (spec §4.2): a Map_all task's [""] sourceFields come back empty, and an
// errorHandlingConfig without failOnFirstDestinationError gets false.
// Everything else is echoed as given.
func flowNormalize(doc *wire.DescribeFlowResponse) {
	for i := range doc.Tasks {
		t := &doc.Tasks[i]
		if t.TaskType == wire.TaskTypeMapAll && len(t.SourceFields) == 1 && t.SourceFields[0] == "" {
			t.SourceFields = []string{}
		}
	}
	for i := range doc.DestinationFlowConfigList {
		p := doc.DestinationFlowConfigList[i].DestinationConnectorProperties
		if p == nil {
			continue
		}
		for _, c := range flowErrorHandlingConfigs(p) {
			if c != nil && c.FailOnFirstDestinationError == nil {
				f := false
				c.FailOnFirstDestinationError = &f
			}
		}
	}
}

// flowErrorHandlingConfigs lists the errorHandlingConfig of every
// destination union member that has one.
func flowErrorHandlingConfigs(p *wire.DestinationConnectorProperties) []*wire.ErrorHandlingConfig {
	var out []*wire.ErrorHandlingConfig
	if p.CustomConnector != nil {
		out = append(out, p.CustomConnector.ErrorHandlingConfig)
	}
	if p.EventBridge != nil {
		out = append(out, p.EventBridge.ErrorHandlingConfig)
	}
	if p.Honeycode != nil {
		out = append(out, p.Honeycode.ErrorHandlingConfig)
	}
	if p.Marketo != nil {
		out = append(out, p.Marketo.ErrorHandlingConfig)
	}
	if p.Redshift != nil {
		out = append(out, p.Redshift.ErrorHandlingConfig)
	}
	if p.SAPOData != nil {
		out = append(out, p.SAPOData.ErrorHandlingConfig)
	}
	if p.Salesforce != nil {
		out = append(out, p.Salesforce.ErrorHandlingConfig)
	}
	if p.Snowflake != nil {
		out = append(out, p.Snowflake.ErrorHandlingConfig)
	}
	if p.Zendesk != nil {
		out = append(out, p.Zendesk.ErrorHandlingConfig)
	}
	return out
}

// flowSchemaFingerprint identifies what schemaVersion counts (spec §3.5):
// the source-to-destination field mappings, the field data types, the
// destination connector types and the partition keys. Task order does not
// matter.
func flowSchemaFingerprint(tasks []wire.Task, dests []wire.DestinationFlowConfig) string {
	var parts []string
	for _, t := range tasks {
		switch t.TaskType {
		case wire.TaskTypeMap, wire.TaskTypeMapAll:
			fields, _ := json.Marshal(t.SourceFields)
			parts = append(parts, strings.Join([]string{
				"map", string(t.TaskType), string(fields), t.DestinationField,
				t.TaskProperties[string(wire.OperatorPropertiesKeysSourceDataType)],
				t.TaskProperties[string(wire.OperatorPropertiesKeysDestinationDataType)],
				t.TaskProperties[string(wire.OperatorPropertiesKeysExcludeSourceFieldsList)],
			}, "\x00"))
		case wire.TaskTypePartition:
			parts = append(parts, "partition\x00"+t.TaskProperties[string(wire.OperatorPropertiesKeysOrderedPartitionKeysList)])
		}
	}
	for _, d := range dests {
		parts = append(parts, "dest\x00"+string(d.ConnectorType))
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x01")))
	return hex.EncodeToString(sum[:])
}

// flowCount counts the account's flows, stopping at limit.
func (s *Service) flowCount(ctx context.Context, account string, limit int) (int, error) {
	n, after := 0, ""
	for {
		flows, next, err := s.d.Store.FlowList(ctx, &store.FlowListParams{AccountID: account, Page: store.Page{After: after, Limit: 100}})
		if err != nil {
			return 0, err
		}
		n += len(flows)
		if next == "" || n >= limit {
			return n, nil
		}
		after = next
	}
}

func (s *Service) flowQuotaExceeded() error {
	return fault.New(fault.QuotaExceeded, "You have reached the quota of %d flows in this account.", s.d.MaxFlows)
}

// CreateFlow creates a flow: Active when on demand, Draft otherwise.
func (s *Service) CreateFlow(ctx context.Context, in *wire.CreateFlowRequest) (*wire.CreateFlowResponse, error) {
	return idempotent(ctx, s, "CreateFlow", in.ClientToken, in, func() (*wire.CreateFlowResponse, error) {
		return s.createFlow(ctx, in)
	})
}

func (s *Service) createFlow(ctx context.Context, in *wire.CreateFlowRequest) (*wire.CreateFlowResponse, error) {
	account := s.account(ctx)
	def := &flowDef{Trigger: in.TriggerConfig, Source: in.SourceFlowConfig, Dests: in.DestinationFlowConfigList,
		Tasks: in.Tasks, Catalog: in.MetadataCatalogConfig}
	checked, err := s.flowCheck(ctx, "Create Flow", def)
	if err != nil {
		return nil, err
	}
	if err := s.checkKMSKey(ctx, in.KmsArn); err != nil { // awschecks.go
		return nil, err
	}
	if _, err := s.d.Store.FlowGet(ctx, account, in.FlowName); err == nil {
		return nil, flowExists(in.FlowName)
	} else if !store.IsNotFound(err) {
		return nil, fault.Wrap(fault.Internal, err, "read flow %s", in.FlowName)
	}
	n, err := s.flowCount(ctx, account, s.d.MaxFlows)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "count flows")
	}
	if n >= s.d.MaxFlows {
		return nil, s.flowQuotaExceeded()
	}

	now := s.d.Now().UTC().Truncate(time.Millisecond)
	arn := s.arn(ctx, arnFlow, in.FlowName)
	status := flowInitialStatus(in.TriggerConfig.TriggerType)
	kms := in.KmsArn
	if kms == "" {
		kms = s.flowDefaultKMSArn(ctx)
	}
	principal := s.flowPrincipal(ctx)
	one := int64(1)
	doc := wire.DescribeFlowResponse{
		FlowArn:                   arn,
		FlowName:                  in.FlowName,
		Description:               in.Description,
		KmsArn:                    kms,
		FlowStatus:                status,
		SourceFlowConfig:          in.SourceFlowConfig,
		DestinationFlowConfigList: in.DestinationFlowConfigList,
		Tasks:                     in.Tasks,
		TriggerConfig:             in.TriggerConfig,
		MetadataCatalogConfig:     in.MetadataCatalogConfig,
		CreatedAt:                 wire.NewTimestamp(now),
		LastUpdatedAt:             wire.NewTimestamp(now),
		CreatedBy:                 principal,
		LastUpdatedBy:             principal,
		SchemaVersion:             &one,
	}
	flowNormalize(&doc)
	body, err := encodePlain(&doc)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode flow %s", in.FlowName)
	}
	f := &store.Flow{
		AccountID: account, Name: in.FlowName, Arn: arn, Status: string(status), Doc: body,
		ProfileNames: checked.ProfileNames, CreatedAt: now, UpdatedAt: now, MaxPerAccount: s.d.MaxFlows,
	}
	if err := s.d.Store.FlowCreate(ctx, f); err != nil {
		if store.IsConflict(err) {
			return nil, flowExists(in.FlowName)
		}
		if store.IsQuotaExceeded(err) {
			return nil, s.flowQuotaExceeded()
		}
		return nil, fault.Wrap(fault.Internal, err, "create flow %s", in.FlowName)
	}
	// Tags are keyed by ARN and flow names may be reused: clear what a flow of
	// the same name may have left, then set this one's.
	if err := s.flowSetTags(ctx, arn, in.Tags); err != nil {
		_ = s.d.Store.FlowDelete(context.WithoutCancel(ctx), account, in.FlowName)
		return nil, fault.Wrap(fault.Internal, err, "tag flow %s", in.FlowName)
	}
	return &wire.CreateFlowResponse{FlowArn: arn, FlowStatus: status}, nil
}

func flowExists(name string) error {
	return fault.New(fault.Conflict, "Conflict executing request: Flow with name %s already exists.", name)
}

func (s *Service) flowSetTags(ctx context.Context, arn string, tags map[string]string) error {
	if err := s.d.Store.TagsDeleteAll(ctx, arn); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	return s.d.Store.TagsSet(ctx, arn, tags)
}

// DescribeFlow returns the flow as created or last updated, with its tags
// and the outcome of its newest run: describeFlowJSON's body, decoded.
func (s *Service) DescribeFlow(ctx context.Context, in *wire.DescribeFlowRequest) (*wire.DescribeFlowResponse, error) {
	body, err := s.describeFlowJSON(ctx, in)
	if err != nil {
		return nil, err
	}
	var out wire.DescribeFlowResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decode flow %s", in.FlowName)
	}
	return &out, nil
}

// describeFlowJSON is DescribeFlow's response body: the stored document as
// it was written, with what changes without an update spliced in (the
// status, the tags, the newest run).
func (s *Service) describeFlowJSON(ctx context.Context, in *wire.DescribeFlowRequest) ([]byte, error) {
	account := s.account(ctx)
	var hits map[string][]byte
	v, err := s.d.Store.FlowViewGet(ctx, account, in.FlowName, s.views.known(account, true, &hits))
	if store.IsNotFound(err) {
		return nil, flowNotFound(in.FlowName)
	}
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "read flow %s", in.FlowName)
	}
	if v.Known {
		return hits[v.Flow.Name], nil
	}
	b, err := describeFlowBody(v)
	if err != nil {
		return nil, err
	}
	s.views.put(account, v.Flow.Name, v.Stamp, true, b)
	return b, nil
}

// describeFlowBody writes DescribeFlow's body from a flow's view.
func describeFlowBody(v *store.FlowView) ([]byte, error) {
	doc, err := objectMembers(v.Flow.Doc, make([]member, 0, 24))
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decode flow %s", v.Flow.Name)
	}
	// set is ordered by name, as splice wants.
	var set []member
	if v.Newest != nil {
		last, err := execLastRun(v.Newest)
		if err != nil {
			return nil, err
		}
		set = append(set, member{"lastRunExecutionDetails", last.details})
		if last.catalog != nil && lookup(doc, "metadataCatalogConfig") != nil {
			set = append(set, member{"lastRunMetadataCatalogDetails", last.catalog})
		}
	}
	if v.Flow.Status != "" {
		set = append([]member{{"flowStatus", appendString(nil, v.Flow.Status)}}, set...)
	}
	if tags := tagsJSON(v.Tags); tags != nil {
		set = append(set, member{"tags", tags})
	}
	return appendObject(make([]byte, 0, len(v.Flow.Doc)+512), splice(doc, set)), nil
}

// ListFlows lists the account's flows by name, flowPageSize at a time:
// listFlowsJSON's body, decoded.
func (s *Service) ListFlows(ctx context.Context, in *wire.ListFlowsRequest) (*wire.ListFlowsResponse, error) {
	body, err := s.listFlowsJSON(ctx, in)
	if err != nil {
		return nil, err
	}
	var out wire.ListFlowsResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decode flows")
	}
	if out.Flows == nil {
		out.Flows = []wire.FlowDefinition{}
	}
	return &out, nil
}

// listFlowsJSON is ListFlows' response body, written from a page of flow
// views read in one query, each with its flow's list summary rather than
// its whole document.
func (s *Service) listFlowsJSON(ctx context.Context, in *wire.ListFlowsRequest) ([]byte, error) {
	limit := flowPageSize
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	account := s.account(ctx)
	var hits map[string][]byte
	views, next, err := s.d.Store.FlowViewList(ctx, &store.FlowListParams{AccountID: account, Page: store.Page{After: in.NextToken, Limit: limit},
		Known: s.views.known(account, false, &hits)})
	if err != nil {
		if fault.Is(err, fault.Invalid) {
			return nil, fault.New(fault.Invalid, "Invalid nextToken.")
		}
		return nil, fault.Wrap(fault.Internal, err, "list flows")
	}
	b := make([]byte, 0, listFlowsSize(views, hits))
	b = append(b, `{"flows":[`...)
	var doc []member
	for i, v := range views {
		if i > 0 {
			b = append(b, ',')
		}
		if v.Known {
			b = append(b, hits[v.Flow.Name]...)
			continue
		}
		if doc, err = objectMembers(v.Summary, doc[:0]); err != nil {
			return nil, fault.Wrap(fault.Internal, err, "decode flow %s", v.Flow.Name)
		}
		start := len(b)
		if b, err = appendFlowSummary(b, v, doc); err != nil {
			return nil, err
		}
		if v.Stamp != 0 {
			s.views.put(account, v.Flow.Name, v.Stamp, false, slices.Clone(b[start:]))
		}
	}
	b = append(b, ']')
	if next != "" {
		b = append(b, `,"nextToken":`...)
		b = appendString(b, next)
	}
	return append(b, '}'), nil
}

// listFlowsSize is about the size of a ListFlows body of views, so that
// its buffer seldom grows: each flow's summary, tags and what is added
// (status, the last run's details, labels and types), or its kept entry
// (hits), and the cursor.
func listFlowsSize(views []*store.FlowView, hits map[string][]byte) int {
	n := 128
	for _, v := range views {
		if v.Known {
			n += len(hits[v.Flow.Name]) + 1
			continue
		}
		n += len(v.Summary) + 512
		for k, t := range v.Tags {
			n += len(k) + len(t) + 8
		}
	}
	return n
}

// flowEndOf reads a source or destination config's connector type and
// profile name, as JSON.
func flowEndOf(config []byte) (typ, profile []byte, err error) {
	if config == nil {
		return nil, nil, nil
	}
	var buf [8]member
	ms, err := objectMembers(config, buf[:0])
	if err != nil {
		return nil, nil, err
	}
	return lookup(ms, "connectorType"), lookup(ms, "connectorProfileName"), nil
}

// appendFlowSummary writes a flow as ListFlows shows it (a FlowDefinition,
// its members in the order encoding/json gives them), copying what the
// stored document has as is.
func appendFlowSummary(b []byte, v *store.FlowView, doc []member) ([]byte, error) {
	// The trigger type and the connector types are enum strings, copied.
	var trigger, srcType, srcProfile, dstType, dstProfile []byte
	dst, err := firstElement(lookup(doc, "destinationFlowConfigList"))
	if err == nil {
		trigger, err = memberOf(lookup(doc, "triggerConfig"), "triggerType")
	}
	if err == nil {
		srcType, srcProfile, err = flowEndOf(lookup(doc, "sourceFlowConfig"))
	}
	if err == nil {
		dstType, dstProfile, err = flowEndOf(dst)
	}
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decode flow %s", v.Flow.Name)
	}
	// A label is read from the flow end's profile; a profile deleted with
	// forceDelete leaves it empty.
	label := func(typ, profile []byte) []byte {
		if string(typ) != `"`+string(wire.ConnectorTypeCustomConnector)+`"` || profile == nil {
			return nil
		}
		var name string
		if json.Unmarshal(profile, &name) != nil {
			return nil
		}
		return nonEmpty(v.Labels[name])
	}
	var last []byte
	if v.Newest != nil {
		run, err := execLastRun(v.Newest)
		if err != nil {
			return nil, err
		}
		last = run.details
	}
	return appendObject(b, []member{
		{"createdAt", lookup(doc, "createdAt")},
		{"createdBy", lookup(doc, "createdBy")},
		{"description", lookup(doc, "description")},
		{"destinationConnectorLabel", label(dstType, dstProfile)},
		{"destinationConnectorType", dstType},
		{"flowArn", lookup(doc, "flowArn")},
		{"flowName", lookup(doc, "flowName")},
		{"flowStatus", nonEmpty(v.Flow.Status)},
		{"lastRunExecutionDetails", last},
		{"lastUpdatedAt", lookup(doc, "lastUpdatedAt")},
		{"lastUpdatedBy", lookup(doc, "lastUpdatedBy")},
		{"sourceConnectorLabel", label(srcType, srcProfile)},
		{"sourceConnectorType", srcType},
		{"tags", tagsJSON(v.Tags)},
		{"triggerType", trigger},
	}), nil
}

// RespondJSON answers DescribeFlow and ListFlows with the bodies written
// from the stored documents (restjson.JSONResponder); other operations are
// left to their methods.
func (s *Service) RespondJSON(ctx context.Context, in wire.Input) ([]byte, bool, error) {
	switch in := in.(type) {
	case *wire.DescribeFlowRequest:
		b, err := s.describeFlowJSON(ctx, in)
		return b, true, err
	case *wire.ListFlowsRequest:
		b, err := s.listFlowsJSON(ctx, in)
		return b, true, err
	}
	return nil, false, nil
}

// UpdateFlow replaces a flow's definition (spec §3.4). flowArn, createdAt,
// createdBy, kmsArn and tags stay; the status follows a trigger type change.
func (s *Service) UpdateFlow(ctx context.Context, in *wire.UpdateFlowRequest) (*wire.UpdateFlowResponse, error) {
	return idempotent(ctx, s, "UpdateFlow", in.ClientToken, in, func() (*wire.UpdateFlowResponse, error) {
		return s.updateFlow(ctx, in)
	})
}

func (s *Service) updateFlow(ctx context.Context, in *wire.UpdateFlowRequest) (*wire.UpdateFlowResponse, error) {
	account := s.account(ctx)
	if _, _, err := s.flowGet(ctx, account, in.FlowName); err != nil {
		return nil, err
	}
	def := &flowDef{Trigger: in.TriggerConfig, Source: in.SourceFlowConfig, Dests: in.DestinationFlowConfigList,
		Tasks: in.Tasks, Catalog: in.MetadataCatalogConfig}
	checked, err := s.flowCheck(ctx, "Update Flow", def)
	if err != nil {
		return nil, err
	}
	var status wire.FlowStatus
	err = s.flowModify(ctx, account, in.FlowName, func(f *store.Flow, doc *wire.DescribeFlowResponse) error {
		next := *doc
		next.Description = in.Description
		next.TriggerConfig = in.TriggerConfig
		next.SourceFlowConfig = in.SourceFlowConfig
		next.DestinationFlowConfigList = in.DestinationFlowConfigList
		next.Tasks = in.Tasks
		next.MetadataCatalogConfig = in.MetadataCatalogConfig
		flowNormalize(&next)

		oldTrigger := wire.TriggerTypeOnDemand
		if doc.TriggerConfig != nil {
			oldTrigger = doc.TriggerConfig.TriggerType
		}
		newTrigger := in.TriggerConfig.TriggerType
		switch {
		case newTrigger == wire.TriggerTypeOnDemand:
			next.FlowStatus = wire.FlowStatusActive
		case oldTrigger == wire.TriggerTypeOnDemand:
			next.FlowStatus = wire.FlowStatusDraft
		}
		if next.FlowStatus != doc.FlowStatus {
			next.FlowStatusMessage = ""
		}

		version := int64(1)
		if doc.SchemaVersion != nil {
			version = *doc.SchemaVersion
		}
		if flowSchemaFingerprint(doc.Tasks, doc.DestinationFlowConfigList) != flowSchemaFingerprint(next.Tasks, next.DestinationFlowConfigList) {
			version++
		}
		next.SchemaVersion = &version

		now := s.d.Now().UTC().Truncate(time.Millisecond)
		next.LastUpdatedAt = wire.NewTimestamp(now)
		next.LastUpdatedBy = s.flowPrincipal(ctx)
		*doc = next
		f.ProfileNames = checked.ProfileNames
		f.UpdatedAt = now
		status = next.FlowStatus
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.UpdateFlowResponse{FlowStatus: status}, nil
}

// flowModify reads a flow, lets change edit it and writes it back, retrying
// when another writer got there first. change may return an error to stop.
func (s *Service) flowModify(ctx context.Context, account, name string, change func(*store.Flow, *wire.DescribeFlowResponse) error) error {
	for attempt := 1; ; attempt++ {
		f, doc, err := s.flowGet(ctx, account, name)
		if err != nil {
			return err
		}
		if err := change(f, doc); err != nil {
			return err
		}
		// Tags and last-run details are never part of the stored document.
		doc.Tags, doc.LastRunExecutionDetails, doc.LastRunMetadataCatalogDetails = nil, nil, nil
		body, err := encodePlain(doc)
		if err != nil {
			return fault.Wrap(fault.Internal, err, "encode flow %s", name)
		}
		f.Doc, f.Status = body, string(doc.FlowStatus)
		err = s.d.Store.FlowUpdate(ctx, f)
		switch {
		case err == nil:
			return nil
		case store.IsNotFound(err):
			return flowNotFound(name)
		case store.IsConflict(err) && attempt < flowWriteAttempts:
			continue
		case store.IsConflict(err):
			return fault.New(fault.Conflict, "Flow %s is being changed concurrently; retry the request.", name)
		default:
			return fault.Wrap(fault.Internal, err, "update flow %s", name)
		}
	}
}

// DeleteFlow deletes a flow, its runs and its tags (spec §4.5). An active
// scheduled or event flow, or one with runs in progress, needs forceDelete;
// forced, its running executions are canceled first.
func (s *Service) DeleteFlow(ctx context.Context, in *wire.DeleteFlowRequest) (*wire.DeleteFlowResponse, error) {
	account := s.account(ctx)
	f, doc, err := s.flowGet(ctx, account, in.FlowName)
	if err != nil {
		return nil, err
	}
	force := in.ForceDelete != nil && *in.ForceDelete
	trigger := wire.TriggerTypeOnDemand
	if doc.TriggerConfig != nil {
		trigger = doc.TriggerConfig.TriggerType
	}
	if !force && trigger != wire.TriggerTypeOnDemand && doc.FlowStatus == wire.FlowStatusActive {
		return nil, fault.New(fault.Conflict,
			"Conflict executing request: Flow is in active state, please set forceDelete to true or deactivate the flow: %s", in.FlowName)
	}
	running, err := s.execRunning(ctx, account, in.FlowName, true)
	if err != nil {
		return nil, err
	}
	if len(running) > 0 && !force {
		return nil, fault.New(fault.Conflict,
			"Conflict executing request: Flow %s has %d execution(s) in progress, please set forceDelete to true or cancel them first.", in.FlowName, len(running))
	}
	if len(running) > 0 && s.d.Runner != nil {
		if _, err := s.d.Runner.Cancel(ctx, account, in.FlowName, running); err != nil {
			s.d.Logger.Warn("cancel runs of a force-deleted flow", "flow", in.FlowName, "err", err)
		}
	}
	if err := s.d.Store.FlowDelete(ctx, account, in.FlowName); err != nil {
		if store.IsNotFound(err) {
			return nil, flowNotFound(in.FlowName)
		}
		return nil, fault.Wrap(fault.Internal, err, "delete flow %s", in.FlowName)
	}
	if err := s.d.Store.TagsDeleteAll(context.WithoutCancel(ctx), f.Arn); err != nil {
		// CreateFlow clears tags of a reused name, so a leftover is harmless.
		s.d.Logger.Warn("delete tags of a deleted flow", "flow", in.FlowName, "err", err)
	}
	s.flowDeactivated(ctx, account, in.FlowName)
	return &wire.DeleteFlowResponse{}, nil
}

// StartFlow runs an on-demand flow once, or activates a scheduled or event
// flow (spec §4.6). A clientToken reused for a different on-demand flow is a
// new call, not a conflict (spec §5.2).
func (s *Service) StartFlow(ctx context.Context, in *wire.StartFlowRequest) (*wire.StartFlowResponse, error) {
	account := s.account(ctx)
	onMismatch := func() bool {
		_, doc, err := s.flowGet(ctx, account, in.FlowName)
		if fault.Is(err, fault.NotFound) {
			return true // let the call say the flow does not exist
		}
		return err == nil && flowTrigger(doc) == wire.TriggerTypeOnDemand
	}
	return idempotent(ctx, s, "StartFlow", in.ClientToken, in, func() (*wire.StartFlowResponse, error) {
		return s.startFlow(ctx, account, in.FlowName)
	}, idemOptions{onMismatch: onMismatch})
}

func flowTrigger(doc *wire.DescribeFlowResponse) wire.TriggerType {
	if doc.TriggerConfig == nil {
		return wire.TriggerTypeOnDemand
	}
	return doc.TriggerConfig.TriggerType
}

func (s *Service) startFlow(ctx context.Context, account, name string) (*wire.StartFlowResponse, error) {
	f, doc, err := s.flowGet(ctx, account, name)
	if err != nil {
		return nil, err
	}
	switch doc.FlowStatus {
	case wire.FlowStatusDeleted, wire.FlowStatusDeprecated:
		return nil, fault.New(fault.Conflict, "Flow %s is in %s state and cannot be started.", name, doc.FlowStatus)
	}
	if flowTrigger(doc) == wire.TriggerTypeOnDemand {
		id, err := s.execStart(ctx, account, name)
		if err != nil {
			return nil, err
		}
		return &wire.StartFlowResponse{FlowArn: f.Arn, FlowStatus: doc.FlowStatus, ExecutionId: id}, nil
	}
	var status wire.FlowStatus
	err = s.flowModify(ctx, account, name, func(_ *store.Flow, doc *wire.DescribeFlowResponse) error {
		switch doc.FlowStatus {
		case wire.FlowStatusActive:
			return fault.New(fault.Conflict, "Flow %s is already active.", name)
		case wire.FlowStatusDraft, wire.FlowStatusSuspended, wire.FlowStatusErrored:
		default:
			return fault.New(fault.Conflict, "Flow %s is in %s state and cannot be started.", name, doc.FlowStatus)
		}
		doc.FlowStatus, doc.FlowStatusMessage = wire.FlowStatusActive, ""
		status = doc.FlowStatus
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.flowActivated(ctx, account, name, s.d.Now())
	return &wire.StartFlowResponse{FlowArn: f.Arn, FlowStatus: status}, nil
}

// StopFlow deactivates an active scheduled or event flow (spec §4.7). Runs in
// progress keep going; CancelFlowExecutions stops those. Runs queued but not
// started are removed (FlowDeactivator).
func (s *Service) StopFlow(ctx context.Context, in *wire.StopFlowRequest) (*wire.StopFlowResponse, error) {
	account := s.account(ctx)
	f, doc, err := s.flowGet(ctx, account, in.FlowName)
	if err != nil {
		return nil, err
	}
	if flowTrigger(doc) == wire.TriggerTypeOnDemand {
		return nil, fault.New(fault.Unsupported, "StopFlow is not supported for on-demand flows: %s", in.FlowName)
	}
	var status wire.FlowStatus
	err = s.flowModify(ctx, account, in.FlowName, func(_ *store.Flow, doc *wire.DescribeFlowResponse) error {
		if flowTrigger(doc) == wire.TriggerTypeOnDemand {
			return fault.New(fault.Unsupported, "StopFlow is not supported for on-demand flows: %s", in.FlowName)
		}
		if doc.FlowStatus != wire.FlowStatusActive {
			return fault.New(fault.Conflict, "Flow %s is not active; it is in %s state.", in.FlowName, doc.FlowStatus)
		}
		doc.FlowStatus, doc.FlowStatusMessage = wire.FlowStatusSuspended, ""
		status = doc.FlowStatus
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.flowDeactivated(ctx, account, in.FlowName)
	return &wire.StopFlowResponse{FlowArn: f.Arn, FlowStatus: status}, nil
}
