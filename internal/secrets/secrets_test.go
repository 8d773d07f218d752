package secrets

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	k, err := LoadOrCreate(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"password":"hunter2"}`)
	sealed, err := k.Seal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatalf("sealed value contains the plaintext: %q", sealed)
	}
	got, err := k.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %q, want %q", got, msg)
	}
}

func TestKeyFileIsReusedAndPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key")
	k1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	sealed, _ := k1.Seal([]byte("x"))
	k2, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.Open(sealed); err != nil || string(got) != "x" {
		t.Fatalf("reopened key: got %q, %v; want x", got, err)
	}
}

func TestOpenRefusesTamperingAndOtherKeys(t *testing.T) {
	k1, _ := New(bytes.Repeat([]byte{1}, 32))
	k2, _ := New(bytes.Repeat([]byte{2}, 32))
	sealed, _ := k1.Seal([]byte("secret"))
	if _, err := k2.Open(sealed); err == nil {
		t.Fatal("another key opened the value")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k1.Open(sealed); err == nil {
		t.Fatal("a tampered value opened")
	}
	if _, err := ParseKey("short"); err == nil {
		t.Fatal("a short key was accepted")
	}
}
