// Package runner turns a flow definition into an engine run and keeps the
// run's execution record: it opens the source and destination connectors,
// compiles the tasks, executes, and writes the outcome.
package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/engine"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/secrets"
	"github.com/appflowd/appflowd/internal/transform"
	"github.com/appflowd/appflowd/internal/wire"
)

// Flow is the part of a flow definition a run needs. CreateFlowRequest and
// DescribeFlowResponse both decode into it.
type Flow struct {
	FlowName                  string                       `json:"flowName"`
	SourceFlowConfig          *wire.SourceFlowConfig       `json:"sourceFlowConfig"`
	DestinationFlowConfigList []wire.DestinationFlowConfig `json:"destinationFlowConfigList"`
	Tasks                     []wire.Task                  `json:"tasks"`
	TriggerConfig             *wire.TriggerConfig          `json:"triggerConfig"`
	SchemaVersion             *int64                       `json:"schemaVersion"`
	KmsArn                    string                       `json:"kmsArn"`
}

// ProfileFunc returns the connector profile (with decrypted credentials) a
// flow names; the server reads its store, `appflowd run` has none.
type ProfileFunc func(ctx context.Context, name string) (connector.Profile, error)

// Env is what a run needs from the process.
type Env struct {
	Registry *connector.Registry
	Deps     connector.Deps
	Profile  ProfileFunc
}

// Prepared is a flow ready to execute, with the connections to close after.
type Prepared struct {
	Run   *engine.Run
	conns []*connector.Conn
	// windowByModifiedTime: the source's capabilities say a window picks
	// whole objects by modification time (ApplyWindow).
	windowByModifiedTime bool
}

// Close releases the connectors.
func (p *Prepared) Close() {
	for _, c := range p.conns {
		_ = c.Close()
	}
}

// UnionKey is the union member name for a connector type (wire.UnionKey).
func UnionKey(connectorType string) string { return wire.UnionKey(wire.ConnectorType(connectorType)) }

// member returns the raw JSON of union member key of v (a union struct).
func member(v any, connectorType string) (json.RawMessage, error) {
	return wire.UnionMember(v, wire.ConnectorType(connectorType))
}

// TransformTasks converts the API's tasks to the transform's input. The
// connectorOperator union holds one member; its value is the operator.
func TransformTasks(tasks []wire.Task) ([]transform.Task, error) {
	out := make([]transform.Task, 0, len(tasks))
	for i, t := range tasks {
		op := ""
		if t.ConnectorOperator != nil {
			raw, err := json.Marshal(t.ConnectorOperator)
			if err != nil {
				return nil, err
			}
			var m map[string]string
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, err
			}
			if len(m) > 1 {
				return nil, fault.New(fault.Invalid, "tasks[%d] (%s): connectorOperator must name one connector, got %d", i, t.TaskType, len(m))
			}
			for _, v := range m {
				op = v
			}
		}
		out = append(out, transform.Task{
			Type:             string(t.TaskType),
			SourceFields:     t.SourceFields,
			Operator:         op,
			DestinationField: t.DestinationField,
			Properties:       t.TaskProperties,
		})
	}
	return out, nil
}

