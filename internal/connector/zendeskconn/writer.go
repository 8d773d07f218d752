package zendeskconn

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// jobSize is the most records one create_many/update_many job takes.
const jobSize = 100

type destProps struct {
	Object string `json:"object"`
	httpconn.WriteProps
}

// OpenWriter checks the operation against the object; records are
// buffered until Commit.
func (d *Driver) OpenWriter(ctx context.Context, r *connector.WriteRequest) (connector.Writer, error) {
	props, err := connector.DecodeProperties[destProps](r.Properties, "Zendesk", "destination")
	if err != nil {
		return nil, err
	}
	object := cmp.Or(r.Object, props.Object)
	e, err := entity(object)
	if err != nil {
		return nil, err
	}
	if !e.writable {
		return nil, fault.New(fault.Invalid, "Zendesk %s cannot be written; write to tickets, users or organizations", object)
	}
	op := props.Operation(r)
	ids := props.IDFields(r)
	w := &writer{d: d, ent: e, op: op, req: r,
		Buffer: httpconn.Buffer[*pending]{Vendor: "Zendesk", FailFast: r.ErrorHandling != nil && r.ErrorHandling.FailOnFirstError}}
	switch op {
	case "INSERT":
	case "UPDATE":
		w.idField = "id"
		if len(ids) > 0 {
			w.idField = ids[0]
		}
		if w.idField != "id" && w.idField != "external_id" {
			return nil, fault.New(fault.Invalid, "UPDATE of Zendesk %s matches on id or external_id, not %s", object, w.idField)
		}
	case "UPSERT":
		if len(ids) == 0 || ids[0] != "external_id" {
			return nil, fault.New(fault.Invalid, "UPSERT into Zendesk %s matches on an external field: set idFieldNames to [external_id]", object)
		}
		w.idField = "external_id"
	default:
		return nil, fault.New(fault.Invalid, "Zendesk does not support the %s write operation (INSERT, UPSERT and UPDATE only)", op)
	}
	if err := rejects.Check(ctx, d.deps, r.ErrorHandling); err != nil {
		return nil, fmt.Errorf("zendesk: %w", err)
	}
	return w, nil
}

type writer struct {
	d       *Driver
	ent     *entityDef
	op      string
	idField string

	req *connector.WriteRequest

	httpconn.Buffer[*pending]
}

// pending is one buffered record.
type pending struct {
	httpconn.Pending
	id int64 // the Zendesk id, once known (UPDATE)
}

var _ connector.FailureRecorder = (*writer)(nil)

// Write buffers the batch; a ticket's custom_<id> fields go to its
// custom_fields.
func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	var custom []map[string]any
	return w.Keep(ctx, b, func(p *httpconn.Pending, name string, v record.Value) {
		jv := httpconn.JSONValue(v)
		if id, ok := strings.CutPrefix(name, customPrefix); ok && w.ent.name == "tickets" {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				custom = append(custom, map[string]any{"id": n, "value": jv})
				return
			}
		}
		p.Body[name] = jv
	}, func(p *httpconn.Pending) *pending {
		if custom != nil {
			p.Body["custom_fields"] = custom
			custom = nil
		}
		return &pending{Pending: *p}
	})
}

func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if err := w.Begin(ctx); err != nil {
		return nil, err
	}
	var err error
	if len(w.Recs) > 0 {
		err = w.commit(ctx)
	}
	w.Recs = nil
	if w.Result.RecordsWritten > 0 {
		w.Result.Objects = []string{w.ent.name}
	}
	if _, _, ferr := rejects.Write(ctx, w.d.deps, w.req, "zendesk-rejected-records.jsonl", w.Result.Failures); ferr != nil {
		return nil, errors.Join(err, ferr)
	}
	if err != nil {
		return nil, err
	}
	return &w.Result, nil
}

