package salesforceconn

import (
	"context"
	"net/http"
	"net/url"
	"sort"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// sobjectField is the part of a describe result's field the connector uses
// (REST API Developer Guide, sObject Describe; DescribeSObjectResult Field).
type sobjectField struct {
	Name              string `json:"name"`
	Label             string `json:"label"`
	Type              string `json:"type"`
	Nillable          bool   `json:"nillable"`
	Createable        bool   `json:"createable"`
	Updateable        bool   `json:"updateable"`
	Filterable        bool   `json:"filterable"`
	IDLookup          bool   `json:"idLookup"`
	ExternalID        bool   `json:"externalId"`
	DefaultedOnCreate bool   `json:"defaultedOnCreate"`
	Calculated        bool   `json:"calculated"`
	CompoundFieldName string `json:"compoundFieldName"`
	Deprecated        bool   `json:"deprecatedAndHidden"`
	PicklistValues    []struct {
		Value  string `json:"value"`
		Active bool   `json:"active"`
	} `json:"picklistValues"`
}

type sobjectDescribe struct {
	Name       string         `json:"name"`
	Label      string         `json:"label"`
	Queryable  bool           `json:"queryable"`
	Createable bool           `json:"createable"`
	Fields     []sobjectField `json:"fields"`
}

func (d *sobjectDescribe) field(name string) *sobjectField {
	for i := range d.Fields {
		if d.Fields[i].Name == name {
			return &d.Fields[i]
		}
	}
	return nil
}

// ListEntities lists the queryable objects of describeGlobal in group
// "Objects"; Salesforce objects do not nest.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	if path != "" {
		return map[string][]connector.Entity{}, nil
	}
	r, err := d.c.do(ctx, req{method: http.MethodGet, path: "/sobjects", idempotent: true})
	if err != nil {
		return nil, err
	}
	var g struct {
		SObjects []struct {
			Name      string `json:"name"`
			Label     string `json:"label"`
			Queryable bool   `json:"queryable"`
		} `json:"sobjects"`
	}
	if err := decodeJSON(r.Body, &g, "describeGlobal"); err != nil {
		return nil, err
	}
	var out []connector.Entity
	for _, o := range g.SObjects {
		if o.Queryable {
			out = append(out, connector.Entity{Name: o.Name, Label: o.Label})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return map[string][]connector.Entity{"Objects": out}, nil
}

func (d *Driver) describe(ctx context.Context, object string) (*sobjectDescribe, error) {
	if object == "" {
		return nil, fault.New(fault.Invalid, "a Salesforce object is required")
	}
	r, err := d.c.do(ctx, req{method: http.MethodGet, path: "/sobjects/" + url.PathEscape(object) + "/describe", idempotent: true})
	if err != nil {
		return nil, err
	}
	var desc sobjectDescribe
	if err := decodeJSON(r.Body, &desc, "describe "+object); err != nil {
		return nil, err
	}
	return &desc, nil
}

// DescribeEntity maps an sObject describe to AppFlow's field descriptions.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	desc, err := d.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]connector.EntityField, 0, len(desc.Fields))
	for _, f := range desc.Fields {
		if f.Deprecated {
			continue
		}
		ef := connector.EntityField{
			Name: f.Name, Label: f.Label, Type: record.FieldType(f.Type),
			IsPrimaryKey: f.Type == "id", Nullable: f.Nillable,
			Creatable: f.Createable, Updatable: f.Updateable,
			Upsertable:                f.Createable && f.Updateable || f.ExternalID || f.Type == "id",
			Queryable:                 true,
			IsTimestampForIncremental: f.Type == "datetime" && f.Filterable,
		}
		if f.Filterable {
			ef.FilterOperators = operatorsFor(f.Type)
		} else {
			ef.FilterOperators = []string{"PROJECTION"}
		}
		ef.WriteOperations = writeOperationsFor(&f)
		out = append(out, ef)
	}
	return out, nil
}

// operatorsFor follows DescribeConnectorEntity's sample (control-plane §8):
// strings offer CONTAINS and equality, numbers and dates add ordering, most
// other types only equality.
func operatorsFor(sfType string) []string {
	switch typeClass(sfType) {
	case classString:
		return []string{"PROJECTION", "CONTAINS", "EQUAL_TO", "NOT_EQUAL_TO"}
	case classInt, classFloat, classDateTime, classDate:
		return []string{"PROJECTION", "LESS_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN",
			"GREATER_THAN_OR_EQUAL_TO", "BETWEEN", "EQUAL_TO", "NOT_EQUAL_TO"}
	case classBool:
		return []string{"PROJECTION", "EQUAL_TO", "NOT_EQUAL_TO"}
	}
	return []string{"PROJECTION", "EQUAL_TO"}
}

// writeOperationsFor says which write operations may carry a field: the Id
// matches UPDATE, UPSERT and DELETE; external ids match UPSERT; createable
// and updateable fields are set by the operations that say so.
func writeOperationsFor(f *sobjectField) []string {
	var ops []string
	switch {
	case f.Type == "id":
		return []string{"UPDATE", "UPSERT", "DELETE"}
	case f.Createable:
		ops = append(ops, "INSERT")
	}
	if f.Createable || f.Updateable || f.ExternalID {
		ops = append(ops, "UPSERT")
	}
	if f.Updateable {
		ops = append(ops, "UPDATE")
	}
	return ops
}

type class int

const (
	classOther class = iota
	classString
	classInt
	classFloat
	classBool
	classDate
	classDateTime
	classCompound // address, location: REST-only JSON objects
)

// typeClass groups Salesforce field types (SOAP API Developer Guide,
// Field Types) by how their values are read, written and compared.
func typeClass(t string) class {
	switch t {
	case "id", "reference", "string", "textarea", "picklist", "multipicklist", "combobox",
		"email", "phone", "url", "encryptedstring":
		return classString
	case "int", "long":
		return classInt
	case "double", "currency", "percent":
		return classFloat
	case "boolean":
		return classBool
	case "date":
		return classDate
	case "datetime":
		return classDateTime
	case "address", "location":
		return classCompound
	}
	return classOther // time, base64, anyType, ...: carried as text
}
