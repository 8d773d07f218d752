package zendeskconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// plan is the one split of a read.
type plan struct {
	ent    *entityDef
	fields []string
	types  []record.FieldType
}

// exportPage is the page size asked of the cursor-based exports (the
// documented maximum is 1000).
const exportPage = 1000

// Splits checks the object and the projection and returns one split named
// after the object.
func (d *Driver) Splits(ctx context.Context, r *connector.ReadRequest) ([]connector.Split, error) {
	object, err := httpconn.SourceObject(r, "Zendesk")
	if err != nil {
		return nil, err
	}
	e, err := entity(object)
	if err != nil {
		return nil, err
	}
	p := &plan{ent: e}
	if r.Fields == nil {
		for _, f := range e.fields {
			p.fields, p.types = append(p.fields, f.name), append(p.types, f.typ)
		}
		if e.name == "tickets" {
			cf, err := d.ticketFields(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", object, err)
			}
			for _, f := range cf {
				p.fields = append(p.fields, customPrefix+strconv.FormatInt(f.ID, 10))
				p.types = append(p.types, customType(f.Type))
			}
		}
	}
	for _, name := range r.Fields {
		// Fields the catalog does not list (custom fields, newer API
		// fields) are read as Zendesk sends them.
		p.fields, p.types = append(p.fields, name), append(p.types, fieldType(e, name))
	}
	if len(p.fields) == 0 {
		return nil, fault.New(fault.Invalid, "no fields to read from Zendesk %s", object)
	}
	return []connector.Split{{Name: object, Opaque: p}}, nil
}

// startTime is the start_time to ask for: the window's lower bound and any
// GREATER_THAN on updated_at, in whole seconds rounded down (the API
// answers "on or after"), and never within the last minute, which the
// export refuses (422 "Too recent start_time").
func (d *Driver) startTime(r *connector.ReadRequest) int64 {
	var ms int64
	if w := r.Window; w != nil && (w.Field == "" || w.Field == "updated_at") && !w.Start.IsZero() {
		ms = w.Start.UnixMilli()
	}
	for _, f := range r.Filters {
		if f.Field != "updated_at" || f.Operator != "GREATER_THAN" || len(f.Values) != 1 {
			continue
		}
		if v, ok := httpconn.ParseMillis(f.Values[0]); ok && v > ms {
			ms = v
		}
	}
	s := ms / 1000
	if ms < 0 {
		s = 0
	}
	if limit := d.c.Now().Add(-61 * time.Second).Unix(); s > limit {
		s = limit
	}
	return s
}

// ReadSplit reads the object through the export or list the entity uses,
// emitting a batch per page (organizations: once de-duplicated).
func (d *Driver) ReadSplit(ctx context.Context, r *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	rd, err := httpconn.NewReader[*plan](ctx, "Zendesk", r, s, emit)
	if err != nil {
		return err
	}
	switch rd.Plan.ent.read {
	case readCursorExport:
		err = d.cursorExport(ctx, rd)
	case readTimeExport:
		err = d.timeExport(ctx, rd)
	default:
		err = d.list(ctx, rd)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	return nil
}

type reader = httpconn.Reader[*plan]

// page decodes a page body, keeping numbers exact; anything after the
// value is a broken answer, not more to ignore.
func decodePage(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "decode the Zendesk response")
	}
	if _, err := dec.Token(); err != io.EOF {
		return fault.New(fault.ConnectorServer, "decode the Zendesk response: data after the JSON value: %s", httpconn.Excerpt(body))
	}
	return nil
}

// send turns items into a batch, keeping those inside the window.
func send(rd *reader, items []map[string]any, final bool, size int) error {
	b := &record.Batch{Fields: rd.Plan.fields, Final: final, SourceBytes: int64(size)}
	for _, it := range items {
		if !inWindow(rd, it) {
			continue
		}
		row := make([]record.Value, len(rd.Plan.fields))
		for i, f := range rd.Plan.fields {
			row[i] = value(rd.Plan.types[i], lookup(it, f))
		}
		b.AppendRow(row)
	}
	return rd.Send(b, len(items))
}

func inWindow(rd *reader, it map[string]any) bool {
	w := rd.Req.Window
	if w == nil {
		return true
	}
	field := w.Field
	if field == "" {
		field = "updated_at"
	}
	s, _ := it[field].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return false
	}
	return !t.Before(w.Start) && (w.End.IsZero() || t.Before(w.End))
}

// lookup finds a field; custom_field_<id> reads custom_fields[{id, value}].
func lookup(it map[string]any, name string) any {
	if v, ok := it[name]; ok {
		return v
	}
	if id, ok := strings.CutPrefix(name, customPrefix); ok {
		cfs, _ := it["custom_fields"].([]any)
		for _, c := range cfs {
			m, _ := c.(map[string]any)
			if n, ok := m["id"].(json.Number); ok && n.String() == id {
				return m["value"]
			}
		}
	}
	return nil
}

// value converts one JSON value by its catalog type.
func value(t record.FieldType, v any) record.Value {
	switch v := v.(type) {
	case nil:
		return record.NullVal()
	case string:
		if t == httpconn.TypeDateTime {
			if tm, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return record.TimeVal(tm)
			}
		}
		return record.Str(v)
	case json.Number:
		if t != httpconn.TypeDouble {
			if i, err := v.Int64(); err == nil {
				return record.IntVal(i)
			}
		}
		if f, err := v.Float64(); err == nil {
			return record.FloatVal(f)
		}
		return record.DecimalVal(v.String())
	case bool:
		return record.BoolVal(v)
	default:
		b, _ := json.Marshal(v)
		return record.JSONVal(string(b))
	}
}

