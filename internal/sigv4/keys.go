package sigv4

import "sync"

// maxSigningKeys bounds the signing key cache: a day's keys of a few
// access keys in a few regions fit many times over.
const maxSigningKeys = 1024

// scope names a derived signing key: the access key and the credential
// scope it is valid for (the terminator is always aws4_request).
type scope struct {
	accessKey, date, region, service string
}

// signingKeys caches derived signing keys, sparing four HMACs per request:
// a key is the same for every request of its scope and day. Only keys
// whose signature verified are kept, and the cache is emptied when full,
// so requests with made-up scopes cannot grow it.
type signingKeys struct {
	mu   sync.Mutex
	keys map[scope][]byte
}

func (c *signingKeys) get(s scope) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[s]
}

func (c *signingKeys) put(s scope, key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= maxSigningKeys {
		c.keys = make(map[scope][]byte)
	}
	c.keys[s] = key
}

// signingKey derives the signing key of secret for s.
func signingKey(secret string, s scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), s.date)
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, s.service)
	return hmacSHA256(k, "aws4_request")
}
