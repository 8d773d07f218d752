package transform

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cockroachdb/apd/v3"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

type filterOp uint8

const (
	opLT filterOp = iota
	opGT
	opBetween
	opLTE
	opGTE
	opEQ
	opNE
	opContains
)

var filterOps = map[string]filterOp{
	"LESS_THAN": opLT, "GREATER_THAN": opGT, "BETWEEN": opBetween,
	"LESS_THAN_OR_EQUAL_TO": opLTE, "GREATER_THAN_OR_EQUAL_TO": opGTE,
	"EQUAL_TO": opEQ, "NOT_EQUAL_TO": opNE, "CONTAINS": opContains,
}

var filterOpNames = []string{"LESS_THAN", "GREATER_THAN", "CONTAINS", "BETWEEN", "LESS_THAN_OR_EQUAL_TO",
	"GREATER_THAN_OR_EQUAL_TO", "EQUAL_TO", "NOT_EQUAL_TO"}

// filterStep is one row Filter. Null and missing values match no operator
// (not even NOT_EQUAL_TO), as in SQL, so that pushing a filter down to a
// SQL-like source gives the same rows; likewise a value that does not parse
// as the filter's DATA_TYPE matches nothing.
type filterStep struct {
	task  int
	field string
	ref   int
	op    filterOp
	class typeClass // classString (also the default), numeric classes, classTime, classBool
	strs  []string
	nums  []number
	ms    []int64
	bools []bool
	one   *decConst // the one VALUE of a numeric filter, when it is a dec
}

type windowStep struct {
	field      string
	ref        int
	start, end int64 // Unix ms, [start, end)
}

type validateOp uint8

const (
	valNonNull validateOp = iota
	valNonZero
	valNonNegative
	valNumeric
)

type validateAction uint8

const (
	actDrop validateAction = iota
	actFail
	actNone
)

type validateStep struct {
	task   int
	op     validateOp
	name   string // the operator, for messages
	field  string
	ref    int
	action validateAction
}

type editKind uint8

const (
	editMaskAll editKind = iota
	editMaskFirst
	editMaskLast
	editTruncate
)

type editStep struct {
	task  int
	typ   string
	kind  editKind
	field string
	ref   int
	n     int
	mask  string
	// plainMask: mask needs no JSON escaping (see record.PlainText).
	plainMask bool
	maskRun   string // mask repeated, to copy a few masked runes at once
	maskWord  uint64 // maskRun's first 8 bytes, when it has 8
	// wordW is MASK_FIRST_N's mask width in bytes (n × len(mask)) when one
	// store of maskWord can write it: 1 to 8 bytes; 0 otherwise.
	wordW int
}

type arithOp uint8

const (
	arAdd arithOp = iota
	arSub
	arMul
	arDiv
)

// part is a piece of a Merge template: literal text, or a field when ref >= 0.
type part struct {
	lit string
	ref int
}

type derivedStep struct {
	task   int
	typ    string // Merge or Arithmetic
	out    int    // the virtual field's ref
	name   string
	op     arithOp
	refs   []int // Arithmetic operands
	fields []string
	parts  []part // Merge
	deps   []int  // virtual indexes read (for ordering)
}

type outCol struct {
	task  int
	name  string // destination field
	field string // what it reads
	ref   int
	class typeClass // conversion; classOther = none
}

// allStep shapes the output from whatever fields a batch has: Map_all or a
// whole-record Passthrough without a PROJECTION task.
type allStep struct {
	exclude map[string]bool
	taken   map[string]bool // destinations of explicit Map/Passthrough tasks: explicit Map wins
}

type compiler struct {
	p       *Program
	src     map[string]int // source field -> index in p.srcNames
	virtual map[string]int // virtual field -> index, counted in pass 1 so srcRef can offset by it
}

func taskErr(i int, t *Task, format string, args ...any) error {
	typ := t.Type
	if typ == "" {
		typ = "no type"
	}
	return fault.New(fault.Invalid, "tasks[%d] (%s): %s", i, typ, fmt.Sprintf(format, args...))
}

// srcRef returns a ref to source field name.
func (c *compiler) srcRef(name string) int {
	i, ok := c.src[name]
	if !ok {
		i = len(c.p.srcNames)
		c.src[name] = i
		c.p.srcNames = append(c.p.srcNames, name)
	}
	return c.p.nVirtual + i
}