// Prepare compiles f's tasks and opens its connectors for execution
// executionID.
func Prepare(ctx context.Context, env Env, f *Flow, executionID string) (*Prepared, error) {
	if f.SourceFlowConfig == nil || len(f.DestinationFlowConfigList) == 0 {
		return nil, fault.New(fault.Invalid, "flow %s has no source or no destination", f.FlowName)
	}
	src := f.SourceFlowConfig
	dst := f.DestinationFlowConfigList[0]
	srcType, dstType := string(src.ConnectorType), string(dst.ConnectorType)

	srcCaps, dstCaps := env.capabilities(srcType), env.capabilities(dstType)
	tasks, err := TransformTasks(f.Tasks)
	if err != nil {
		return nil, err
	}
	prog, err := transform.Compile(tasks, transform.Options{SourceConnector: srcType, SourceOperators: srcCaps.Operators,
		TypedDestination: dstCaps.TypedDestination, ProjectionWritesRecords: srcCaps.ProjectionWritesRecords})
	if err != nil {
		return nil, err
	}

	p := &Prepared{}
	srcConn, err := open(ctx, env, srcType, src.ConnectorProfileName)
	if err != nil {
		return nil, err
	}
	p.conns = append(p.conns, srcConn)
	dstConn, err := open(ctx, env, dstType, dst.ConnectorProfileName)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.conns = append(p.conns, dstConn)

	source, err := srcConn.Source()
	if err != nil {
		p.Close()
		return nil, err
	}
	dest, err := dstConn.Destination()
	if err != nil {
		p.Close()
		return nil, err
	}
	srcProps, err := member(src.SourceConnectorProperties, srcType)
	if err != nil {
		p.Close()
		return nil, err
	}
	dstProps, err := member(dst.DestinationConnectorProperties, dstType)
	if err != nil {
		p.Close()
		return nil, err
	}
	read := &connector.ReadRequest{
		FlowName:    f.FlowName,
		ExecutionID: executionID,
		Object:      objectOf(srcProps),
		Properties:  srcProps,
	}
	write := &connector.WriteRequest{
		FlowName:       f.FlowName,
		ExecutionID:    executionID,
		Object:         objectOf(dstProps),
		SourceObject:   objectOf(srcProps),
		Properties:     dstProps,
		WriteOperation: "INSERT",
		StartedAt:      env.now(),
		KMSKeyArn:      flowKey(f.KmsArn, env.Deps),
	}
	if f.SchemaVersion != nil {
		write.SchemaVersion = *f.SchemaVersion
	} else {
		write.SchemaVersion = 1
	}
	var common struct {
		WriteOperationType  string   `json:"writeOperationType"`
		IDFieldNames        []string `json:"idFieldNames"`
		ErrorHandlingConfig *struct {
			FailOnFirstDestinationError bool   `json:"failOnFirstDestinationError"`
			BucketName                  string `json:"bucketName"`
			BucketPrefix                string `json:"bucketPrefix"`
		} `json:"errorHandlingConfig"`
	}
	if len(dstProps) > 0 {
		if err := json.Unmarshal(dstProps, &common); err != nil {
			p.Close()
			return nil, fault.Wrap(fault.Invalid, err, "destination properties")
		}
	}
	if common.WriteOperationType != "" {
		write.WriteOperation = common.WriteOperationType
	}
	write.IDFields = common.IDFieldNames
	if eh := common.ErrorHandlingConfig; eh != nil {
		write.ErrorHandling = &connector.ErrorHandling{
			FailOnFirstError: eh.FailOnFirstDestinationError,
			BucketName:       eh.BucketName,
			BucketPrefix:     eh.BucketPrefix,
		}
	}
	p.Run = &engine.Run{Source: source, Read: read, Dest: dest, Write: write, Program: prog,
		RecycleBatches: dstCaps.RecyclesBatches,
		ReleaseInput:   dstCaps.RecyclesBatches && dstCaps.CopiesStrings}
	p.windowByModifiedTime = srcCaps.WindowByModifiedTime
	return p, nil
}

// capabilities are what the registry says of a connector type; none for
// a type it does not know (opening it fails with the reason).
func (e Env) capabilities(typ string) connector.Capabilities {
	spec, _ := e.Registry.Lookup(typ)
	return spec.Capabilities
}

func (e Env) now() time.Time {
	if e.Deps.Now != nil {
		return e.Deps.Now().UTC()
	}
	return time.Now().UTC()
}

// objectOf reads the "object" member most connector properties have.
func objectOf(props json.RawMessage) string {
	var o struct {
		Object string `json:"object"`
	}
	_ = json.Unmarshal(props, &o)
	return o.Object
}

func open(ctx context.Context, env Env, typ, profileName string) (*connector.Conn, error) {
	var prof connector.Profile
	if profileName != "" {
		if env.Profile == nil {
			return nil, fault.New(fault.Invalid, "connector profile %s cannot be used here: no profiles are available", profileName)
		}
		var err error
		prof, err = env.Profile(ctx, profileName)
		if err != nil {
			return nil, err
		}
	}
	c, err := env.Registry.Open(ctx, typ, env.Deps, prof)
	if err != nil {
		return nil, fmt.Errorf("open %s connector%s: %w", typ, profileSuffix(profileName), err)
	}
	return c, nil
}

func profileSuffix(name string) string {
	if name == "" {
		return ""
	}
	return " (profile " + strings.TrimSpace(name) + ")"
}

// flowKey is the flow's kmsArn when the user named one; "" for the
// stand-in of AppFlow's managed key, which is no key to encrypt with.
func flowKey(kmsArn string, deps connector.Deps) string {
	if kmsArn == secrets.DefaultKeyArn(deps.Region, deps.AccountID) {
		return ""
	}
	return kmsArn
}
