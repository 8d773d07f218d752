package store

import (
	"bytes"
	"encoding/json"
)

// FlowListSummary is the part of a flow document that ListFlows shows: the
// members of a FlowDefinition that come from the document (names, times,
// principals, description, trigger type, and the source's and first
// destination's connector type and profile name), in the document's own
// shape and with their values' bytes as stored. Drivers write it beside
// the document in the same statement, so a list reads a small row instead
// of every flow's full definition. It is nil when doc is not a JSON object
// (lists then read the document itself).
func FlowListSummary(doc []byte) []byte {
	var d struct {
		CreatedAt     json.RawMessage `json:"createdAt"`
		CreatedBy     json.RawMessage `json:"createdBy"`
		Description   json.RawMessage `json:"description"`
		Dests         json.RawMessage `json:"destinationFlowConfigList"`
		FlowArn       json.RawMessage `json:"flowArn"`
		FlowName      json.RawMessage `json:"flowName"`
		LastUpdatedAt json.RawMessage `json:"lastUpdatedAt"`
		LastUpdatedBy json.RawMessage `json:"lastUpdatedBy"`
		Source        json.RawMessage `json:"sourceFlowConfig"`
		Trigger       json.RawMessage `json:"triggerConfig"`
	}
	if len(doc) == 0 || json.Unmarshal(doc, &d) != nil {
		return nil
	}
	type end struct {
		ConnectorType        json.RawMessage `json:"connectorType,omitempty"`
		ConnectorProfileName json.RawMessage `json:"connectorProfileName,omitempty"`
	}
	// An end or trigger that is not an object is kept whole: readers fail
	// on it as they would on the document.
	keep := func(raw json.RawMessage, short any) json.RawMessage {
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, short) != nil {
			return raw
		}
		b, err := encode(short)
		if err != nil {
			return raw
		}
		return b
	}
	var src, dst end
	var trigger struct {
		TriggerType json.RawMessage `json:"triggerType,omitempty"`
	}
	dests := d.Dests
	var list []json.RawMessage
	if len(dests) > 0 && dests[0] == '[' && json.Unmarshal(dests, &list) == nil {
		if len(list) > 0 {
			list = list[:1]
			list[0] = keep(list[0], &dst)
		}
		if b, err := encode(list); err == nil {
			dests = b
		}
	}
	out, err := encode(struct {
		CreatedAt     json.RawMessage `json:"createdAt,omitempty"`
		CreatedBy     json.RawMessage `json:"createdBy,omitempty"`
		Description   json.RawMessage `json:"description,omitempty"`
		Dests         json.RawMessage `json:"destinationFlowConfigList,omitempty"`
		FlowArn       json.RawMessage `json:"flowArn,omitempty"`
		FlowName      json.RawMessage `json:"flowName,omitempty"`
		LastUpdatedAt json.RawMessage `json:"lastUpdatedAt,omitempty"`
		LastUpdatedBy json.RawMessage `json:"lastUpdatedBy,omitempty"`
		Source        json.RawMessage `json:"sourceFlowConfig,omitempty"`
		Trigger       json.RawMessage `json:"triggerConfig,omitempty"`
	}{d.CreatedAt, d.CreatedBy, d.Description, dests, d.FlowArn, d.FlowName, d.LastUpdatedAt, d.LastUpdatedBy,
		keep(d.Source, &src), keep(d.Trigger, &trigger)})
	if err != nil {
		return nil
	}
	return out
}

// encode is json.Marshal without HTML escaping, so values keep the bytes
// the document has (wire.MarshalPlain's encoding; the store does not
// import the API's packages).
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