// anyRef resolves name in phases 6 and 7: a virtual field if one has that
// name (other than self), else a source field.
func (c *compiler) anyRef(name string, self int) (ref int, virtual int) {
	if k, ok := c.virtual[name]; ok && k != self {
		return k, k
	}
	return c.srcRef(name), -1
}

var taskTypes = []string{"Arithmetic", "Filter", "Map", "Map_all", "Mask", "Merge", "Passthrough",
	"Truncate", "Validate", "Partition"}

// Compile checks tasks and builds their Program. A bad task list gives a
// *fault.Error with Code Invalid naming the task by index and type.
func Compile(tasks []Task, opts Options) (*Program, error) {
	p := &Program{opts: opts}
	c := &compiler{p: p, src: map[string]int{}, virtual: map[string]int{}}

	// Pass 1: types and operators; virtual fields, so that any task can
	// read one whatever its position in the list.
	for i := range tasks {
		t := &tasks[i]
		if err := checkOperator(i, t, opts); err != nil {
			return nil, err
		}
		if t.Type == "Merge" || t.Type == "Arithmetic" {
			if t.DestinationField == "" {
				return nil, taskErr(i, t, "needs a destinationField naming the virtual field it computes (e.g. %q)",
					strings.Join(t.SourceFields, ","))
			}
			if _, dup := c.virtual[t.DestinationField]; dup {
				return nil, taskErr(i, t, "destinationField %q is already computed by another Merge or Arithmetic task", t.DestinationField)
			}
			c.virtual[t.DestinationField] = len(c.virtual)
		}
	}
	p.nVirtual = len(c.virtual)

	var projection []string
	hasProjection := false
	destSeen := map[string]int{}
	var mapAll *Task
	mapAllIdx := -1
	partitionIdx := -1

	for i := range tasks {
		t := &tasks[i]
		var err error
		switch t.Type {
		case "Filter":
			if t.Operator == "PROJECTION" {
				if len(t.SourceFields) == 0 {
					return nil, taskErr(i, t, "PROJECTION needs the fields to fetch in sourceFields")
				}
				hasProjection = true
				for _, f := range t.SourceFields {
					if !contains(projection, f) {
						projection = append(projection, f)
					}
				}
				continue
			}
			err = c.filter(i, t)
		case "Validate":
			err = c.validate(i, t)
		case "Mask", "Truncate":
			err = c.edit(i, t)
		case "Merge", "Arithmetic":
			err = c.derive(i, t)
		case "Map":
			if len(t.SourceFields) != 1 {
				return nil, taskErr(i, t, "needs exactly one source field, got %d", len(t.SourceFields))
			}
			if t.DestinationField == "" {
				return nil, taskErr(i, t, "needs a destinationField")
			}
			class := classOther
			if opts.TypedDestination {
				class = classify(t.Properties["DESTINATION_DATA_TYPE"])
			}
			err = c.output(i, t, t.SourceFields[0], t.DestinationField, class, destSeen)
		case "Passthrough":
			if len(t.SourceFields) == 0 {
				if mapAll != nil {
					return nil, taskErr(i, t, "a whole-record Passthrough cannot be combined with tasks[%d] (%s)", mapAllIdx, mapAll.Type)
				}
				mapAll, mapAllIdx = t, i
				continue
			}
			if t.DestinationField != "" && len(t.SourceFields) > 1 {
				return nil, taskErr(i, t, "a destinationField needs exactly one source field, got %d", len(t.SourceFields))
			}
			for _, f := range t.SourceFields {
				dest := t.DestinationField
				if dest == "" {
					dest = f
				}
				if err = c.output(i, t, f, dest, classOther, destSeen); err != nil {
					return nil, err
				}
			}
		case "Map_all":
			if mapAll != nil {
				return nil, taskErr(i, t, "only one Map_all or whole-record Passthrough task is allowed; tasks[%d] is one", mapAllIdx)
			}
			if v, ok := t.Properties["EXCLUDE_SOURCE_FIELDS_LIST"]; ok {
				if _, err := parseList(v); err != nil {
					return nil, taskErr(i, t, "EXCLUDE_SOURCE_FIELDS_LIST %s %v", quoteShort(v), err)
				}
			}
			if v, ok := t.Properties["INCLUDE_NEW_FIELDS"]; ok {
				if _, ok := parseBool(strings.TrimSpace(v)); !ok {
					return nil, taskErr(i, t, "INCLUDE_NEW_FIELDS %s is not true or false", quoteShort(v))
				}
			}
			mapAll, mapAllIdx = t, i
		case "Partition":
			if partitionIdx >= 0 {
				return nil, taskErr(i, t, "only one Partition task is allowed; tasks[%d] is one", partitionIdx)
			}
			partitionIdx = i
			v, ok := t.Properties["ORDERED_PARTITION_KEYS_LIST"]
			if ok {
				if p.partition, err = parseList(v); err != nil {
					return nil, taskErr(i, t, "ORDERED_PARTITION_KEYS_LIST %s %v", quoteShort(v), err)
				}
			} else {
				p.partition = append([]string(nil), t.SourceFields...)
			}
			if len(p.partition) == 0 {
				return nil, taskErr(i, t, "needs ORDERED_PARTITION_KEYS_LIST, the destination fields to partition by")
			}
		}
		if err != nil {
			return nil, err
		}
	}

	if err := c.orderDerived(tasks); err != nil {
		return nil, err
	}

	// Map_all: with a PROJECTION task the fields are known now; without one
	// they are whatever the source has, bound per batch.
	if mapAll != nil {
		exclude := map[string]bool{}
		if v, ok := mapAll.Properties["EXCLUDE_SOURCE_FIELDS_LIST"]; ok {
			list, _ := parseList(v)
			for _, f := range list {
				exclude[f] = true
			}
		}
		taken := map[string]bool{}
		for _, o := range p.outs {
			taken[o.name] = true
		}
		if hasProjection {
			var all []outCol
			for _, f := range projection {
				if exclude[f] || taken[f] {
					continue
				}
				all = append(all, outCol{task: mapAllIdx, name: f, field: f, ref: c.srcRef(f), class: classOther})
			}
			p.outs = append(all, p.outs...)
		} else {
			p.all = &allStep{exclude: exclude, taken: taken}
		}
	}
	if len(p.outs) == 0 && p.all == nil && hasProjection && opts.ProjectionWritesRecords {
		exclude := map[string]bool{}
		for _, f := range projection {
			exclude[f] = true
		}
		p.all = &allStep{exclude: exclude, taken: map[string]bool{}}
	}
	if len(p.outs) == 0 && p.all == nil {
		return nil, fault.New(fault.Invalid, "tasks: no Map, Map_all or Passthrough task, so the flow would write no fields")
	}

	if p.all == nil {
		p.staticOut = make([]string, len(p.outs))
		p.specs = make([]connector.FieldSpec, len(p.outs))
		for i, o := range p.outs {
			p.staticOut[i] = o.name
			typ := ""
			if tasks[o.task].Type == "Map" {
				typ = tasks[o.task].Properties["DESTINATION_DATA_TYPE"]
			}
			p.specs[i] = connector.FieldSpec{Name: o.name, Type: record.FieldType(typ)}
		}
		for _, k := range p.partition {
			if !contains(p.staticOut, k) {
				return nil, taskErr(partitionIdx, &tasks[partitionIdx],
					"partition key %q is not a destination field; want one of %s", k, strings.Join(p.staticOut, ", "))
			}
		}
	}

	if hasProjection || p.all == nil {
		// Fetch the projection plus whatever a task reads, in that order.
		fetch := append([]string{}, projection...)
		for _, f := range p.srcNames {
			if !contains(fetch, f) {
				fetch = append(fetch, f)
			}
		}
		p.projection = fetch
	}
	p.pool = newPool(p)
	return p, nil
}

