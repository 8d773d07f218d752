package service

import "context"

// ARN kinds, as AppFlow spells them.
const (
	arnFlow      = "flow"
	arnProfile   = "connectorprofile"
	arnConnector = "connector"
)

// arn builds arn:aws:appflow:<region>:<account>:<kind>/<name>.
func (s *Service) arn(ctx context.Context, kind, name string) string {
	return "arn:aws:appflow:" + s.d.Region + ":" + s.account(ctx) + ":" + kind + "/" + name
}
