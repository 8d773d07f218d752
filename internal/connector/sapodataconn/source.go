package sapodataconn

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

type sourceProps struct {
	ObjectPath       string `json:"objectPath"`
	PaginationConfig *struct {
		MaxPageSize int `json:"maxPageSize"`
	} `json:"paginationConfig"`
	ParallelismConfig *struct {
		MaxParallelism int `json:"maxParallelism"`
	} `json:"parallelismConfig"`
}

// maxPageSize is AppFlow's default and largest page of an OData read.
const maxPageSize = 3000

// plan is the one split of a read: the first page's path and query, and
// the fields to emit.
type plan struct {
	set    *entitySet
	path   string
	query  query
	fields []string
	props  []*property
	window *property // the incremental window's property, enforced here

	size  int   // $top of a page
	pages []int // the pages ($skip = page*size) this split reads; nil: all, in order
}

// Splits checks the object path and the projection against $metadata and
// returns one split named after the object path.
func (d *Driver) Splits(ctx context.Context, r *connector.ReadRequest) ([]connector.Split, error) {
	sp, err := connector.DecodeProperties[sourceProps](r.Properties, "SAP OData", "source")
	if err != nil {
		return nil, err
	}
	object := cmp.Or(sp.ObjectPath, r.Object)
	if object == "" {
		return nil, fault.New(fault.Invalid, "the SAP OData source has no objectPath")
	}
	e, svc, err := d.entity(ctx, object)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", object, err)
	}
	p := &plan{set: e, path: svc + "/" + e.Name}
	if r.Fields == nil {
		for i := range e.Props {
			if !e.Props[i].Nav {
				p.fields, p.props = append(p.fields, e.Props[i].Name), append(p.props, &e.Props[i])
			}
		}
	}
	for _, name := range r.Fields {
		pr := e.byName[name]
		if pr == nil || pr.Nav {
			return nil, fault.New(fault.Invalid, "%s has no property %s", object, name)
		}
		p.fields, p.props = append(p.fields, name), append(p.props, pr)
	}
	if len(p.fields) == 0 {
		return nil, fault.New(fault.Invalid, "no fields to read from %s", object)
	}
	selected := append([]string(nil), p.fields...)
	var conds []string
	if w := r.Window; w != nil && w.Field != "" {
		pr := e.byName[w.Field]
		if pr == nil || appflowType(pr.Edm) != httpconn.TypeDateTime {
			return nil, fault.New(fault.Invalid, "the incremental field %s is not a date-time property of %s", w.Field, object)
		}
		p.window = pr
		if r.Fields != nil && !contains(selected, pr.Name) {
			selected = append(selected, pr.Name)
		}
		if pr.Filterable {
			c := pr.Name + " ge " + timeLiteral(pr.Edm, w.Start.UnixMilli())
			if !w.End.IsZero() {
				c = "(" + c + " and " + pr.Name + " lt " + timeLiteral(pr.Edm, w.End.UnixMilli()) + ")"
			}
			conds = append(conds, c)
		}
	}
	for _, f := range r.Filters {
		if c, ok := filterExpr(e.byName[f.Field], f); ok {
			conds = append(conds, c)
		}
	}
	p.query = query{{"$format", "json"}}
	if r.Fields != nil {
		p.query = append(p.query, [2]string{"$select", strings.Join(selected, ",")})
	}
	if len(conds) > 0 {
		p.query = append(p.query, [2]string{"$filter", strings.Join(conds, " and ")})
	}
	p.size = maxPageSize
	if pc := sp.PaginationConfig; pc != nil && pc.MaxPageSize > 0 {
		p.size = min(pc.MaxPageSize, maxPageSize)
	}
	parallel := 1
	if pc := sp.ParallelismConfig; pc != nil && pc.MaxParallelism > 1 {
		parallel = min(pc.MaxParallelism, 10)
	}
	if parallel == 1 {
		return []connector.Split{{Name: object, Opaque: p}}, nil
	}
	// Parallel: count the rows, then deal the pages out to the splits.
	n, err := d.count(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", object, err)
	}
	pages := max(1, (n+p.size-1)/p.size)
	parallel = min(parallel, pages)
	splits := make([]connector.Split, parallel)
	for i := range splits {
		sp := *p
		for pg := i; pg < pages; pg += parallel {
			sp.pages = append(sp.pages, pg)
		}
		splits[i] = connector.Split{Name: fmt.Sprintf("%s#%d", object, i+1), Opaque: &sp}
	}
	return splits, nil
}