func checkOperator(i int, t *Task, opts Options) error {
	source := opts.SourceConnector
	var want []string
	switch t.Type {
	case "Filter":
		want = append([]string{"PROJECTION"}, filterOpNames...)
	case "Arithmetic":
		want = []string{"ADDITION", "SUBTRACTION", "MULTIPLICATION", "DIVISION"}
	case "Mask":
		want = []string{"MASK_ALL", "MASK_FIRST_N", "MASK_LAST_N"}
	case "Validate":
		want = []string{"VALIDATE_NON_NULL", "VALIDATE_NON_ZERO", "VALIDATE_NON_NEGATIVE", "VALIDATE_NUMERIC"}
	case "Map", "Map_all", "Merge", "Passthrough", "Truncate", "Partition":
		// The operator carries no meaning here: NO_OP, or none at all (the
		// user guide's Map_all example has no connectorOperator).
		if t.Operator != "" && t.Operator != "NO_OP" {
			return taskErr(i, t, "operator %s does not apply; want NO_OP", t.Operator)
		}
		if t.Operator != "" && !opts.sourceAllows(t.Operator) {
			return taskErr(i, t, "operator NO_OP is not available for source %s; leave the operator out", source)
		}
		return nil
	default:
		return taskErr(i, t, "unknown task type; want one of %s", strings.Join(taskTypes, ", "))
	}
	if t.Operator == "" {
		return taskErr(i, t, "needs a connectorOperator, one of %s", strings.Join(want, ", "))
	}
	if !contains(want, t.Operator) {
		return taskErr(i, t, "operator %s is not a %s operator; want one of %s", t.Operator, t.Type, strings.Join(want, ", "))
	}
	if !opts.sourceAllows(t.Operator) {
		return taskErr(i, t, "operator %s is not available for source %s (it offers %s)",
			t.Operator, source, allowedFor(opts, want))
	}
	return nil
}

