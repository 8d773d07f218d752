package snowflakeconn

import (
	"context"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// column is one column of a table, from DESCRIBE TABLE.
type column struct {
	Name       string // as stored (case-sensitive)
	Type       string // NUMBER(38,0), VARCHAR(16777216), TIMESTAMP_NTZ(9), ...
	Nullable   bool
	PrimaryKey bool
}

// storedName renders a stored name so that Snowflake resolves it back to
// itself: upper-case plain names as they are, others quoted.
func storedName(n string) string {
	if isPlain(n) && n == strings.ToUpper(n) {
		return n
	}
	return quoteIdent(n)
}

// qualify completes a table name with the stage's database and schema.
func (d *Driver) qualify(object string) ([]string, error) {
	parts, err := splitIdent(object)
	if err != nil || len(parts) > 3 {
		return nil, fault.New(fault.Invalid, "snowflake: object %q must be <Database>.<Schema>.<Table>, <Schema>.<Table> or <Table>", object)
	}
	return append(append([]string{}, d.stage[:3-len(parts)]...), parts...), nil
}

// describeTable lists a table's columns in order.
func (d *Driver) describeTable(ctx context.Context, fq []string) ([]column, error) {
	rs, err := d.api.exec(ctx, "DESCRIBE TABLE "+joinIdent(fq), unquote(fq[0]), unquote(fq[1]))
	if err != nil {
		return nil, err
	}
	cols := make([]column, 0, len(rs.Data))
	for i := range rs.Data {
		if k := rs.get(i, "kind"); k != "" && !strings.EqualFold(k, "COLUMN") {
			continue
		}
		cols = append(cols, column{
			Name:       rs.get(i, "name"),
			Type:       rs.get(i, "type"),
			Nullable:   rs.get(i, "null?") != "N",
			PrimaryKey: rs.get(i, "primary key") == "Y",
		})
	}
	if len(cols) == 0 {
		return nil, fault.New(fault.NotFound, "snowflake: table %s has no columns", joinIdent(fq))
	}
	return cols, nil
}

// ListEntities lists databases (path ""), the schemas of a database (path
// DB) or the tables of a schema (path DB.SCHEMA).
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	if path == "" {
		rs, err := d.api.exec(ctx, "SHOW DATABASES", "", "")
		if err != nil {
			return nil, err
		}
		return map[string][]connector.Entity{"Databases": entities(rs, "", true)}, nil
	}
	parts, err := splitIdent(path)
	if err != nil || len(parts) > 2 {
		return nil, fault.New(fault.Invalid, "snowflake: entity path %q must be <Database> or <Database>.<Schema>", path)
	}
	if len(parts) == 1 {
		rs, err := d.api.exec(ctx, "SHOW SCHEMAS IN DATABASE "+joinIdent(parts), unquote(parts[0]), "")
		if err != nil {
			return nil, err
		}
		return map[string][]connector.Entity{"Schemas": entities(rs, path+".", true)}, nil
	}
	rs, err := d.api.exec(ctx, "SHOW TABLES IN SCHEMA "+joinIdent(parts), unquote(parts[0]), unquote(parts[1]))
	if err != nil {
		return nil, err
	}
	return map[string][]connector.Entity{"Tables": entities(rs, path+".", false)}, nil
}

func entities(rs *resultSet, prefix string, nested bool) []connector.Entity {
	out := make([]connector.Entity, 0, len(rs.Data))
	for i := range rs.Data {
		n := rs.get(i, "name")
		out = append(out, connector.Entity{Name: prefix + storedName(n), Label: n, HasNestedEntities: nested})
	}
	return out
}

// DescribeEntity lists a table's columns with AppFlow field types.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	fq, err := d.qualify(name)
	if err != nil {
		return nil, err
	}
	cols, err := d.describeTable(ctx, fq)
	if err != nil {
		return nil, err
	}
	out := make([]connector.EntityField, len(cols))
	for i, c := range cols {
		out[i] = connector.EntityField{
			Name: c.Name, Label: c.Name, Type: appflowType(c.Type),
			IsPrimaryKey: c.PrimaryKey, Nullable: c.Nullable,
			WriteOperations: []string{"INSERT"}, Creatable: true,
		}
	}
	return out, nil
}

// appflowType names a Snowflake column type the way AppFlow's field
// descriptions do.
func appflowType(t string) record.FieldType {
	base, args, _ := strings.Cut(strings.ToUpper(t), "(")
	switch base {
	case "NUMBER", "DECIMAL", "NUMERIC":
		if strings.HasSuffix(strings.TrimSuffix(args, ")"), ",0") || args == "" {
			return "long"
		}
		return "decimal"
	case "INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT":
		return "long"
	case "FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLE PRECISION", "REAL":
		return "double"
	case "BOOLEAN":
		return "boolean"
	case "DATE":
		return "date"
	case "TIME":
		return "time"
	case "TIMESTAMP", "DATETIME", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ":
		return "datetime"
	case "VARIANT", "OBJECT":
		return "struct"
	case "ARRAY":
		return "list"
	case "BINARY", "VARBINARY":
		return "binary"
	}
	return "string"
}
