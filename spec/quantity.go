package spec

import (
	"fmt"
	"math/big"
	"regexp"
	"sync"
)

var numberRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([A-Za-z]*)$`) })

var memoryUnits = map[string]int64{
	"":   1,
	"k":  1e3,
	"M":  1e6,
	"G":  1e9,
	"T":  1e12,
	"P":  1e15,
	"E":  1e18,
	"Ki": 1 << 10,
	"Mi": 1 << 20,
	"Gi": 1 << 30,
	"Ti": 1 << 40,
	"Pi": 1 << 50,
	"Ei": 1 << 60,
}

// ParseMemory parses a memory quantity in the Kubernetes style into bytes:
// a decimal number and an optional unit, either SI (k, M, G, T, P, E:
// powers of 1000) or binary (Ki, Mi, Gi, Ti, Pi, Ei: powers of 1024).
// "256Mi", "1G", "512M", "1.5Gi" and "1000" are valid; a fraction of a byte
// is rounded up.
func ParseMemory(q string) (int64, error) {
	m := numberRE().FindStringSubmatch(q)
	if m == nil {
		return 0, fmt.Errorf("invalid memory quantity %q: want a number and an optional unit such as 256Mi or 1G", q)
	}
	unit, ok := memoryUnits[m[2]]
	if !ok {
		hint := "use k, M, G, T or Ki, Mi, Gi, Ti"
		switch m[2] {
		case "m":
			hint = `"m" means milli; did you mean "Mi"?`
		case "K":
			hint = `did you mean "k" (1000) or "Ki" (1024)?`
		}
		return 0, fmt.Errorf("invalid memory quantity %q: unknown unit %q: %s", q, m[2], hint)
	}
	n, ok := scale(m[1], unit)
	if !ok {
		return 0, fmt.Errorf("invalid memory quantity %q: too large", q)
	}
	return n, nil
}

// ParseCPU parses a CPU quantity into millicores: a decimal number of cores
// ("0.5", "2") or of millicores with the unit m ("500m"). A fraction of a
// millicore is rounded up.
func ParseCPU(q string) (int64, error) {
	m := numberRE().FindStringSubmatch(q)
	if m == nil {
		return 0, fmt.Errorf("invalid CPU quantity %q: want cores such as 0.5 or 2, or millicores such as 500m", q)
	}
	var unit int64
	switch m[2] {
	case "":
		unit = 1000
	case "m":
		unit = 1
	default:
		return 0, fmt.Errorf("invalid CPU quantity %q: unknown unit %q: want cores such as 0.5 or millicores such as 500m", q, m[2])
	}
	n, ok := scale(m[1], unit)
	if !ok {
		return 0, fmt.Errorf("invalid CPU quantity %q: too large", q)
	}
	return n, nil
}

// scale returns the decimal number num times unit, rounded up; ok is false
// when the result does not fit an int64.
func scale(num string, unit int64) (int64, bool) {
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt64(unit))
	q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}