func (c *compiler) filter(i int, t *Task) error {
	if len(t.SourceFields) != 1 {
		return taskErr(i, t, "a %s filter needs exactly one source field, got %d", t.Operator, len(t.SourceFields))
	}
	op := filterOps[t.Operator]
	dataType := t.Properties["DATA_TYPE"]
	f := filterStep{task: i, field: t.SourceFields[0], op: op, class: classify(dataType)}
	if f.class == classOther {
		f.class = classString
	}
	var values []string
	if op == opBetween {
		lo, okLo := t.Properties["LOWER_BOUND"]
		hi, okHi := t.Properties["UPPER_BOUND"]
		if !okLo || !okHi {
			return taskErr(i, t, "BETWEEN needs LOWER_BOUND and UPPER_BOUND")
		}
		values = []string{lo, hi}
	} else {
		if v, ok := t.Properties["VALUE"]; ok {
			values = append(values, v)
		}
		if v, ok := t.Properties["VALUES"]; ok {
			list, err := parseList(v)
			if err != nil {
				return taskErr(i, t, "VALUES %s %v", quoteShort(v), err)
			}
			values = append(values, list...)
		}
		if len(values) == 0 {
			return taskErr(i, t, "%s needs VALUE or VALUES", t.Operator)
		}
	}
	if op == opContains && f.class != classString {
		return taskErr(i, t, "CONTAINS compares strings; DATA_TYPE %s is not a string type", dataType)
	}
	for k, v := range values {
		prop := "VALUE"
		if op == opBetween {
			prop = [...]string{"LOWER_BOUND", "UPPER_BOUND"}[k]
		}
		switch f.class {
		case classInt, classFloat, classDecimal:
			n, ok := parseNumberText(v, new(apd.Decimal))
			if !ok {
				return taskErr(i, t, "%s %s is not a number (DATA_TYPE %s)", prop, quoteShort(v), dataType)
			}
			f.nums = append(f.nums, n)
		case classTime:
			ms, ok := parseMillis(strings.TrimSpace(v))
			if !ok {
				return taskErr(i, t, "%s %s is not a datetime; want epoch milliseconds or ISO 8601", prop, quoteShort(v))
			}
			f.ms = append(f.ms, ms)
		case classBool:
			b, ok := parseBool(strings.TrimSpace(v))
			if !ok {
				return taskErr(i, t, "%s %s is not true or false", prop, quoteShort(v))
			}
			f.bools = append(f.bools, b)
		default:
			f.strs = append(f.strs, v)
		}
	}
	if len(f.nums) == 1 && f.op != opBetween && f.nums[0].big == nil {
		f.one = newDecConst(f.nums[0].d, f.op)
	}
	f.ref = c.srcRef(f.field)
	c.p.filters = append(c.p.filters, f)
	c.p.pushdown = append(c.p.pushdown, connector.Filter{Field: f.field, Operator: t.Operator, Values: values, DataType: dataType})
	return nil
}

