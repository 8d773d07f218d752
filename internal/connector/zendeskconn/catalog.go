package zendeskconn

import (
	"context"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// How an entity is read (connectors-saas-1 §1.2).
const (
	readCursorExport = iota // /api/v2/incremental/<object>/cursor.json
	readTimeExport          // /api/v2/incremental/<object>.json, de-duplicated
	readList                // /api/v2/<object>.json?page[size]=100
)

type fieldDef struct {
	name string
	typ  record.FieldType
}

type entityDef struct {
	name, label string
	read        int
	writable    bool
	fields      []fieldDef
}

func fd(spec string) []fieldDef {
	var out []fieldDef
	for part := range strings.FieldsSeq(spec) {
		n, t, _ := strings.Cut(part, ":")
		out = append(out, fieldDef{n, record.FieldType(t)})
	}
	return out
}

// entities are Zendesk's built-in fields per resource, from the Support
// API reference.
var entities = []entityDef{
	{"tickets", "Tickets", readCursorExport, true, fd(`id:integer url:string external_id:string type:string subject:string
		raw_subject:string description:string priority:string status:string recipient:string requester_id:integer
		submitter_id:integer assignee_id:integer organization_id:integer group_id:integer collaborator_ids:array
		follower_ids:array email_cc_ids:array forum_topic_id:integer problem_id:integer has_incidents:boolean
		is_public:boolean due_at:datetime tags:array via:struct satisfaction_rating:struct brand_id:integer
		ticket_form_id:integer allow_channelback:boolean allow_attachments:boolean created_at:datetime
		updated_at:datetime generated_timestamp:integer`)},
	{"users", "Users", readCursorExport, true, fd(`id:integer url:string name:string email:string external_id:string
		alias:string active:boolean verified:boolean shared:boolean shared_agent:boolean locale:string locale_id:integer
		time_zone:string iana_time_zone:string last_login_at:datetime phone:string signature:string details:string
		notes:string organization_id:integer role:string role_type:integer custom_role_id:integer moderator:boolean
		ticket_restriction:string only_private_comments:boolean tags:array suspended:boolean restricted_agent:boolean
		user_fields:struct created_at:datetime updated_at:datetime`)},
	{"organizations", "Organizations", readTimeExport, true, fd(`id:integer url:string external_id:string name:string
		domain_names:array details:string notes:string group_id:integer shared_tickets:boolean shared_comments:boolean
		tags:array organization_fields:struct created_at:datetime updated_at:datetime`)},
	{"groups", "Groups", readList, false, fd(`id:integer url:string name:string description:string default:boolean
		deleted:boolean is_public:boolean created_at:datetime updated_at:datetime`)},
	{"ticket_fields", "Ticket Fields", readList, false, fd(`id:integer url:string type:string title:string
		raw_title:string description:string position:integer active:boolean required:boolean key:string
		visible_in_portal:boolean editable_in_portal:boolean custom_field_options:array created_at:datetime
		updated_at:datetime`)},
	{"ticket_metrics", "Ticket Metrics", readList, false, fd(`id:integer url:string ticket_id:integer
		group_stations:integer assignee_stations:integer reopens:integer replies:integer assignee_updated_at:datetime
		requester_updated_at:datetime status_updated_at:datetime initially_assigned_at:datetime assigned_at:datetime
		solved_at:datetime latest_comment_added_at:datetime reply_time_in_minutes:struct
		first_resolution_time_in_minutes:struct full_resolution_time_in_minutes:struct
		agent_wait_time_in_minutes:struct requester_wait_time_in_minutes:struct on_hold_time_in_minutes:struct
		created_at:datetime updated_at:datetime`)},
	{"satisfaction_ratings", "Satisfaction Ratings", readList, false, fd(`id:integer url:string assignee_id:integer
		group_id:integer requester_id:integer ticket_id:integer score:string comment:string reason:string
		reason_id:integer created_at:datetime updated_at:datetime`)},
}

func entity(name string) (*entityDef, error) {
	for i := range entities {
		if entities[i].name == name {
			return &entities[i], nil
		}
	}
	var names []string
	for _, e := range entities {
		names = append(names, e.name)
	}
	return nil, fault.New(fault.NotFound, "Zendesk has no entity %q; entities: %s", name, strings.Join(names, ", "))
}

var readOnly = map[string]bool{"id": true, "url": true, "created_at": true, "updated_at": true, "generated_timestamp": true}

// ListEntities lists the entities above, flat under "Objects".
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	if path != "" {
		return map[string][]connector.Entity{}, nil
	}
	var list []connector.Entity
	for _, e := range entities {
		list = append(list, connector.Entity{Name: e.name, Label: e.label})
	}
	return map[string][]connector.Entity{"Objects": list}, nil
}

