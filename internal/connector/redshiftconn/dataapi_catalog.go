package redshiftconn

import (
	"context"
	"slices"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// The catalog over the Data API, for profiles without a databaseUrl:
// ListSchemas and ListTables for ListEntities, DescribeTable for
// DescribeEntity and for the column checks of a load.

// maxPages bounds one listing, against a server that never stops paging.
const maxPages = 1000

// pages calls one page after another while the answer has a NextToken.
func pages(ctx context.Context, op string, page func(token string) (next string, err error)) error {
	token := ""
	for range maxPages {
		next, err := page(token)
		if err != nil {
			if fault.CodeOf(err) == fault.Canceled || ctx.Err() != nil {
				return fault.Wrap(fault.Canceled, context.Cause(ctx), "redshift: %s", op)
			}
			return fault.Wrap(fault.CodeOf(err), err, "redshift: %s", op)
		}
		if next == "" || next == token {
			return nil
		}
		token = next
	}
	return fault.New(fault.ConnectorServer, "redshift: %s: more than %d pages", op, maxPages)
}

// systemSchema says whether a schema is the database's own, not listed.
func systemSchema(name string) bool {
	return name == "information_schema" || strings.HasPrefix(name, "pg_")
}

func (d *Driver) dataSchemas(ctx context.Context, pattern string) ([]string, error) {
	dt := d.dataTarget()
	var out []string
	err := pages(ctx, "ListSchemas", func(token string) (string, error) {
		res, err := d.data.ListSchemas(ctx, &ListSchemasInput{ClusterIdentifier: dt.cluster, WorkgroupName: dt.workgroup,
			Database: dt.database, DbUser: dt.dbUser, SchemaPattern: pattern, NextToken: token})
		if err != nil {
			return "", err
		}
		out = append(out, res.Schemas...)
		return res.NextToken, nil
	})
	return out, err
}

// listEntitiesData is ListEntities through the Data API.
func (d *Driver) listEntitiesData(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	if path == "" {
		names, err := d.dataSchemas(ctx, "")
		if err != nil {
			return nil, err
		}
		slices.Sort(names)
		out := []connector.Entity{}
		for _, n := range slices.Compact(names) {
			if !systemSchema(n) {
				out = append(out, connector.Entity{Name: n, Label: n, HasNestedEntities: true})
			}
		}
		return map[string][]connector.Entity{"Schemas": out}, nil
	}
	dt := d.dataTarget()
	var names []string
	// The pattern is a LIKE pattern: "_" in a name matches any character,
	// so the answer is filtered to the schema itself.
	err := pages(ctx, "ListTables "+path, func(token string) (string, error) {
		res, err := d.data.ListTables(ctx, &ListTablesInput{ClusterIdentifier: dt.cluster, WorkgroupName: dt.workgroup,
			Database: dt.database, DbUser: dt.dbUser, SchemaPattern: path, NextToken: token})
		if err != nil {
			return "", err
		}
		for _, t := range res.Tables {
			if t.Schema == path && strings.EqualFold(t.Type, "TABLE") {
				names = append(names, t.Name)
			}
		}
		return res.NextToken, nil
	})
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		schemas, err := d.dataSchemas(ctx, path)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(schemas, path) {
			return nil, fault.New(fault.NotFound, "redshift: schema %q does not exist", path)
		}
	}
	slices.Sort(names)
	out := make([]connector.Entity, 0, len(names))
	for _, n := range slices.Compact(names) {
		out = append(out, connector.Entity{Name: path + "." + n, Label: n})
	}
	return map[string][]connector.Entity{"Tables": out}, nil
}

// describeTableData reads a table's columns with DescribeTable; a missing
// table is an error naming it. Names are tried as given, then folded to
// lower case (Redshift folds unquoted identifiers).
func (d *Driver) describeTableData(ctx context.Context, object string) (*table, error) {
	schema, name, err := splitObject(object)
	if err != nil {
		return nil, err
	}
	tries := [][2]string{{schema, name}}
	if l := [2]string{strings.ToLower(schema), strings.ToLower(name)}; l != tries[0] {
		tries = append(tries, l)
	}
	dt := d.dataTarget()
	for _, try := range tries {
		t := &table{Schema: try[0], Name: try[1]}
		err := pages(ctx, "DescribeTable "+t.String(), func(token string) (string, error) {
			res, err := d.data.DescribeTable(ctx, &DescribeTableInput{ClusterIdentifier: dt.cluster, WorkgroupName: dt.workgroup,
				Database: dt.database, DbUser: dt.dbUser, Schema: t.Schema, Table: t.Name, NextToken: token})
			if err != nil {
				return "", err
			}
			for _, c := range res.ColumnList {
				// Schema and Table may match as patterns: keep this table's.
				if (c.SchemaName != "" && c.SchemaName != t.Schema) || (c.TableName != "" && c.TableName != t.Name) {
					continue
				}
				t.Columns = append(t.Columns, dataColumn(c))
			}
			return res.NextToken, nil
		})
		if err != nil {
			return nil, err
		}
		if len(t.Columns) > 0 {
			return t, nil
		}
	}
	return nil, fault.New(fault.Invalid, "redshift: destination table %s.%s does not exist", schema, name)
}

// dataColumn turns DescribeTable's column into the driver's column, with
// the information_schema type names the checks and messages use.
func dataColumn(c ColumnMetadata) column {
	col := column{
		Name:       c.Name,
		DataType:   infoSchemaType(c.TypeName),
		Nullable:   c.Nullable != 0,
		HasDefault: c.ColumnDefault != nil && *c.ColumnDefault != "",
	}
	switch categorize(col.DataType) {
	case catText:
		// Redshift's "text" is varchar(256); a length of 2^31-1 is none.
		if c.Length > 0 && c.Length < 1<<31-1 {
			col.MaxLen = c.Length
		}
	case catNumeric:
		if c.Precision > 0 && c.Precision <= 1000 {
			col.Precision, col.Scale = c.Precision, c.Scale
		}
	}
	return col
}

// infoSchemaType names a pg_type name (DescribeTable's typeName) the way
// information_schema.columns.data_type does.
func infoSchemaType(typeName string) string {
	switch t := strings.ToLower(typeName); t {
	case "int2":
		return "smallint"
	case "int4", "int":
		return "integer"
	case "int8":
		return "bigint"
	case "float4":
		return "real"
	case "float8", "float":
		return "double precision"
	case "bool":
		return "boolean"
	case "varchar":
		return "character varying"
	case "bpchar", "char":
		return "character"
	case "timestamp":
		return "timestamp without time zone"
	case "timestamptz":
		return "timestamp with time zone"
	case "time":
		return "time without time zone"
	case "timetz":
		return "time with time zone"
	case "decimal":
		return "numeric"
	default:
		return t
	}
}