// count asks {set}/$count (with the read's $filter) how many rows there are.
func (d *Driver) count(ctx context.Context, p *plan) (int, error) {
	var q query
	for _, kv := range p.query {
		if kv[0] == "$filter" {
			q = append(q, kv)
		}
	}
	res, err := d.c.do(ctx, p.path+"/$count", q)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(res.Body)))
	if err != nil || n < 0 {
		return 0, fault.New(fault.ConnectorServer, "%s/$count answered %s, not a number", p.path, httpconn.Excerpt(res.Body))
	}
	return n, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The engine's comparison classes of a filter's DATA_TYPE.
const (
	classString = iota
	classNumber
	classTime
	classBool
)

func classOf(dataType string) int {
	t := strings.ToLower(strings.TrimSpace(dataType))
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	switch t {
	case "int", "integer", "bigint", "long", "smallint", "short", "tinyint", "byte",
		"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
		"double", "float", "real", "float4", "float8", "float32", "float64", "double precision",
		"decimal", "numeric", "number", "currency", "percent", "money":
		return classNumber
	case "boolean", "bool":
		return classBool
	case "datetime", "timestamp", "date", "timestamptz", "timestamp_ntz", "timestamp_tz",
		"timestamp with time zone", "timestamp without time zone":
		return classTime
	}
	return classString
}

// filterExpr translates a filter into $filter syntax when OData keeps at
// least every record the engine keeps: equality on any type the engine
// compares the same way (numbers: any DATA_TYPE, since equal text means
// equal numbers), ordering and BETWEEN on numbers and date-times compared
// as such, CONTAINS on strings. NOT_EQUAL_TO is never pushed: OData keeps
// a null as "not equal", which the engine may not.
func filterExpr(p *property, f connector.Filter) (string, bool) {
	if p == nil || p.Nav || !p.Filterable || len(f.Values) == 0 {
		return "", false
	}
	typ, class := appflowType(p.Edm), classOf(f.DataType)
	ordered := false
	switch typ {
	case httpconn.TypeInteger, httpconn.TypeLong, httpconn.TypeDecimal, httpconn.TypeDouble:
		ordered = class == classNumber
	case httpconn.TypeDateTime:
		if class != classTime {
			return "", false
		}
		ordered = true
	case httpconn.TypeBoolean:
		if class != classBool {
			return "", false
		}
	case httpconn.TypeString:
		if class != classString || p.Edm != "Edm.String" {
			return "", false
		}
	}
	lits := make([]string, len(f.Values))
	for i, v := range f.Values {
		l, ok := literal(p.Edm, v)
		if !ok {
			return "", false
		}
		lits[i] = l
	}
	n := p.Name
	cmp := map[string]string{"LESS_THAN": "lt", "LESS_THAN_OR_EQUAL_TO": "le", "GREATER_THAN": "gt", "GREATER_THAN_OR_EQUAL_TO": "ge"}
	switch f.Operator {
	case "EQUAL_TO":
		if len(lits) == 1 {
			return n + " eq " + lits[0], true
		}
		parts := make([]string, len(lits))
		for i, l := range lits {
			parts[i] = n + " eq " + l
		}
		return "(" + strings.Join(parts, " or ") + ")", true
	case "LESS_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO":
		if !ordered || len(lits) != 1 {
			return "", false
		}
		return n + " " + cmp[f.Operator] + " " + lits[0], true
	case "BETWEEN":
		if !ordered || len(lits) != 2 {
			return "", false
		}
		return "(" + n + " ge " + lits[0] + " and " + n + " le " + lits[1] + ")", true
	case "CONTAINS":
		if typ != httpconn.TypeString || len(lits) != 1 {
			return "", false
		}
		return "substringof(" + lits[0] + "," + n + ") eq true", true
	}
	return "", false
}

