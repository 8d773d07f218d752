package redshiftconn

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// column is one column of a target table, as information_schema says.
type column struct {
	Name       string
	DataType   string // information_schema data_type: "integer", "character varying", ...
	Nullable   bool
	HasDefault bool
	MaxLen     int  // for char/varchar; 0: unbounded
	ByteLen    bool // MaxLen counts bytes (Redshift), not characters (PostgreSQL)
	Precision  int  // numeric precision; 0: unbounded
	Scale      int
	PrimaryKey bool
}

// table is a resolved target table.
type table struct {
	Schema, Name string
	Columns      []column
}

func (t *table) String() string { return t.Schema + "." + t.Name }

// ident is the quoted "schema"."table" for SQL.
func (t *table) ident() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// find returns the column a destination field maps to: the same name, or
// failing that the same name in another case (unquoted identifiers fold to
// lower case).
func (t *table) find(name string) *column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return &t.Columns[i]
		}
	}
	return nil
}

func (t *table) columnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// splitObject reads "schema.table"; a bare "table" is in public.
func splitObject(object string) (schema, name string, err error) {
	if object == "" {
		return "", "", fault.New(fault.Invalid, "redshift: the destination object (schema.table) is empty")
	}
	schema, name, ok := strings.Cut(object, ".")
	if !ok {
		return "public", object, nil
	}
	if schema == "" || name == "" || strings.Contains(name, ".") {
		return "", "", fault.New(fault.Invalid, "redshift: destination object %q is not schema.table", object)
	}
	return schema, name, nil
}

const columnsSQL = `SELECT c.column_name, c.data_type, c.is_nullable = 'YES', c.column_default IS NOT NULL,
	COALESCE(c.character_maximum_length, 0), COALESCE(c.numeric_precision, 0), COALESCE(c.numeric_scale, 0),
	EXISTS (SELECT 1 FROM information_schema.table_constraints tc
		JOIN information_schema.key_column_usage k
		  ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name
		WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema
		  AND tc.table_name = c.table_name AND k.column_name = c.column_name)
FROM information_schema.columns c
WHERE c.table_schema = $1 AND c.table_name = $2
ORDER BY c.ordinal_position`

// lookupTable reads a table's columns; a missing table is an error naming
// it. Names are tried as given, then folded to lower case.
func lookupTable(ctx context.Context, conn *pgx.Conn, object string) (*table, error) {
	schema, name, err := splitObject(object)
	if err != nil {
		return nil, err
	}
	for _, try := range [][2]string{{schema, name}, {strings.ToLower(schema), strings.ToLower(name)}} {
		t, err := readColumns(ctx, conn, try[0], try[1])
		if err != nil {
			return nil, err
		}
		if len(t.Columns) > 0 {
			return t, nil
		}
	}
	return nil, fault.New(fault.Invalid, "redshift: destination table %s.%s does not exist", schema, name)
}

func readColumns(ctx context.Context, conn *pgx.Conn, schema, name string) (*table, error) {
	rows, err := conn.Query(ctx, columnsSQL, schema, name)
	if err != nil {
		return nil, fmt.Errorf("redshift: read columns of %s.%s: %w", schema, name, err)
	}
	t := &table{Schema: schema, Name: name}
	for rows.Next() {
		var c column
		var maxLen, prec, scale int32
		if err := rows.Scan(&c.Name, &c.DataType, &c.Nullable, &c.HasDefault, &maxLen, &prec, &scale, &c.PrimaryKey); err != nil {
			rows.Close()
			return nil, fmt.Errorf("redshift: read columns of %s.%s: %w", schema, name, err)
		}
		c.MaxLen, c.Precision, c.Scale = int(maxLen), int(prec), int(scale)
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("redshift: read columns of %s.%s: %w", schema, name, err)
	}
	return t, nil
}

// ListEntities lists schemas at the top level and the tables of a schema
// under it, over SQL or, for a profile without a databaseUrl, through the
// Data API.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	if d.props.DatabaseURL == "" && d.data != nil {
		return d.listEntitiesData(ctx, path)
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if path == "" {
		rows, err := conn.Query(ctx, `SELECT schema_name FROM information_schema.schemata
			WHERE schema_name <> 'information_schema' AND schema_name NOT LIKE 'pg\_%'
			ORDER BY schema_name`)
		if err != nil {
			return nil, fmt.Errorf("redshift: list schemas: %w", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("redshift: list schemas: %w", err)
		}
		out := make([]connector.Entity, len(names))
		for i, n := range names {
			out[i] = connector.Entity{Name: n, Label: n, HasNestedEntities: true}
		}
		return map[string][]connector.Entity{"Schemas": out}, nil
	}
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`, path)
	if err != nil {
		return nil, fmt.Errorf("redshift: list tables of %s: %w", path, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("redshift: list tables of %s: %w", path, err)
	}
	if len(names) == 0 {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, path).Scan(&n); err != nil {
			return nil, fmt.Errorf("redshift: look up schema %s: %w", path, err)
		}
		if n == 0 {
			return nil, fault.New(fault.NotFound, "redshift: schema %q does not exist", path)
		}
	}
	out := make([]connector.Entity, len(names))
	for i, n := range names {
		out[i] = connector.Entity{Name: path + "." + n, Label: n}
	}
	return map[string][]connector.Entity{"Tables": out}, nil
}

// DescribeEntity lists a table's columns with AppFlow field types. Through
// the Data API (no databaseUrl), IsPrimaryKey is never set: DescribeTable
// does not say.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	t, err := d.lookupTable(ctx, name)
	if err != nil {
		if fault.Is(err, fault.Invalid) {
			return nil, fault.Wrap(fault.NotFound, err, "redshift: describe %s", name)
		}
		return nil, err
	}
	out := make([]connector.EntityField, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = connector.EntityField{
			Name:            c.Name,
			Label:           c.Name,
			Type:            appflowType(c.DataType),
			IsPrimaryKey:    c.PrimaryKey,
			Nullable:        c.Nullable,
			WriteOperations: []string{"INSERT"},
			Creatable:       true,
		}
	}
	return out, nil
}

// lookupTable reads a table's columns over SQL or, for a profile without
// a databaseUrl, through the Data API.
func (d *Driver) lookupTable(ctx context.Context, object string) (*table, error) {
	if d.props.DatabaseURL == "" && d.data != nil {
		return d.describeTableData(ctx, object)
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	return lookupTable(ctx, conn, object)
}

// appflowType names a column type the way AppFlow's field descriptions do.
func appflowType(dataType string) record.FieldType {
	switch categorize(dataType) {
	case catInt16, catInt32:
		return "integer"
	case catInt64:
		return "long"
	case catFloat:
		return "double"
	case catNumeric:
		return "decimal"
	case catBool:
		return "boolean"
	case catDate:
		return "date"
	case catTimestamp, catTimestampTZ:
		return "datetime"
	case catTime:
		return "time"
	}
	return "string"
}
