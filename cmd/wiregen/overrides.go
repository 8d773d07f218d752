package main

// patternOverrides replaces model patterns that Go's RE2 cannot compile with
// RE2 patterns that accept exactly the same strings. Keys are the model's
// pattern text, verbatim. Values are matched against the whole value (the
// generator anchors them like every other pattern). Error messages keep the
// model's text, as AWS shows it. overrides_test.go proves each entry against
// examples of what the original intends.
var patternOverrides = map[string]string{
	// TagKey: Java's negative lookahead (?!aws:) forbids the reserved "aws:"
	// prefix. Spelled out: shorter than 4 characters, or one of the first four
	// characters differs from "aws:". The class [a-zA-Z+-=._:/] keeps Java's
	// reading: "+-=" is the range U+002B..U+003D (+ , - . / 0-9 : ; < =).
	`^(?!aws:)[a-zA-Z+-=._:/]+$`: `[a-zA-Z+-=._:/]{1,3}|(?:[b-zA-Z+-=._:/][a-zA-Z+-=._:/]{3}|a[a-vx-zA-Z+-=._:/][a-zA-Z+-=._:/]{2}|aw[a-rt-zA-Z+-=._:/][a-zA-Z+-=._:/]|aws[a-zA-Z+-9;-=._/])[a-zA-Z+-=._:/]*`,

	// Glue names: Java's \uXXXX escapes, with the supplementary planes written
	// as the UTF-16 surrogate range \uD800\uDC00-\uDBFF\uDFFF. In code points:
	// tab, U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF.
	`[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*`: `[\x{0020}-\x{D7FF}\x{E000}-\x{FFFD}\x{10000}-\x{10FFFF}\t]*`,
}

// echoedResults are the result collections of list and describe calls,
// written even when empty ("flows": []) though the model leaves them
// optional: boto3 callers index them (resp["flows"]) and get a KeyError when
// the member is missing. The service always fills them (never nil).
var echoedResults = map[string]bool{
	"CancelFlowExecutionsResponse.invalidExecutions":            true,
	"DescribeConnectorProfilesResponse.connectorProfileDetails": true,
	"DescribeConnectorsResponse.connectorConfigurations":        true,
	"DescribeConnectorsResponse.connectors":                     true,
	"DescribeFlowExecutionRecordsResponse.flowExecutions":       true,
	"ListConnectorsResponse.connectors":                         true,
	"ListFlowsResponse.flows":                                   true,
	"ListTagsForResourceResponse.tags":                          true,
}