func (w *writer) commit(ctx context.Context) error {
	obj := w.ent.name
	switch {
	case w.op == "INSERT":
		return w.jobs(ctx, http.MethodPost, "/api/v2/"+obj+"/create_many.json", w.Recs)
	case w.op == "UPDATE":
		var ok []*pending
		for _, p := range w.Recs {
			found, err := w.resolve(ctx, p)
			if err != nil {
				return err
			}
			if found {
				p.Body["id"] = p.id
				ok = append(ok, p)
			}
		}
		return w.jobs(ctx, http.MethodPut, "/api/v2/"+obj+"/update_many.json", ok)
	case obj == "organizations":
		for _, p := range w.Recs {
			if err := w.upsertOrganization(ctx, p); err != nil {
				return err
			}
		}
		return nil
	default:
		// tickets have no create-or-update; users' create_or_update_many
		// matches on email as well as external_id. So: look up by
		// external_id, then update or create.
		var creates, updates []*pending
		for _, p := range w.Recs {
			if p.Text["external_id"] == "" {
				if err := w.fail(p, "the record has no external_id to match on"); err != nil {
					return err
				}
				continue
			}
			id, found, err := w.lookup(ctx, p)
			if err != nil {
				return err
			}
			if found {
				p.id = id
				p.Body["id"] = id
				updates = append(updates, p)
			} else {
				creates = append(creates, p)
			}
		}
		if err := w.jobs(ctx, http.MethodPut, "/api/v2/"+obj+"/update_many.json", updates); err != nil {
			return err
		}
		return w.jobs(ctx, http.MethodPost, "/api/v2/"+obj+"/create_many.json", creates)
	}
}

// resolve finds the Zendesk id an UPDATE record names; a record it cannot
// match is a failure.
func (w *writer) resolve(ctx context.Context, p *pending) (bool, error) {
	if w.idField == "id" {
		n, err := strconv.ParseInt(strings.TrimSpace(p.Text["id"]), 10, 64)
		if err != nil {
			return false, w.fail(p, fmt.Sprintf("UPDATE needs a numeric Zendesk id, got %q", p.Text["id"]))
		}
		p.id = n
		return true, nil
	}
	if p.Text["external_id"] == "" {
		return false, w.fail(p, "the record has no external_id to match on")
	}
	id, found, err := w.lookup(ctx, p)
	if err != nil || found {
		p.id = id
		return found, err
	}
	return false, w.fail(p, fmt.Sprintf("RecordNotFound: no Zendesk %s has external_id %q", w.ent.name, p.Text["external_id"]))
}

// lookup finds a record by external_id.
func (w *writer) lookup(ctx context.Context, p *pending) (int64, bool, error) {
	ext := p.Text["external_id"]
	path := "/api/v2/" + w.ent.name + "/search.json"
	if w.ent.name == "tickets" {
		path = "/api/v2/tickets.json"
	}
	var page map[string]json.RawMessage
	if err := getJSON(ctx, w.d.c, path, url.Values{"external_id": {ext}}, &page); err != nil {
		return 0, false, err
	}
	var list []struct {
		ID         int64  `json:"id"`
		ExternalID string `json:"external_id"`
	}
	_ = json.Unmarshal(page[w.ent.name], &list)
	for _, it := range list {
		if it.ExternalID == ext {
			return it.ID, true, nil
		}
	}
	return 0, false, nil
}

func (w *writer) upsertOrganization(ctx context.Context, p *pending) error {
	body, _ := json.Marshal(map[string]any{"organization": p.Body})
	w.Result.BytesWritten += int64(len(body))
	_, err := w.d.c.Do(ctx, &httpconn.Request{Method: http.MethodPost, Path: "/api/v2/organizations/create_or_update.json", Body: body})
	var ae *APIError
	if err != nil && errors.As(err, &ae) && (ae.Status == http.StatusUnprocessableEntity || ae.Status == http.StatusBadRequest) {
		return w.fail(p, reasonOf(ae.Code, ae.Message, ae.Detail))
	}
	if err != nil {
		return err
	}
	w.Result.RecordsWritten++
	return nil
}

// jobStatus is a Zendesk job status (ZD job_statuses).
type jobStatus struct {
	ID      string      `json:"id"`
	Status  string      `json:"status"`
	Message string      `json:"message"`
	Results []jobResult `json:"results"`
}