// customPrefix names ticket custom fields in the catalog and in records.
const customPrefix = "custom_field_"

type ticketField struct {
	ID     int64  `json:"id"`
	Type   string `json:"type"`
	Title  string `json:"title"`
	Active bool   `json:"active"`
}

// ticketFields reads the account's custom ticket fields (built-in system
// fields are listed too and are skipped by their types).
func (d *Driver) ticketFields(ctx context.Context) ([]ticketField, error) {
	var out []ticketField
	next := "/api/v2/ticket_fields.json"
	q := url.Values{"page[size]": {"100"}}
	for next != "" {
		var page struct {
			TicketFields []ticketField `json:"ticket_fields"`
			NextPage     *string       `json:"next_page"`
			Meta         struct {
				HasMore bool `json:"has_more"`
			} `json:"meta"`
			Links struct {
				Next *string `json:"next"`
			} `json:"links"`
		}
		if err := getJSON(ctx, d.c, next, q, &page); err != nil {
			return nil, err
		}
		for _, f := range page.TicketFields {
			if f.Active && !systemTicketField[f.Type] {
				out = append(out, f)
			}
		}
		next, q = "", nil
		switch {
		case page.Meta.HasMore && page.Links.Next != nil:
			next = *page.Links.Next
		case page.NextPage != nil:
			next = *page.NextPage
		}
	}
	return out, nil
}

var systemTicketField = map[string]bool{"subject": true, "description": true, "status": true, "tickettype": true,
	"priority": true, "group": true, "assignee": true, "custom_status": true}

func customType(zdType string) record.FieldType {
	switch zdType {
	case "integer":
		return httpconn.TypeInteger
	case "decimal":
		return httpconn.TypeDouble
	case "checkbox":
		return httpconn.TypeBoolean
	case "date":
		return httpconn.TypeString // yyyy-mm-dd, no time of day
	case "multiselect":
		return httpconn.TypeArray
	}
	return httpconn.TypeString
}

// DescribeEntity gives the entity's fields with AppFlow types; tickets add
// one custom_field_<id> per active custom ticket field.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	e, err := entity(name)
	if err != nil {
		return nil, err
	}
	var out []connector.EntityField
	for _, f := range e.fields {
		out = append(out, describeField(e, f.name, f.name, f.typ))
	}
	if e.name == "tickets" {
		cf, err := d.ticketFields(ctx)
		if err != nil {
			return nil, err
		}
		for _, f := range cf {
			n := customPrefix + strconv.FormatInt(f.ID, 10)
			out = append(out, describeField(e, n, f.Title, customType(f.Type)))
		}
	}
	return out, nil
}

func describeField(e *entityDef, name, label string, t record.FieldType) connector.EntityField {
	f := connector.EntityField{Name: name, Label: label, Type: t, Nullable: name != "id", Queryable: true,
		IsPrimaryKey: name == "id", IsTimestampForIncremental: name == "updated_at"}
	switch t {
	case httpconn.TypeDateTime, httpconn.TypeInteger, httpconn.TypeDouble:
		f.FilterOperators = []string{"GREATER_THAN"}
	}
	if !e.writable {
		return f
	}
	switch {
	case name == "id":
		f.WriteOperations = []string{"UPDATE"}
	case name == "external_id":
		f.WriteOperations = []string{"UPDATE", "UPSERT"}
		f.Creatable, f.Updatable, f.Upsertable = true, true, true
	case readOnly[name]:
	default:
		f.WriteOperations = []string{"INSERT", "UPSERT", "UPDATE"}
		f.Creatable, f.Updatable, f.Upsertable = true, true, true
	}
	return f
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fieldType(e *entityDef, name string) record.FieldType {
	for _, f := range e.fields {
		if f.name == name {
			return f.typ
		}
	}
	return "" // custom and unlisted fields: as Zendesk sends them
}
