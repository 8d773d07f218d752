package snowflakeconn

import (
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/catalog"
)

func TestRegisteredWithCatalog(t *testing.T) {
	r := connector.NewRegistry()
	catalog.RegisterAll(r)
	r.Register(Spec())
	s, ok := r.Lookup(Type)
	if !ok || s.Open == nil {
		t.Fatalf("Snowflake not registered with a driver: %+v", s)
	}
	if !s.Capabilities.CanUseAsDestination || !s.Capabilities.NeedsProfile || s.Capabilities.Description == "" {
		t.Errorf("capabilities not merged with the catalog entry: %+v", s.Capabilities)
	}
}