// cursorExport reads /api/v2/incremental/<object>/cursor.json until
// end_of_stream (ZD incremental_exports).
func (d *Driver) cursorExport(ctx context.Context, rd *reader) error {
	path := "/api/v2/incremental/" + rd.Plan.ent.name + "/cursor.json"
	q := url.Values{"start_time": {strconv.FormatInt(d.startTime(rd.Req), 10)}, "per_page": {strconv.Itoa(exportPage)}}
	for {
		res, err := d.c.Do(ctx, &httpconn.Request{Method: "GET", Path: path, Query: q, Idempotent: true})
		if err != nil {
			return err
		}
		var page struct {
			AfterCursor *string `json:"after_cursor"`
			EndOfStream bool    `json:"end_of_stream"`
		}
		if err := decodePage(res.Body, &page); err != nil {
			return err
		}
		list, err := itemsOf(res.Body, rd.Plan.ent.name)
		if err != nil {
			return err
		}
		final := page.EndOfStream || page.AfterCursor == nil || *page.AfterCursor == ""
		if !final && *page.AfterCursor == q.Get("cursor") {
			return fault.New(fault.ConnectorServer, "Zendesk answered the same after_cursor twice (%.80s)", *page.AfterCursor)
		}
		if err := send(rd, list, final, len(res.Body)); err != nil {
			return err
		}
		if final {
			return nil
		}
		q = url.Values{"cursor": {*page.AfterCursor}, "per_page": {strconv.Itoa(exportPage)}}
	}
}

// timeExport reads /api/v2/incremental/<object>.json, moving start_time to
// each page's end_time; items may repeat across pages, so they are
// de-duplicated by id (the last copy wins) and emitted at the end.
func (d *Driver) timeExport(ctx context.Context, rd *reader) error {
	path := "/api/v2/incremental/" + rd.Plan.ent.name + ".json"
	start := d.startTime(rd.Req)
	var all []map[string]any
	pos := map[string]int{}
	size := 0
	for {
		res, err := d.c.Do(ctx, &httpconn.Request{Method: "GET", Path: path, Query: url.Values{"start_time": {strconv.FormatInt(start, 10)}}, Idempotent: true})
		if err != nil {
			return err
		}
		size += len(res.Body)
		var page struct {
			EndTime     int64 `json:"end_time"`
			EndOfStream bool  `json:"end_of_stream"`
		}
		if err := decodePage(res.Body, &page); err != nil {
			return err
		}
		list, err := itemsOf(res.Body, rd.Plan.ent.name)
		if err != nil {
			return err
		}
		for _, it := range list {
			if it["id"] == nil {
				return fault.New(fault.ConnectorServer, "Zendesk answered %s without an id", rd.Plan.ent.name)
			}
			id := fmt.Sprint(it["id"])
			if i, ok := pos[id]; ok {
				all[i] = it
				continue
			}
			pos[id] = len(all)
			all = append(all, it)
		}
		// A page that does not move end_time forward would repeat forever.
		if page.EndOfStream || page.EndTime <= start {
			break
		}
		start = page.EndTime
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	for i := 0; ; i += exportPage {
		j := min(i+exportPage, len(all))
		final := j == len(all)
		n := 0
		if final {
			n = size
		}
		if err := send(rd, all[i:j], final, n); err != nil {
			return err
		}
		if final {
			return nil
		}
	}
}

// list reads /api/v2/<object>.json with cursor pagination (ZD pagination).
func (d *Driver) list(ctx context.Context, rd *reader) error {
	path := "/api/v2/" + rd.Plan.ent.name + ".json"
	q := url.Values{"page[size]": {"100"}}
	for {
		res, err := d.c.Do(ctx, &httpconn.Request{Method: "GET", Path: path, Query: q, Idempotent: true})
		if err != nil {
			return err
		}
		var page struct {
			Meta struct {
				HasMore     bool   `json:"has_more"`
				AfterCursor string `json:"after_cursor"`
			} `json:"meta"`
		}
		if err := decodePage(res.Body, &page); err != nil {
			return err
		}
		list, err := itemsOf(res.Body, rd.Plan.ent.name)
		if err != nil {
			return err
		}
		final := !page.Meta.HasMore || page.Meta.AfterCursor == ""
		if !final && page.Meta.AfterCursor == q.Get("page[after]") {
			return fault.New(fault.ConnectorServer, "Zendesk answered the same after_cursor twice (%.80s)", page.Meta.AfterCursor)
		}
		if err := send(rd, list, final, len(res.Body)); err != nil {
			return err
		}
		if final {
			return nil
		}
		q = url.Values{"page[size]": {"100"}, "page[after]": {page.Meta.AfterCursor}}
	}
}

// itemsOf decodes the list a page carries under the object's name; a
// page without one is a broken answer, not an empty page.
func itemsOf(body []byte, name string) ([]map[string]any, error) {
	var items map[string]json.RawMessage
	if err := decodePage(body, &items); err != nil {
		return nil, err
	}
	raw, ok := items[name]
	if !ok {
		return nil, fault.New(fault.ConnectorServer, "the Zendesk answer has no %s: %s", name, httpconn.Excerpt(body))
	}
	var list []map[string]any
	if string(raw) != "null" {
		if err := decodePage(raw, &list); err != nil {
			return nil, err
		}
	}
	return list, nil
}
