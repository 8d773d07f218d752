package customconn

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// entityPageSize is the maxResult of each ListEntities call.
const entityPageSize = 1000

// ListEntities lists the connector's entities under path, every page, in
// one group "Objects".
func (d *driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	var out []connector.Entity
	token := ""
	for {
		var resp listEntitiesResponse
		err := d.c.call(ctx, d.c.metadataTimeout(), "ListEntities", listEntitiesRequest{
			Type: typeListEntities, ConnectorContext: d.context(nil, nil), EntitiesPath: path,
			NextToken: token, MaxResult: entityPageSize,
		}, &resp)
		if err != nil {
			return nil, err
		}
		for _, e := range resp.Entities {
			out = append(out, connector.Entity{Name: e.EntityIdentifier, Label: e.Label, HasNestedEntities: e.HasNestedEntities})
		}
		if resp.NextToken == "" {
			break
		}
		if resp.NextToken == token {
			return nil, fault.New(fault.ConnectorServer, "the connector answered ListEntities with the same nextToken twice")
		}
		token = resp.NextToken
	}
	return map[string][]connector.Entity{"Objects": out}, nil
}

// entity is a described entity: the connector's definition as sent (it is
// echoed in data calls) and the fields, by name.
type entity struct {
	name   string
	raw    json.RawMessage
	fields []FieldDefinition
	byName map[string]FieldDefinition
}

func (d *driver) describe(ctx context.Context, name string) (*entity, error) {
	if name == "" {
		return nil, fault.New(fault.Invalid, "entityName is required")
	}
	var resp describeEntityResponse
	err := d.c.call(ctx, d.c.metadataTimeout(), "DescribeEntity", describeEntityRequest{
		Type: typeDescribeEntity, EntityIdentifier: name, ConnectorContext: d.context(nil, nil),
	}, &resp)
	if err != nil {
		return nil, err
	}
	if len(resp.EntityDefinition) == 0 || string(resp.EntityDefinition) == "null" {
		return nil, fault.New(fault.ConnectorServer, "the connector described entity %s without an entityDefinition", name)
	}
	var def EntityDefinition
	if err := json.Unmarshal(resp.EntityDefinition, &def); err != nil {
		return nil, fault.Wrap(fault.ConnectorServer, err, "the connector's entityDefinition of %s", name)
	}
	e := &entity{name: name, raw: resp.EntityDefinition, fields: def.Fields, byName: map[string]FieldDefinition{}}
	for _, f := range def.Fields {
		e.byName[f.FieldName] = f
	}
	return e, nil
}

// DescribeEntity describes an entity's fields.
func (d *driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	e, err := d.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]connector.EntityField, 0, len(e.fields))
	for _, f := range e.fields {
		ef := connector.EntityField{
			Name:            f.FieldName,
			Label:           f.Label,
			Type:            fieldType(f.DataType),
			IsPrimaryKey:    f.IsPrimaryKey,
			Nullable:        true,
			FilterOperators: operatorsOf(f),
			Queryable:       true,
		}
		if rp := f.ReadProperties; rp != nil {
			if rp.IsNullable != nil {
				ef.Nullable = *rp.IsNullable
			}
			if rp.IsQueryable != nil {
				ef.Queryable = *rp.IsQueryable
			}
			ef.IsTimestampForIncremental = rp.IsTimestampFieldForIncrementalQueries
		}
		if wp := f.WriteProperties; wp != nil {
			ef.Creatable, ef.Updatable, ef.Upsertable = wp.IsCreatable, wp.IsUpdatable, wp.IsUpsertable
			ef.WriteOperations = wp.SupportedWriteOperations
		}
		out = append(out, ef)
	}
	return out, nil
}

// fieldType names a connector dataType as AppFlow's entity fields do.
func fieldType(dataType string) record.FieldType {
	return record.FieldType(strings.ToLower(dataType))
}

// defaultOperators are the filter operators of a field that declares none
// (JAVA-SDK FieldDefinition.java, PY fields.py).
var defaultOperators = map[string][]string{
	"numeric":  {"NOT_EQUAL_TO", "EQUAL_TO", "LESS_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO"},
	"Date":     {"EQUAL_TO", "LESS_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO", "BETWEEN"},
	"DateTime": {"EQUAL_TO", "LESS_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO", "BETWEEN"},
	"String":   {"CONTAINS", "EQUAL_TO", "NOT_EQUAL_TO"},
	"Boolean":  {"EQUAL_TO", "NOT_EQUAL_TO"},
	"Map":      {"CONTAINS"},
	"List":     {"CONTAINS"},
}

func isNumeric(dataType string) bool {
	switch dataType {
	case "Integer", "Float", "Double", "Long", "Short", "BigInteger", "BigDecimal":
		return true
	}
	return false
}

// operatorsOf are the filter operators a field accepts.
func operatorsOf(f FieldDefinition) []string {
	if f.FilterOperators != nil {
		return f.FilterOperators
	}
	if isNumeric(f.DataType) {
		return slices.Clone(defaultOperators["numeric"])
	}
	return slices.Clone(defaultOperators[f.DataType])
}