// literal writes v as an OData v2 literal of the Edm type.
func literal(edm, v string) (string, bool) {
	t := strings.TrimSpace(v)
	switch edm {
	case "Edm.String":
		return "'" + strings.ReplaceAll(v, "'", "''") + "'", true
	case "Edm.Int16", "Edm.Int32", "Edm.Byte", "Edm.SByte":
		if _, err := strconv.ParseInt(t, 10, 32); err != nil {
			return "", false
		}
		return t, true
	case "Edm.Int64":
		if _, err := strconv.ParseInt(t, 10, 64); err != nil {
			return "", false
		}
		return t + "L", true
	case "Edm.Decimal":
		if !isDecimal(t) {
			return "", false
		}
		return t + "M", true
	case "Edm.Double", "Edm.Single":
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return "", false
		}
		return strconv.FormatFloat(f, 'g', -1, 64) + "d", true
	case "Edm.Boolean":
		switch strings.ToLower(t) {
		case "true", "false":
			return strings.ToLower(t), true
		}
	case "Edm.DateTime", "Edm.DateTimeOffset":
		ms, ok := httpconn.ParseMillis(t)
		if !ok {
			return "", false
		}
		return timeLiteral(edm, ms), true
	}
	return "", false
}

func isDecimal(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	ip, frac, _ := strings.Cut(s, ".")
	if ip == "" && frac == "" {
		return false
	}
	for _, c := range ip + frac {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// timeLiteral writes epoch milliseconds as datetime'…' (UTC, no zone) or
// datetimeoffset'…Z'.
func timeLiteral(edm string, ms int64) string {
	t := time.UnixMilli(ms).UTC()
	layout := "2006-01-02T15:04:05"
	if ms%1000 != 0 {
		layout += ".000"
	}
	if edm == "Edm.DateTimeOffset" {
		return "datetimeoffset'" + t.Format(layout) + "Z'"
	}
	return "datetime'" + t.Format(layout) + "'"
}

// ReadSplit reads the entity set page by page, following d.__next, and
// emits a batch per page.
func (d *Driver) ReadSplit(ctx context.Context, r *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	p, err := httpconn.Plan[*plan](ctx, s, "SAP OData")
	if err != nil {
		return err
	}
	if err := d.read(ctx, r, p, s.Name, emit); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	return nil
}

func (d *Driver) read(ctx context.Context, r *connector.ReadRequest, p *plan, split string, emit func(*record.Batch) error) error {
	line := int64(1)
	var prev []byte // the first answer of the previous $skip page
	// page k asks $top=size&$skip=k*size; a service that pages on its own
	// answers __next (its $skiptoken), followed until the page is whole.
	for k := 0; ; k++ {
		pg := k
		if p.pages != nil {
			if k >= len(p.pages) {
				return nil
			}
			pg = p.pages[k]
		}
		last := p.pages == nil || k == len(p.pages)-1
		q := append(p.query[:len(p.query):len(p.query)], [2]string{"$top", strconv.Itoa(p.size)}, [2]string{"$skip", strconv.Itoa(pg * p.size)})
		path, got := p.path, 0
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			res, err := d.c.do(ctx, path, q)
			if err != nil {
				return err
			}
			if q != nil {
				// The same rows at the next $skip: the service ignores $skip.
				if k > 0 && p.pages == nil && bytes.Equal(res.Body, prev) {
					return fault.New(fault.ConnectorServer, "page %d is the same answer as page %d: the service ignores $skip", pg+1, pg)
				}
				prev = res.Body
			}
			var v struct {
				D *struct {
					Results *[]map[string]json.RawMessage `json:"results"`
					Next    string                        `json:"__next"`
				} `json:"d"`
			}
			if err := json.Unmarshal(res.Body, &v); err != nil || v.D == nil || v.D.Results == nil {
				if err == nil {
					err = fmt.Errorf("no d.results")
				}
				return fault.Wrap(fault.ConnectorServer, err, "decode page %d", pg+1)
			}
			results := (*v.D.Results)[:min(len(*v.D.Results), p.size-got)]
			got += len(results)
			next := ""
			if v.D.Next != "" && got < p.size {
				if next, err = d.nextURL(v.D.Next, path); err != nil {
					return err
				}
				if next == path {
					return fault.New(fault.ConnectorServer, "page %d: the __next link %q names the page itself", pg+1, v.D.Next)
				}
			}
			more := next != "" || got == p.size && p.pages == nil // a whole page: there may be another
			b := &record.Batch{Fields: p.fields, Split: split, FirstLine: line, Final: last && !more, SourceBytes: int64(len(res.Body))}
			if err := p.rows(r, b, results, line); err != nil {
				return err
			}
			line += int64(len(results))
			if err := emit(b); err != nil {
				return err
			}
			if next == "" {
				break
			}
			path, q = next, nil
		}
		if got < p.size && p.pages == nil {
			return nil
		}
		if got == p.size && p.pages == nil {
			continue
		}
	}
}

// rows appends the page's records in the window to b.
func (p *plan) rows(r *connector.ReadRequest, b *record.Batch, results []map[string]json.RawMessage, line int64) error {
	for i, it := range results {
		if p.window != nil && !inWindow(r.Window, value(p.window, it[p.window.Name])) {
			continue
		}
		row := make([]record.Value, len(p.fields))
		for j, pr := range p.props {
			raw, ok := it[pr.Name]
			if !ok {
				row[j] = record.NullVal()
				continue
			}
			row[j] = value(pr, raw)
			if row[j].K == record.Missing {
				return fault.New(fault.ConnectorServer, "record %d: %s is not an %s value: %s", line+int64(i), pr.Name, pr.Edm, short(raw))
			}
		}
		b.AppendRow(row)
	}
	return nil
}

func short(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

// nextURL resolves a __next link against the request; a link to another
// host is refused (the credentials would go with it).
func (d *Driver) nextURL(next, from string) (string, error) {
	base, err := url.Parse(d.c.url(from, nil))
	if err != nil {
		return "", fault.Wrap(fault.Internal, err, "parse %s", from)
	}
	u, err := base.Parse(next)
	if err != nil {
		return "", fault.Wrap(fault.ConnectorServer, err, "parse the __next link %q", next)
	}
	if u.Host != base.Host || u.Scheme != base.Scheme {
		return "", fault.New(fault.ConnectorServer, "the __next link %q leaves %s", next, base.Host)
	}
	return u.String(), nil
}

func inWindow(w *connector.Window, v record.Value) bool {
	if v.K != record.Time {
		return false
	}
	t := v.Time()
	return !t.Before(w.Start) && (w.End.IsZero() || t.Before(w.End))
}

// value converts one OData v2 JSON value by its Edm type; a value that
// does not fit its type comes back Missing.
func value(p *property, raw json.RawMessage) record.Value {
	if len(raw) == 0 || string(raw) == "null" {
		return record.NullVal()
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return record.Value{}
	}
	switch appflowType(p.Edm) {
	case httpconn.TypeInteger, httpconn.TypeLong:
		var s string
		switch x := v.(type) {
		case json.Number:
			s = x.String()
		case string:
			s = x // Int64 travels as a string
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return record.IntVal(i)
		}
		return record.Value{}
	case httpconn.TypeDecimal:
		switch x := v.(type) {
		case json.Number:
			return record.DecimalVal(x.String())
		case string:
			if isDecimal(x) {
				return record.DecimalVal(x)
			}
		}
		return record.Value{}
	case httpconn.TypeDouble:
		var s string
		switch x := v.(type) {
		case json.Number:
			s = x.String()
		case string:
			s = x
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return record.FloatVal(f)
		}
		return record.Value{}
	case httpconn.TypeBoolean:
		if b, ok := v.(bool); ok {
			return record.BoolVal(b)
		}
		return record.Value{}
	case httpconn.TypeDateTime:
		s, _ := v.(string)
		if ms, ok := parseDate(s); ok {
			return record.MillisVal(ms)
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return record.TimeVal(t)
		}
		return record.Value{}
	}
	switch x := v.(type) {
	case string:
		return record.Str(x)
	case json.Number:
		return record.Str(x.String())
	case bool:
		return record.Str(strconv.FormatBool(x))
	}
	return record.JSONVal(string(raw))
}

// parseDate reads "/Date(1704067200000)/" or "/Date(1704067200000+0060)/"
// (the offset is minutes, informative: the number is UTC).
func parseDate(s string) (int64, bool) {
	in, ok := strings.CutPrefix(s, "/Date(")
	if !ok {
		return 0, false
	}
	in, ok = strings.CutSuffix(in, ")/")
	if !ok {
		return 0, false
	}
	if i := strings.IndexAny(in[min(1, len(in)):], "+-"); i >= 0 {
		in = in[:i+1]
	}
	ms, err := strconv.ParseInt(in, 10, 64)
	return ms, err == nil
}