type jobResult struct {
	Index   *int            `json:"index"`
	ID      json.Number     `json:"id"`
	Status  string          `json:"status"`
	Success *bool           `json:"success"`
	Error   string          `json:"error"`
	Details json.RawMessage `json:"details"`
}

func (r *jobResult) failed() bool {
	return strings.EqualFold(r.Status, "Failed") || r.Error != "" || (r.Success != nil && !*r.Success)
}

// jobs sends recs in jobs of jobSize and maps each job's results back to
// its records.
func (w *writer) jobs(ctx context.Context, method, path string, recs []*pending) error {
	for i := 0; i < len(recs); i += jobSize {
		chunk := recs[i:min(i+jobSize, len(recs))]
		items := make([]map[string]any, len(chunk))
		for j, p := range chunk {
			items[j] = p.Body
		}
		body, err := json.Marshal(map[string]any{w.ent.name: items})
		if err != nil {
			return fault.Wrap(fault.Invalid, err, "encode Zendesk %s", w.ent.name)
		}
		res, err := w.d.c.Do(ctx, &httpconn.Request{Method: method, Path: path, Body: body})
		if err != nil {
			return err
		}
		w.Result.BytesWritten += int64(len(body))
		var start struct {
			JobStatus jobStatus `json:"job_status"`
		}
		if err := decodeJSON(res.Body, &start, path); err != nil {
			return err
		}
		js, err := w.wait(ctx, start.JobStatus)
		if err != nil {
			return err
		}
		if err := w.apply(js, chunk); err != nil {
			return err
		}
	}
	return nil
}

// wait polls the job until it is completed or failed.
func (w *writer) wait(ctx context.Context, js jobStatus) (jobStatus, error) {
	for n := 0; js.Status != "completed" && js.Status != "failed" && js.Status != "killed"; n++ {
		if js.ID == "" {
			return js, fault.New(fault.ConnectorServer, "Zendesk job status without an id (status %q)", js.Status)
		}
		if err := w.pollWait(ctx, n); err != nil {
			return js, err
		}
		var out struct {
			JobStatus jobStatus `json:"job_status"`
		}
		if err := getJSON(ctx, w.d.c, "/api/v2/job_statuses/"+url.PathEscape(js.ID)+".json", nil, &out); err != nil {
			return js, err
		}
		js = out.JobStatus
	}
	return js, nil
}

func (w *writer) pollWait(ctx context.Context, n int) error {
	if w.d.opts.PollWait != nil {
		return w.d.opts.PollWait(ctx, n)
	}
	return httpconn.Pause(ctx, n, 250*time.Millisecond, 5*time.Second)
}

// apply maps a finished job's results to its records: by index when the
// result has one, else by id, else in input order.
func (w *writer) apply(js jobStatus, chunk []*pending) error {
	if js.Status != "completed" {
		for _, p := range chunk {
			if err := w.fail(p, reasonOf("job "+js.Status, js.Message, "")); err != nil {
				return err
			}
		}
		return nil
	}
	byID := map[string]int{}
	for j, p := range chunk {
		if p.id != 0 {
			byID[strconv.FormatInt(p.id, 10)] = j
		}
	}
	failed := make([]string, len(chunk))
	for k, r := range js.Results {
		if !r.failed() {
			continue
		}
		j := k
		switch {
		case r.Index != nil:
			j = *r.Index
		case r.ID != "":
			if at, ok := byID[r.ID.String()]; ok {
				j = at
			}
		}
		if j >= 0 && j < len(chunk) {
			failed[j] = reasonOf(r.Error, "", detailsText(r.Details))
		}
	}
	for j, p := range chunk {
		if failed[j] == "" {
			w.Result.RecordsWritten++
			continue
		}
		if err := w.fail(p, failed[j]); err != nil {
			return err
		}
	}
	return nil
}

func reasonOf(code, desc, details string) string {
	var parts []string
	for _, s := range []string{code, desc, details} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "Zendesk rejected the record"
	}
	return strings.Join(parts, ": ")
}

// fail records a rejected record; with failOnFirstDestinationError it ends
// the write.
func (w *writer) fail(p *pending, reason string) error {
	return w.Fail(p.Split, p.Line, p.Text, reason)
}
