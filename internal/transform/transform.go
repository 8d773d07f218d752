// Package transform compiles a flow's tasks into one Program and applies it
// to batches of records.
//
// AppFlow does not give the task list's order any meaning, so a Program
// applies tasks by phase (spec §2.3), whatever their position in the list:
//
//  1. Filter/PROJECTION: the fields to fetch (Projection).
//  2. Row Filter tasks: predicates, ANDed (Filters, for pushdown; always
//     re-applied here, so results are the same whether a source applied them).
//  3. The incremental window (WithWindow), [start, end).
//  4. Validate, on the source values.
//  5. Mask, then Truncate, in place on source fields. Mask runs before
//     Merge and Arithmetic read their inputs, so a masked value never leaks
//     into a derived field (the spec leaves this open; privacy wins).
//  6. Merge and Arithmetic: "virtual" fields named by their destinationField
//     (e.g. "amount,amount"), in dependency order so one may read another.
//  7. Map, Map_all, Passthrough: the output shape.
//  8. Partition: output layout only (PartitionKeys).
//
// Only mapped fields are written: a field fetched only for a filter or a
// derived value does not reach the destination (spec §2.4 Map, §13.4).
//
// Choices where the spec is silent or unconfirmed (what a user would expect):
//
//   - Filters: BETWEEN is inclusive at both ends; CONTAINS is a
//     case-sensitive substring test; no DATA_TYPE compares as strings;
//     null and missing values, and values that do not parse as DATA_TYPE,
//     match no operator, NOT_EQUAL_TO included (as SQL would, so pushdown
//     changes nothing); datetime VALUEs may be epoch ms or ISO 8601.
//   - Map_all with explicit Maps: the Map_all fields come first in source
//     order, then the explicit ones; an explicit Map to the same name wins.
//     INCLUDE_NEW_FIELDS must be true/false and changes nothing: every run
//     writes the fields the source has. SUBFIELD_CATEGORY_MAP is ignored.
//   - Passthrough with sourceFields copies each field (after Mask/Truncate,
//     never converted) under destinationField or its own name; without
//     sourceFields it forwards the whole record, like Map_all.
//   - Mask: each masked rune becomes MASK_VALUE (even a longer one);
//     non-string values are masked as their text.
//   - Merge: CONCAT_FORMAT is a ${field} template; without a placeholder it
//     is the separator between the sourceFields' values; null reads as "".
//   - A Map value that does not fit DESTINATION_DATA_TYPE, or a non-numeric
//     Arithmetic operand, drops the record with a RecordError (the engine
//     fails the run or records a failure, per the destination's error
//     handling); a division by zero fails the run.
package transform

import (
	"fmt"
	"strings"
	"sync"

	"github.com/appflowd/appflowd/internal/connector"
)

// Task is one flow task, independent of the API shapes.
type Task struct {
	Type         string // Arithmetic, Filter, Map, Map_all, Mask, Merge, Passthrough, Truncate, Validate, Partition
	SourceFields []string
	// Operator is the connectorOperator's value, whichever connector key it
	// came under (the key names the source connector; Options says which).
	Operator         string
	DestinationField string
	Properties       map[string]string
}

// Options say what Compile needs to know about the flow's connectors.
type Options struct {
	// SourceConnector is the source's connector type ("S3", "Salesforce",
	// ...), for messages.
	SourceConnector string
	// SourceOperators are the operators the source offers, as its
	// connector.Capabilities.Operators list them (the model's
	// <Connector>ConnectorOperator enum); nil allows every operator.
	SourceOperators []string
	// TypedDestination converts Map values to their DESTINATION_DATA_TYPE
	// (Parquet with preserved typing, Redshift, Snowflake). Otherwise Map
	// copies values unchanged and the types are informative only.
	TypedDestination bool
	// ProjectionWritesRecords: with a PROJECTION and no Map, Map_all or
	// Passthrough task, write each record the source gives, less the
	// projected fields (connector.Capabilities.ProjectionWritesRecords).
	ProjectionWritesRecords bool
}

// Stats counts what one Apply did with its input rows.
type Stats struct {
	In       int // rows in the input batch
	Out      int // rows written to the output batch
	Filtered int // dropped by a Filter task or the incremental window
	Invalid  int // dropped by a Validate task with VALIDATION_ACTION DropRecord
	Errored  int // dropped with a RecordError (a value that did not fit)
}

