package stage

import (
	"encoding/json"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

func TestTarget(t *testing.T) {
	props := json.RawMessage(`{"object":"db.s.t","intermediateBucketName":"b","bucketPrefix":"p"}`)
	d, err := Target(&connector.WriteRequest{Properties: props}, "Redshift")
	if err != nil || d != (Dest{Object: "db.s.t", IntermediateBucketName: "b", BucketPrefix: "p"}) {
		t.Fatalf("Target = %+v %v", d, err)
	}
	if d, _ := Target(&connector.WriteRequest{Object: "other", Properties: props}, "Redshift"); d.Object != "other" {
		t.Errorf("the request's object first: %q", d.Object)
	}
	if _, err := Target(&connector.WriteRequest{WriteOperation: "UPSERT"}, "Redshift"); !fault.Is(err, fault.Unsupported) {
		t.Errorf("UPSERT: %v, want Unsupported", err)
	}
	if _, err := Target(&connector.WriteRequest{WriteOperation: "insert", Properties: json.RawMessage(`[`)}, "Redshift"); !fault.Is(err, fault.Invalid) {
		t.Errorf("bad properties: %v, want Invalid", err)
	}
}
