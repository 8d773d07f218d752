// Package all links every connector driver into the binary; only cmd/
// imports it.
package all

import (
	_ "github.com/appflowd/appflowd/internal/connector/amplitudeconn"        // Amplitude (source only)
	_ "github.com/appflowd/appflowd/internal/connector/customconn"           // CustomConnector (Lambda)
	_ "github.com/appflowd/appflowd/internal/connector/customerprofilesconn" // CustomerProfiles
	_ "github.com/appflowd/appflowd/internal/connector/datadogconn"          // Datadog (source only)
	_ "github.com/appflowd/appflowd/internal/connector/dynatraceconn"        // Dynatrace (source only)
	_ "github.com/appflowd/appflowd/internal/connector/eventbridgeconn"      // EventBridge
	_ "github.com/appflowd/appflowd/internal/connector/googleanalyticsconn"  // Googleanalytics (union key GoogleAnalytics; source only)
	_ "github.com/appflowd/appflowd/internal/connector/infornexusconn"       // Infornexus (source only; union key InforNexus)
	_ "github.com/appflowd/appflowd/internal/connector/marketoconn"          // Marketo
	_ "github.com/appflowd/appflowd/internal/connector/pardotconn"           // Pardot (source only)
	_ "github.com/appflowd/appflowd/internal/connector/redshiftconn"         // Redshift
	_ "github.com/appflowd/appflowd/internal/connector/retiredconn"          // LookoutMetrics, Honeycode (runs end in Error)
	_ "github.com/appflowd/appflowd/internal/connector/s3conn"               // S3
	_ "github.com/appflowd/appflowd/internal/connector/salesforceconn"       // Salesforce
	_ "github.com/appflowd/appflowd/internal/connector/sapodataconn"         // SAPOData (source only)
	_ "github.com/appflowd/appflowd/internal/connector/servicenowconn"       // Servicenow (union key ServiceNow)
	_ "github.com/appflowd/appflowd/internal/connector/singularconn"         // Singular (source only)
	_ "github.com/appflowd/appflowd/internal/connector/slackconn"            // Slack
	_ "github.com/appflowd/appflowd/internal/connector/snowflakeconn"        // Snowflake
	_ "github.com/appflowd/appflowd/internal/connector/trendmicroconn"       // Trendmicro (source only)
	_ "github.com/appflowd/appflowd/internal/connector/veevaconn"            // Veeva (source only)
	_ "github.com/appflowd/appflowd/internal/connector/zendeskconn"          // Zendesk
)
