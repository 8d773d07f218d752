package httpconn

import (
	"context"
	"net/http"
	"strings"

	"github.com/appflowd/appflowd/internal/fault"
)

// Cursor reads pages by a cursor or a next link: page gets "" first, then
// each token it returned, until it returns "". A token that comes back
// unchanged is the service looping, and fails rather than reading forever.
func Cursor(ctx context.Context, page func(ctx context.Context, cursor string) (next string, err error)) error {
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, err := page(ctx, cursor)
		if err != nil || next == "" {
			return err
		}
		if next == cursor {
			return fault.New(fault.ConnectorServer, "the service answered the same next-page cursor twice (%.80s)", next)
		}
		cursor = next
	}
}

// Offset reads pages at offsets 0, n0, n0+n1, ... (each page's offset is
// the rows read before it) until page says there are no more or returns
// none. A page says "more" as its service tells: a next link, a total, or
// else a full page.
func Offset(ctx context.Context, page func(ctx context.Context, offset int) (n int, more bool, err error)) error {
	for offset := 0; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, more, err := page(ctx, offset)
		if err != nil || !more || n == 0 {
			return err
		}
		offset += n
	}
}

// Keyset reads pages ordered by a key, each asking for the rows after the
// last key of the previous one (the zero K first), until page says there
// are no more. Unlike offsets, rows changed between pages neither shift
// others out of reach nor come back twice.
func Keyset[K comparable](ctx context.Context, page func(ctx context.Context, after K) (last K, more bool, err error)) error {
	var after K
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		last, more, err := page(ctx, after)
		if err != nil || !more {
			return err
		}
		if last == after {
			return fault.New(fault.ConnectorServer, "a full page did not move past key %v", after)
		}
		after = last
	}
}

// NextLink is the target of the rel="next" link in Link headers (RFC
// 8288), "" without one.
func NextLink(h http.Header) string {
	for _, l := range h.Values("Link") {
		for part := range strings.SplitSeq(l, ",") {
			target, params, ok := strings.Cut(part, ";")
			if !ok {
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.EqualFold(strings.Trim(v, `"`), "next") {
					return strings.Trim(strings.TrimSpace(target), "<>")
				}
			}
		}
	}
	return ""
}
