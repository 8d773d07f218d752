package sapodataconn

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/url"
	"sort"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// appflowType is the AppFlow field type of an Edm type (connectors-saas-2 §8.2).
func appflowType(edm string) record.FieldType {
	switch edm {
	case "Edm.Int16", "Edm.Int32", "Edm.Byte", "Edm.SByte":
		return httpconn.TypeInteger
	case "Edm.Int64":
		return httpconn.TypeLong
	case "Edm.Decimal":
		return httpconn.TypeDecimal
	case "Edm.Double", "Edm.Single":
		return httpconn.TypeDouble
	case "Edm.Boolean":
		return httpconn.TypeBoolean
	case "Edm.DateTime", "Edm.DateTimeOffset":
		return httpconn.TypeDateTime
	}
	// Edm.String, Edm.Time, Edm.Guid, Edm.Binary (base64) and complex
	// types travel as text.
	return httpconn.TypeString
}

// Filter operators per type, after the Glue SAP connector's table
// (connectors-saas-2 §8.1).
var (
	opsOrdered = []string{"EQUAL_TO", "NOT_EQUAL_TO", "LESS_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO", "BETWEEN"}
	opsString  = append(append([]string(nil), opsOrdered...), "CONTAINS")
	opsBool    = []string{"EQUAL_TO", "NOT_EQUAL_TO"}
)

// property is one property of an entity type.
type property struct {
	Name       string
	Edm        string
	Label      string
	Nullable   bool
	Filterable bool
	Creatable  bool
	Updatable  bool
	Key        bool
	Nav        bool // a navigation property
}

// entitySet is an entity set and its type's properties.
type entitySet struct {
	Name      string
	Props     []property
	byName    map[string]*property
	Creatable bool
	Updatable bool
}

// metadata is a service's parsed $metadata.
type metadata struct {
	sets map[string]*entitySet
}

type xAttrs []xml.Attr

func (a xAttrs) get(local string) (string, bool) {
	for _, at := range a {
		if at.Name.Local == local {
			return at.Value, true
		}
	}
	return "", false
}

// flag reads an sap: boolean annotation, true when absent.
func (a xAttrs) flag(local string) bool {
	v, ok := a.get(local)
	return !ok || v != "false"
}

type xEdmx struct {
	Schemas []struct {
		Namespace   string `xml:"Namespace,attr"`
		Alias       string `xml:"Alias,attr"`
		EntityTypes []struct {
			Name string `xml:"Name,attr"`
			Key  []struct {
				Name string `xml:"Name,attr"`
			} `xml:"Key>PropertyRef"`
			Props []struct {
				Attrs xAttrs `xml:",any,attr"`
			} `xml:"Property"`
			Navs []struct {
				Name string `xml:"Name,attr"`
			} `xml:"NavigationProperty"`
		} `xml:"EntityType"`
		Containers []struct {
			Sets []struct {
				Name  string `xml:"Name,attr"`
				Type  string `xml:"EntityType,attr"`
				Attrs xAttrs `xml:",any,attr"`
			} `xml:"EntitySet"`
		} `xml:"EntityContainer"`
	} `xml:"DataServices>Schema"`
}

// parseMetadata reads an EDMX document (OData v2; v4's shape is the same
// for what is read here).
func parseMetadata(b []byte) (*metadata, error) {
	var x xEdmx
	if err := xml.Unmarshal(b, &x); err != nil {
		return nil, err
	}
	types := map[string]*entitySet{} // "Namespace.Name" and "Alias.Name"
	for _, s := range x.Schemas {
		for _, et := range s.EntityTypes {
			e := &entitySet{byName: map[string]*property{}}
			keys := map[string]bool{}
			for _, k := range et.Key {
				keys[k.Name] = true
			}
			for _, p := range et.Props {
				name, _ := p.Attrs.get("Name")
				typ, _ := p.Attrs.get("Type")
				label, _ := p.Attrs.get("label")
				nullable, ok := p.Attrs.get("Nullable")
				e.Props = append(e.Props, property{Name: name, Edm: typ, Label: label, Key: keys[name],
					Nullable:   !ok || nullable != "false",
					Filterable: p.Attrs.flag("filterable"), Creatable: p.Attrs.flag("creatable"), Updatable: p.Attrs.flag("updatable")})
			}
			for _, n := range et.Navs {
				e.Props = append(e.Props, property{Name: n.Name, Nav: true, Nullable: true})
			}
			types[s.Namespace+"."+et.Name] = e
			if s.Alias != "" {
				types[s.Alias+"."+et.Name] = e
			}
		}
	}
	m := &metadata{sets: map[string]*entitySet{}}
	for _, s := range x.Schemas {
		for _, c := range s.Containers {
			for _, es := range c.Sets {
				t := types[es.Type]
				if t == nil {
					continue
				}
				set := &entitySet{Name: es.Name, Props: t.Props, byName: map[string]*property{},
					Creatable: es.Attrs.flag("creatable"), Updatable: es.Attrs.flag("updatable")}
				for i := range set.Props {
					set.byName[set.Props[i].Name] = &set.Props[i]
				}
				m.sets[es.Name] = set
			}
		}
	}
	return m, nil
}

