package service_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
)

// race runs n calls at once and counts those that succeed and those
// refused with ServiceQuotaExceededException; anything else fails t.
func race(t *testing.T, n int, call func(i int) error) (won, refused int) {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = call(i)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		var q *types.ServiceQuotaExceededException
		switch {
		case err == nil:
			won++
		case errors.As(err, &q):
			refused++
		default:
			t.Errorf("call %d: got %v, want success or ServiceQuotaExceededException", i, err)
		}
	}
	return won, refused
}

// TestE2EProfileQuotaRace: 30 CreateConnectorProfile calls at once on an
// account with 95 profiles leave exactly 100.
func TestE2EProfileQuotaRace(t *testing.T) {
	s := newE2EProfServer(t)
	ctx := context.Background()
	for i := range 95 {
		if _, err := s.client.CreateConnectorProfile(ctx, e2eSalesforceInput(fmt.Sprintf("p-%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	won, refused := race(t, 30, func(i int) error {
		_, err := s.client.CreateConnectorProfile(ctx, e2eSalesforceInput(fmt.Sprintf("race-%03d", i)))
		return err
	})
	if won != 5 || refused != 25 {
		t.Errorf("%d creates won and %d were refused, want 5 and 25", won, refused)
	}
	n := 0
	p := appflow.NewDescribeConnectorProfilesPaginator(s.client, &appflow.DescribeConnectorProfilesInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.ConnectorProfileDetails)
	}
	if n != 100 {
		t.Errorf("DescribeConnectorProfiles lists %d profiles, want the quota of 100", n)
	}
}

// TestE2EFlowQuotaSetting: the flow quota is a setting (here 100, not
// AppFlow's 1,000), and holds under 30 concurrent CreateFlow calls.
func TestE2EFlowQuotaSetting(t *testing.T) {
	srv := apptest.Start(t, app.Config{MaxFlows: 100, PlanInterval: -1}, "src-bucket", "dst-bucket")
	ctx := context.Background()
	for i := range 95 {
		if _, err := srv.Client.CreateFlow(ctx, flowE2ES3(fmt.Sprintf("f-%03d", i), types.TriggerTypeOndemand)); err != nil {
			t.Fatal(err)
		}
	}
	won, refused := race(t, 30, func(i int) error {
		_, err := srv.Client.CreateFlow(ctx, flowE2ES3(fmt.Sprintf("race-%03d", i), types.TriggerTypeOndemand))
		return err
	})
	if won != 5 || refused != 25 {
		t.Errorf("%d creates won and %d were refused, want 5 and 25", won, refused)
	}
	_, err := srv.Client.CreateFlow(ctx, flowE2ES3("one-more", types.TriggerTypeOndemand))
	e2eWantAPIError[*types.ServiceQuotaExceededException](t, err, "ServiceQuotaExceededException", "quota of 100 flows")
	n := 0
	p := appflow.NewListFlowsPaginator(srv.Client, &appflow.ListFlowsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Flows)
	}
	if n != 100 {
		t.Errorf("ListFlows lists %d flows, want the quota of 100", n)
	}
}