func (c *compiler) validate(i int, t *Task) error {
	if len(t.SourceFields) != 1 {
		return taskErr(i, t, "needs exactly one source field, got %d", len(t.SourceFields))
	}
	v := validateStep{task: i, name: t.Operator, field: t.SourceFields[0]}
	v.op = map[string]validateOp{"VALIDATE_NON_NULL": valNonNull, "VALIDATE_NON_ZERO": valNonZero,
		"VALIDATE_NON_NEGATIVE": valNonNegative, "VALIDATE_NUMERIC": valNumeric}[t.Operator]
	action, ok := t.Properties["VALIDATION_ACTION"]
	if !ok {
		return taskErr(i, t, "needs VALIDATION_ACTION: DropRecord, DropDataset, TerminateFlow or NoOp")
	}
	switch action {
	case "DropRecord":
		v.action = actDrop
	case "DropDataset", "TerminateFlow": // CDK sends DropDataset for "terminate flow"
		v.action = actFail
	case "NoOp":
		v.action = actNone
	default:
		return taskErr(i, t, "VALIDATION_ACTION %s is not DropRecord, DropDataset, TerminateFlow or NoOp", quoteShort(action))
	}
	v.ref = c.srcRef(v.field)
	c.p.validates = append(c.p.validates, v)
	return nil
}

func wholeNumber(i int, t *Task, key string) (int, error) {
	v, ok := t.Properties[key]
	if !ok {
		return 0, taskErr(i, t, "needs %s", key)
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, taskErr(i, t, "%s %s is not a whole number", key, quoteShort(v))
	}
	return n, nil
}

func (c *compiler) edit(i int, t *Task) error {
	if len(t.SourceFields) == 0 {
		return taskErr(i, t, "needs the field to change in sourceFields")
	}
	e := editStep{task: i, typ: t.Type}
	switch t.Operator {
	case "MASK_ALL":
		e.kind = editMaskAll // MASK_LENGTH is ignored: the console sends one anyway
	case "MASK_FIRST_N", "MASK_LAST_N":
		e.kind = editMaskFirst
		if t.Operator == "MASK_LAST_N" {
			e.kind = editMaskLast
		}
		n, err := wholeNumber(i, t, "MASK_LENGTH")
		if err != nil {
			return err
		}
		e.n = n
	default: // Truncate
		e.kind = editTruncate
		n, err := wholeNumber(i, t, "TRUNCATE_LENGTH")
		if err != nil {
			return err
		}
		e.n = n
	}
	if e.kind != editTruncate {
		e.mask = "*"
		if v, ok := t.Properties["MASK_VALUE"]; ok {
			if v == "" {
				return taskErr(i, t, "MASK_VALUE is empty")
			}
			e.mask = v
		}
		e.plainMask = utf8.ValidString(e.mask) && record.JSONStop(e.mask, 0) == len(e.mask)
		e.maskRun = strings.Repeat(e.mask, max(1, 32/len(e.mask)))
		if len(e.maskRun) >= 8 {
			e.maskWord = binary.LittleEndian.Uint64([]byte(e.maskRun[:8]))
		}
		if w := e.n * len(e.mask); e.kind == editMaskFirst && e.n > 0 && w <= 8 && e.maskWord != 0 {
			e.wordW = w
		}
	}
	for _, f := range t.SourceFields {
		e.field, e.ref = f, c.srcRef(f)
		c.p.edits = append(c.p.edits, e)
	}
	return nil
}