// splitObjectPath splits /sap/opu/odata/sap/SRV/EntitySet into the service
// path and the entity set.
func splitObjectPath(p string) (svc, set string, err error) {
	p = "/" + strings.Trim(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i <= 0 || i == len(p)-1 {
		return "", "", fault.New(fault.Invalid, "the SAP OData object path %q is not {servicePath}/{EntitySet}", p)
	}
	return p[:i], p[i+1:], nil
}

// meta returns the service's $metadata, fetched once per driver.
func (d *Driver) meta(ctx context.Context, svc string) (*metadata, error) {
	d.mu.Lock()
	r := d.metas[svc]
	if r == nil {
		r = &metaResult{}
		d.metas[svc] = r
	}
	d.mu.Unlock()
	r.once.Do(func() {
		res, err := d.c.do(ctx, svc+"/$metadata", nil)
		if err != nil {
			r.err = err
			return
		}
		r.m, r.err = parseMetadata(res.Body)
		if r.err != nil {
			r.err = fault.Wrap(fault.ConnectorServer, r.err, "parse the $metadata of %s", svc)
		}
	})
	if r.err != nil {
		// Do not cache a failure: the next call tries again.
		d.mu.Lock()
		if d.metas[svc] == r {
			delete(d.metas, svc)
		}
		d.mu.Unlock()
	}
	return r.m, r.err
}

// entity returns the entity set an object path names.
func (d *Driver) entity(ctx context.Context, objectPath string) (*entitySet, string, error) {
	svc, name, err := splitObjectPath(objectPath)
	if err != nil {
		return nil, "", err
	}
	m, err := d.meta(ctx, svc)
	if err != nil {
		return nil, "", err
	}
	e := m.sets[name]
	if e == nil {
		return nil, "", fault.New(fault.NotFound, "the SAP OData service %s has no entity set %s", svc, name)
	}
	return e, svc, nil
}

// ListEntities lists the catalog's services (path "") or a service's
// entity sets (path = the service's URL path).
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	if path == "" {
		res, err := d.c.do(ctx, d.catalogPath+"/ServiceCollection", query{{"$format", "json"}})
		if err != nil {
			return nil, err
		}
		var v struct {
			D struct {
				Results []struct {
					ID, Title, Description, TechnicalServiceName string
					ServiceURL                                   string `json:"ServiceUrl"`
				} `json:"results"`
			} `json:"d"`
		}
		if err := json.Unmarshal(res.Body, &v); err != nil {
			return nil, fault.Wrap(fault.ConnectorServer, err, "decode the SAP service catalog")
		}
		var out []connector.Entity
		for _, s := range v.D.Results {
			p := s.ServiceURL
			if u, err := url.Parse(p); err == nil && u.Path != "" {
				p = u.Path
			}
			label := s.Title
			if label == "" {
				label = s.TechnicalServiceName
			}
			out = append(out, connector.Entity{Name: strings.TrimRight(p, "/"), Label: label, HasNestedEntities: true})
		}
		return map[string][]connector.Entity{"Services": out}, nil
	}
	svc := "/" + strings.Trim(path, "/")
	res, err := d.c.do(ctx, svc+"/", query{{"$format", "json"}})
	if err != nil {
		return nil, err
	}
	var v struct {
		D struct {
			EntitySets []string `json:"EntitySets"`
		} `json:"d"`
	}
	if err := json.Unmarshal(res.Body, &v); err != nil {
		return nil, fault.Wrap(fault.ConnectorServer, err, "decode the service document of %s", svc)
	}
	sets := append([]string(nil), v.D.EntitySets...)
	sort.Strings(sets)
	var out []connector.Entity
	for _, s := range sets {
		out = append(out, connector.Entity{Name: svc + "/" + s, Label: s})
	}
	return map[string][]connector.Entity{"Entity sets": out}, nil
}

// DescribeEntity lists an entity set's properties from $metadata;
// navigation properties are struct fields (for deep insert).
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	e, _, err := d.entity(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []connector.EntityField
	for _, p := range e.Props {
		f := connector.EntityField{Name: p.Name, Label: p.Label, Nullable: p.Nullable, IsPrimaryKey: p.Key, Queryable: true}
		if f.Label == "" {
			f.Label = p.Name
		}
		if p.Nav {
			f.Type = httpconn.TypeStruct
			f.Creatable = e.Creatable
			out = append(out, f)
			continue
		}
		f.Type = appflowType(p.Edm)
		f.Creatable = e.Creatable && p.Creatable
		f.Updatable = e.Updatable && p.Updatable && !p.Key
		if p.Filterable {
			switch f.Type {
			case httpconn.TypeBoolean:
				f.FilterOperators = opsBool
			case httpconn.TypeString:
				f.FilterOperators = opsString
			default:
				f.FilterOperators = opsOrdered
			}
		}
		f.IsTimestampForIncremental = f.Type == httpconn.TypeDateTime && p.Filterable
		out = append(out, f)
	}
	return out, nil
}
