package customconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// queryPageSize is the maxResults of each QueryData call; a hint the
// connector may answer with fewer.
const queryPageSize = 1000

// flowProperties are the parts of sourceConnectorProperties.CustomConnector
// and destinationConnectorProperties.CustomConnector the driver reads.
type flowProperties struct {
	EntityName       string            `json:"entityName"`
	CustomProperties map[string]string `json:"customProperties"`
}

func parseFlowProperties(raw json.RawMessage) (*flowProperties, error) {
	var p flowProperties
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "CustomConnector properties")
		}
	}
	if p.EntityName == "" {
		return nil, fault.New(fault.Invalid, "CustomConnector properties need an entityName")
	}
	return &p, nil
}

// sourceSplit is a split's opaque state: the entity and the query.
type sourceSplit struct {
	entity *entity
	props  *flowProperties
	expr   string
}

// Splits is one split: the entity's query, paged in order by the
// connector's nextToken (the protocol has no partitions).
func (d *driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	props, err := parseFlowProperties(req.Properties)
	if err != nil {
		return nil, err
	}
	e, err := d.describe(ctx, props.EntityName)
	if err != nil {
		return nil, fmt.Errorf("entity %s: %w", props.EntityName, err)
	}
	return []connector.Split{{Name: props.EntityName, Opaque: &sourceSplit{
		entity: e, props: props, expr: filterExpression(e, req.Filters, req.Window),
	}}}, nil
}

// ReadSplit pages QueryData until the connector returns no nextToken; each
// page is one batch.
func (d *driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	st, ok := s.Opaque.(*sourceSplit)
	if !ok {
		return fault.New(fault.Internal, "split %s was not listed by this driver", s.Name)
	}
	cc := d.context(st.props.CustomProperties, st.entity.raw)
	cc.FlowName, cc.ExecutionID = req.FlowName, req.ExecutionID
	token := ""
	line := int64(1)
	for {
		if err := ctx.Err(); err != nil {
			return fault.Wrap(fault.Canceled, err, "read %s", s.Name)
		}
		var resp queryDataResponse
		err := d.c.call(ctx, d.c.dataTimeout(), "QueryData", queryDataRequest{
			Type: typeQueryData, EntityIdentifier: st.entity.name, ConnectorContext: cc,
			SelectedFieldNames: req.Fields, FilterExpression: st.expr, NextToken: token, MaxResults: queryPageSize,
		}, &resp)
		if err != nil {
			return fmt.Errorf("query %s: %w", s.Name, err)
		}
		if resp.IsSuccess == nil { // a handler that returned null or {}
			return fault.New(fault.ConnectorServer, "query %s: the connector answered QueryData without isSuccess", s.Name)
		}
		b, err := decodeRecords(st.entity, req.Fields, resp.Records, s.Name, line)
		if err != nil {
			return err
		}
		b.Final = resp.NextToken == ""
		line += int64(len(resp.Records))
		if err := emit(b); err != nil {
			return err
		}
		if b.Final {
			return nil
		}
		if resp.NextToken == token {
			return fault.New(fault.ConnectorServer, "query %s: the connector returned the same nextToken twice", s.Name)
		}
		token = resp.NextToken
	}
}

// decodeRecords parses one page of JSON-encoded records into a batch over
// fields (the projection), else the entity's fields and then any others
// the records hold, in order of appearance.
func decodeRecords(e *entity, fields []string, recs []string, split string, firstLine int64) (*record.Batch, error) {
	b := &record.Batch{Split: split, FirstLine: firstLine}
	rows := make([]map[string]any, len(recs))
	for i, r := range recs {
		dec := json.NewDecoder(bytes.NewReader([]byte(r)))
		dec.UseNumber()
		var m map[string]any
		err := dec.Decode(&m)
		if _, terr := dec.Token(); err == nil && terr != io.EOF {
			err = fmt.Errorf("data after the JSON object")
		}
		if err != nil || m == nil {
			if err == nil {
				err = fmt.Errorf("not a JSON object")
			}
			return nil, fault.Wrap(fault.ConnectorServer, err, "%s record %d: the connector returned an invalid record", split, firstLine+int64(i))
		}
		rows[i] = m
		b.SourceBytes += int64(len(r))
	}
	if fields != nil {
		b.Fields = slices.Clone(fields)
	} else {
		seen := map[string]bool{}
		for _, f := range e.fields {
			b.Fields = append(b.Fields, f.FieldName)
			seen[f.FieldName] = true
		}
		for _, m := range rows {
			var extra []string
			for k := range m {
				if !seen[k] {
					extra = append(extra, k)
					seen[k] = true
				}
			}
			slices.Sort(extra) // map order is random; keep batches stable
			b.Fields = append(b.Fields, extra...)
		}
	}
	b.Cells = make([]record.Value, 0, len(rows)*len(b.Fields))
	for _, m := range rows {
		for _, f := range b.Fields {
			v, ok := m[f]
			if !ok {
				b.Cells = append(b.Cells, record.Value{})
				continue
			}
			b.Cells = append(b.Cells, toValue(e.byName[f].DataType, v))
		}
	}
	return b, nil
}

// toValue converts a decoded JSON value, typed by the field's dataType
// where JSON alone cannot tell (integers from decimals).
func toValue(dataType string, v any) record.Value {
	switch x := v.(type) {
	case nil:
		return record.NullVal()
	case string:
		return record.Str(x)
	case bool:
		return record.BoolVal(x)
	case json.Number:
		switch dataType {
		case "Float", "Double":
			if f, err := x.Float64(); err == nil {
				return record.FloatVal(f)
			}
		case "BigDecimal":
			return record.DecimalVal(x.String())
		}
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return record.IntVal(i)
		}
		return record.DecimalVal(x.String())
	default:
		raw, _ := json.Marshal(x) // decoded JSON re-encodes
		return record.JSONVal(string(raw))
	}
}
