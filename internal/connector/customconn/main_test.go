package customconn

import (
	"os"
	"testing"

	"github.com/appflowd/appflowd/internal/events/eventstest"
)

// TestMain gives the SDK's default credential chain static test
// credentials: Lambda APIs at a test server's base URL are signed with them.
func TestMain(m *testing.M) {
	eventstest.SetAWSEnv()
	os.Exit(m.Run())
}