func (c *compiler) derive(i int, t *Task) error {
	self := c.virtual[t.DestinationField]
	d := derivedStep{task: i, typ: t.Type, out: self, name: t.DestinationField}
	read := func(name string) int {
		ref, k := c.anyRef(name, self)
		if k >= 0 && !containsInt(d.deps, k) {
			d.deps = append(d.deps, k)
		}
		return ref
	}
	if t.Type == "Arithmetic" {
		d.op = map[string]arithOp{"ADDITION": arAdd, "SUBTRACTION": arSub, "MULTIPLICATION": arMul, "DIVISION": arDiv}[t.Operator]
		fields := t.SourceFields
		if v, ok := t.Properties["MATH_OPERATION_FIELDS_ORDER"]; ok {
			list, err := parseList(v)
			if err != nil {
				return taskErr(i, t, "MATH_OPERATION_FIELDS_ORDER %s %v", quoteShort(v), err)
			}
			for _, f := range list {
				if len(t.SourceFields) > 0 && !contains(t.SourceFields, f) {
					return taskErr(i, t, "MATH_OPERATION_FIELDS_ORDER names %q, which is not in sourceFields", f)
				}
			}
			fields = list
		}
		if len(fields) != 2 {
			return taskErr(i, t, "%s takes exactly 2 fields (sourceFields or MATH_OPERATION_FIELDS_ORDER), got %d", t.Operator, len(fields))
		}
		d.fields = fields
		for _, f := range fields {
			d.refs = append(d.refs, read(f))
		}
	} else {
		format, ok := t.Properties["CONCAT_FORMAT"]
		if !ok {
			return taskErr(i, t, "needs CONCAT_FORMAT, a template such as \"${First} ${Last}\"")
		}
		parts, names, err := parseTemplate(format)
		if err != nil {
			return taskErr(i, t, "CONCAT_FORMAT %s %v", quoteShort(format), err)
		}
		if len(names) == 0 {
			// No placeholder: the format is the separator between the
			// source fields' values.
			if len(t.SourceFields) == 0 {
				return taskErr(i, t, "CONCAT_FORMAT has no ${field} placeholder and sourceFields is empty")
			}
			parts = nil
			for k, f := range t.SourceFields {
				if k > 0 && format != "" {
					parts = append(parts, part{lit: format, ref: -1})
				}
				parts = append(parts, part{ref: 0})
				names = append(names, f)
			}
		}
		n := 0
		for k := range parts {
			if parts[k].ref >= 0 {
				parts[k].ref = read(names[n])
				d.fields = append(d.fields, names[n])
				n++
			}
		}
		d.parts = parts
	}
	c.p.derived = append(c.p.derived, d)
	return nil
}

// parseTemplate splits "${a} and ${b}" into literal and field parts; a field
// part has ref 0 and its name in names, in order.
func parseTemplate(s string) ([]part, []string, error) {
	var parts []part
	var names []string
	for len(s) > 0 {
		j := strings.Index(s, "${")
		if j < 0 {
			parts = append(parts, part{lit: s, ref: -1})
			break
		}
		if j > 0 {
			parts = append(parts, part{lit: s[:j], ref: -1})
		}
		k := strings.IndexByte(s[j:], '}')
		if k < 0 {
			return nil, nil, fmt.Errorf("has an unclosed ${")
		}
		name := s[j+2 : j+k]
		if name == "" {
			return nil, nil, fmt.Errorf("has an empty ${}")
		}
		parts = append(parts, part{ref: 0})
		names = append(names, name)
		s = s[j+k+1:]
	}
	return parts, names, nil
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// orderDerived sorts Merge/Arithmetic so each runs after the virtual
// fields it reads; list order breaks ties.
func (c *compiler) orderDerived(tasks []Task) error {
	ds := c.p.derived
	byVirtual := make(map[int]int, len(ds)) // virtual index -> position in ds
	for k, d := range ds {
		byVirtual[d.out] = k
	}
	done := make([]bool, len(ds))
	ordered := make([]derivedStep, 0, len(ds))
	for len(ordered) < len(ds) {
		progress := false
		for k, d := range ds {
			if done[k] {
				continue
			}
			ready := true
			for _, v := range d.deps {
				if !done[byVirtual[v]] {
					ready = false
				}
			}
			if ready {
				done[k], progress = true, true
				ordered = append(ordered, d)
			}
		}
		if !progress {
			for k, d := range ds {
				if !done[k] {
					return taskErr(d.task, &tasks[d.task], "its inputs depend on its own result %q (a cycle of virtual fields)", d.name)
				}
			}
		}
	}
	c.p.derived = ordered
	return nil
}

func (c *compiler) output(i int, t *Task, field, dest string, class typeClass, seen map[string]int) error {
	if j, dup := seen[dest]; dup {
		return taskErr(i, t, "destinationField %q is already written by tasks[%d]", dest, j)
	}
	seen[dest] = i
	ref, _ := c.anyRef(field, -1)
	c.p.outs = append(c.p.outs, outCol{task: i, name: dest, field: field, ref: ref, class: class})
	return nil
}
