package httpconn

import (
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// The catalog of a vendor whose entities the driver knows without asking:
// flat under one group, with fixed field tables.

// Flat is ListEntities of a vendor whose entities do not nest: ents under
// the group "Objects" at the top, and nothing under any path
// (fault.NotFound).
func Flat(vendor, path string, ents []connector.Entity) (map[string][]connector.Entity, error) {
	if strings.Trim(path, "/") != "" {
		return nil, fault.New(fault.NotFound, "%s has no nested entities under %q", vendor, path)
	}
	return map[string][]connector.Entity{"Objects": ents}, nil
}

// Described is a fixed field table as DescribeEntity returns it: every
// field queryable, and nullable unless it is the primary key.
func Described(fs []connector.EntityField) []connector.EntityField {
	out := make([]connector.EntityField, len(fs))
	for i, f := range fs {
		f.Nullable = !f.IsPrimaryKey
		f.Queryable = true
		out[i] = f
	}
	return out
}

// Projection is the fields a read returns: those asked for, or with none
// the table's data fields, leaving out its pseudo-fields (for a vendor
// whose pseudo-fields, the query's parameters, alone take filters).
func Projection(asked []string, fs []connector.EntityField) []string {
	if asked != nil {
		return asked
	}
	var out []string
	for _, f := range fs {
		if f.FilterOperators == nil {
			out = append(out, f.Name)
		}
	}
	return out
}
