package console

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/restjson"
	"github.com/appflowd/appflowd/internal/wire"
)

// maxDefinition bounds an uploaded or pasted definition, as the API bounds a body.
const maxDefinition = restjson.DefaultMaxBodyBytes

type editView struct {
	Name   string // "" when creating
	JSON   string
	Error  string
	Action string
}

func (v editView) title() string {
	if v.Name == "" {
		return "Create a flow"
	}
	return "Edit flow " + v.Name
}

const newFlowExample = `{
  "flowName": "my-flow",
  "triggerConfig": {"triggerType": "OnDemand"},
  "sourceFlowConfig": {
    "connectorType": "S3",
    "sourceConnectorProperties": {"S3": {"bucketName": "source-bucket", "bucketPrefix": "in",
      "s3InputFormatConfig": {"s3InputFileType": "CSV"}}}
  },
  "destinationFlowConfigList": [{
    "connectorType": "S3",
    "destinationConnectorProperties": {"S3": {"bucketName": "destination-bucket", "bucketPrefix": "out",
      "s3OutputFormatConfig": {"fileType": "JSON"}}}
  }],
  "tasks": [
    {"taskType": "Map_all", "sourceFields": [], "connectorOperator": {"S3": "NO_OP"}, "taskProperties": {}}
  ]
}
`

func (c *Console) newPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	c.render(w, r, v, http.StatusOK, "edit", editView{JSON: newFlowExample, Action: Prefix + "new"})
}

func (c *Console) createFlow(w http.ResponseWriter, r *http.Request, v *viewer) {
	view := editView{Action: Prefix + "new"}
	body, err := definition(r)
	view.JSON = string(body)
	var in wire.CreateFlowRequest
	if err == nil {
		err = restjson.DecodeInput(body, &in)
	}
	if err == nil {
		_, err = c.d.Service.CreateFlow(v.ctx, &in)
	}
	if err != nil {
		status, msg := c.refusal("Flow", err)
		view.Error = msg
		c.render(w, r, v, status, "edit", view)
		return
	}
	http.Redirect(w, r, Prefix+"flows/"+url.PathEscape(in.FlowName), http.StatusSeeOther)
}

func (c *Console) editPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("name")
	f, err := c.d.Service.DescribeFlow(v.ctx, &wire.DescribeFlowRequest{FlowName: name})
	if err != nil {
		c.fail(w, r, v, "Flow "+name, err)
		return
	}
	// The form holds what UpdateFlow takes, filled from the flow.
	in := wire.UpdateFlowRequest{FlowName: f.FlowName, Description: f.Description, TriggerConfig: f.TriggerConfig,
		SourceFlowConfig: f.SourceFlowConfig, DestinationFlowConfigList: f.DestinationFlowConfigList, Tasks: f.Tasks,
		MetadataCatalogConfig: f.MetadataCatalogConfig}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		c.fail(w, r, v, "Flow "+name, err)
		return
	}
	c.render(w, r, v, http.StatusOK, "edit", editView{Name: name, JSON: string(b) + "\n", Action: Prefix + "flows/" + url.PathEscape(name) + "/edit"})
}

func (c *Console) updateFlow(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("name")
	view := editView{Name: name, Action: Prefix + "flows/" + url.PathEscape(name) + "/edit"}
	body, err := definition(r)
	view.JSON = string(body)
	var in wire.UpdateFlowRequest
	if err == nil {
		err = restjson.DecodeInput(body, &in)
	}
	if err == nil && in.FlowName != name {
		err = fault.New(fault.Invalid, "The definition's flowName %q is not this flow (%s); create a new flow to use another name.", in.FlowName, name)
	}
	if err == nil {
		_, err = c.d.Service.UpdateFlow(v.ctx, &in)
	}
	if err != nil {
		status, msg := c.refusal("Flow", err)
		view.Error = msg
		c.render(w, r, v, status, "edit", view)
		return
	}
	c.redirectFlow(w, r, name, url.Values{"done": {"saved"}})
}

// definition is the posted flow JSON: an uploaded file (such as one for
// `aws appflow create-flow --cli-input-json`) when one was chosen, else
// the text area.
func definition(r *http.Request) ([]byte, error) {
	if f, _, err := r.FormFile("file"); err == nil {
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxDefinition+1))
		if err != nil {
			return nil, fault.New(fault.Invalid, "Unable to read the uploaded file: %v", err)
		}
		if len(b) > maxDefinition {
			return nil, fault.New(fault.Invalid, "The uploaded file is larger than the limit of %d bytes.", maxDefinition)
		}
		if len(strings.TrimSpace(string(b))) > 0 {
			return b, nil
		}
	} else if !errors.Is(err, http.ErrMissingFile) && !errors.Is(err, http.ErrNotMultipart) {
		return nil, fault.New(fault.Invalid, "Unable to read the form: %v", err)
	}
	def := r.PostFormValue("definition")
	if strings.TrimSpace(def) == "" {
		return []byte(def), fault.New(fault.Invalid, "The flow definition is empty: paste CreateFlow JSON or choose a file.")
	}
	return []byte(def), nil
}
