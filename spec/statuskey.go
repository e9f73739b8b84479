package spec

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// sshKeyFields is how many length-prefixed strings follow the key type in
// the SSH wire form of each public key type a status key may have
// (RFC 4253, RFC 5656, RFC 8709, OpenSSH's PROTOCOL.u2f).
var sshKeyFields = map[string]int{
	"ssh-ed25519":                        1, // key
	"sk-ssh-ed25519@openssh.com":         2, // key, application
	"ecdsa-sha2-nistp256":                2, // curve, point
	"ecdsa-sha2-nistp384":                2,
	"ecdsa-sha2-nistp521":                2,
	"sk-ecdsa-sha2-nistp256@openssh.com": 3, // curve, point, application
	"ssh-rsa":                            2, // e, n
}

// CheckStatusKey checks a node's status key (spec.statusKey): one SSH
// public key line in authorized_keys form, "ssh-ed25519 AAAA… comment",
// as `fleetd --print-status-key` prints it, without options. It reads the
// key's wire form far enough to know it is a public key of the type the
// line names; the trust package parses it in full where it checks
// signatures.
func CheckStatusKey(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return errors.New("want one line")
	}
	// Split as an authorized_keys line is (x/crypto/ssh, OpenSSH): on
	// spaces and tabs only, so a key the agent reads is the key checked.
	fields := strings.FieldsFunc(strings.TrimSpace(line), func(r rune) bool { return r == ' ' || r == '\t' })
	if len(fields) < 2 {
		return errors.New("want an SSH public key: keytype base64-key [comment], as `fleetd --print-status-key` prints it")
	}
	typ := fields[0]
	n, ok := sshKeyFields[typ]
	if !ok {
		return fmt.Errorf("unsupported SSH key type %.40q (want ssh-ed25519, ecdsa-sha2-nistp*, sk-* or ssh-rsa, without options)", typ)
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return fmt.Errorf("%s key is not valid base64", typ)
	}
	parts, err := wireStrings(blob)
	if err != nil {
		return fmt.Errorf("%s key does not parse: %w", typ, err)
	}
	switch {
	case len(parts) == 0 || string(parts[0]) != typ:
		return fmt.Errorf("key data is not an %s key", typ)
	case len(parts) != n+1:
		return fmt.Errorf("%s key has %d fields, want %d", typ, len(parts)-1, n)
	case strings.HasSuffix(typ, "ed25519") || strings.HasSuffix(typ, "ed25519@openssh.com"):
		if len(parts[1]) != 32 {
			return fmt.Errorf("%s key is %d bytes, want 32", typ, len(parts[1]))
		}
	case strings.Contains(typ, "ecdsa-sha2-"):
		curve := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(typ, "sk-"), "ecdsa-sha2-"), "@openssh.com")
		if string(parts[1]) != curve {
			return fmt.Errorf("%s key names curve %.20q", typ, parts[1])
		}
	}
	return nil
}

// wireStrings splits SSH wire data into its uint32-length-prefixed
// strings; trailing bytes are an error.
func wireStrings(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errors.New("truncated")
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return nil, errors.New("truncated")
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, nil
}

func checkStatusKey(rep reporter, p fieldPath, key string) {
	if key == "" {
		return
	}
	if err := CheckStatusKey(key); err != nil {
		rep(p, fmt.Errorf("invalid status key: %w", err))
	}
}