// RecordError is one record a task could not process. Apply returns the
// ones that only drop their record in a slice, and a fatal one (a Validate
// that terminates the flow, a division by zero) as its error.
type RecordError struct {
	Split    string
	Line     int64 // the batch's FirstLine + Row
	Row      int   // the row in the input batch
	Field    string
	Task     int // index in the task list
	TaskType string
	Reason   string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("split %s line %d field %s: tasks[%d] (%s): %s",
		e.Split, e.Line, e.Field, e.Task, e.TaskType, e.Reason)
}

// Program is a compiled task list. It is immutable and safe for concurrent
// use: Apply may run on many goroutines at once.
type Program struct {
	opts Options

	projection []string // nil: every field
	pushdown   []connector.Filter

	filters   []filterStep
	window    *windowStep
	validates []validateStep
	edits     []editStep
	derived   []derivedStep
	outs      []outCol // static outputs, in output order
	all       *allStep // set when the output shape follows the source's fields
	staticOut []string // output field names; nil when all != nil
	specs     []connector.FieldSpec
	partition []string

	// Slots: a row under work has the batch's columns, then one slot per
	// virtual field, then one always-missing slot. refs index nVirtual
	// virtual fields first, then srcNames; bind maps them to slots.
	srcNames []string
	nVirtual int

	pool *sync.Pool // of *applier
}

// Projection is the fields to fetch from the source, nil for every field
// (Map_all or a whole-record Passthrough without a PROJECTION task). It is
// the PROJECTION task's fields plus any other field a task reads.
func (p *Program) Projection() []string {
	if p.projection == nil {
		return nil
	}
	return append([]string(nil), p.projection...)
}

// Filters is the row filters, for a source to push down.
func (p *Program) Filters() []connector.Filter {
	out := make([]connector.Filter, len(p.pushdown))
	for i, f := range p.pushdown {
		f.Values = append([]string(nil), f.Values...)
		out[i] = f
	}
	return out
}

// OutputFields is the destination fields in output order, with their
// DESTINATION_DATA_TYPE ("" where none was given). It is nil when the shape
// follows the source (Map_all or a whole-record Passthrough with no
// PROJECTION task): then each output batch's Fields says what it holds.
func (p *Program) OutputFields() []connector.FieldSpec {
	if p.all != nil {
		return nil
	}
	return append([]connector.FieldSpec(nil), p.specs...)
}

// PartitionKeys is the Partition task's ORDERED_PARTITION_KEYS_LIST.
func (p *Program) PartitionKeys() []string { return append([]string(nil), p.partition...) }

// WithWindow returns a Program that also keeps only records whose field
// w.Field holds a time in [w.Start, w.End): the incremental pull window,
// applied in-engine like every filter. A nil w returns p.
func (p *Program) WithWindow(w *connector.Window) *Program {
	if w == nil {
		return p
	}
	q := *p
	q.srcNames = append([]string(nil), p.srcNames...)
	ref := -1
	for i, n := range q.srcNames {
		if n == w.Field {
			ref = q.nVirtual + i
		}
	}
	if ref < 0 {
		q.srcNames = append(q.srcNames, w.Field)
		ref = q.nVirtual + len(q.srcNames) - 1
	}
	if q.projection != nil && !contains(q.projection, w.Field) {
		q.projection = append(append([]string(nil), q.projection...), w.Field)
	}
	q.window = &windowStep{field: w.Field, ref: ref, start: w.Start.UnixMilli(), end: w.End.UnixMilli()}
	q.pool = newPool(&q)
	return &q
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newPool(p *Program) *sync.Pool {
	return &sync.Pool{New: func() any { return &applier{p: p} }}
}

// sourceAllows says whether the source offers op: its capabilities'
// operator list, or every operator when it has none.
func (o Options) sourceAllows(op string) bool {
	return o.SourceOperators == nil || contains(o.SourceOperators, op)
}

// allowedFor lists a source's operators for an error message.
func allowedFor(o Options, want []string) string {
	var ok []string
	for _, w := range want {
		if o.sourceAllows(w) {
			ok = append(ok, w)
		}
	}
	if len(ok) == 0 {
		return "none"
	}
	return strings.Join(ok, ", ")
}
