package signature

import (
	"fmt"
	"net/netip"
	"strings"
)

// Upvest's fixed egress IPs, from its documentation.
var (
	SandboxEgressIPs = []string{
		"34.90.198.99", "34.91.134.98", "34.141.35.115", "34.147.108.129",
		"34.159.54.216", "35.198.99.106", "35.204.209.125", "35.246.238.18",
	}
	LiveEgressIPs = []string{
		"34.32.131.178", "34.89.219.22", "34.141.83.243", "34.141.214.141",
		"34.159.127.47", "34.159.198.202", "35.204.0.90", "35.234.163.52",
	}
)

// Allowlist admits requests by source IP. It is a second line of defence:
// the signature is what proves a request comes from Upvest.
type Allowlist struct {
	off      bool
	prefixes []netip.Prefix
}

// ParseAllowlist reads "off" (admit everyone), or a comma-separated list of
// "sandbox", "live" (Upvest's egress IPs), IP addresses and CIDR prefixes.
func ParseAllowlist(spec string) (*Allowlist, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("ip allowlist is empty: say off, sandbox, live or list IPs/CIDRs")
	}
	if strings.EqualFold(spec, "off") {
		return &Allowlist{off: true}, nil
	}
	a := &Allowlist{}
	for _, token := range strings.Split(spec, ",") {
		token = strings.TrimSpace(token)
		switch strings.ToLower(token) {
		case "sandbox":
			a.addAll(SandboxEgressIPs)
			continue
		case "live":
			a.addAll(LiveEgressIPs)
			continue
		case "off":
			return nil, fmt.Errorf("ip allowlist %q: off cannot be combined with other entries", spec)
		case "":
			return nil, fmt.Errorf("ip allowlist %q has an empty entry", spec)
		}
		p, err := parsePrefix(token)
		if err != nil {
			return nil, fmt.Errorf("ip allowlist %q: %w", spec, err)
		}
		a.prefixes = append(a.prefixes, p)
	}
	return a, nil
}

func (a *Allowlist) addAll(ips []string) {
	for _, ip := range ips {
		a.prefixes = append(a.prefixes, netip.PrefixFrom(netip.MustParseAddr(ip), 32))
	}
}

func parsePrefix(token string) (netip.Prefix, error) {
	if strings.Contains(token, "/") {
		p, err := netip.ParsePrefix(token)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP, CIDR, sandbox or live", token)
		}
		return p.Masked(), nil
	}
	addr, err := netip.ParseAddr(token)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP, CIDR, sandbox or live", token)
	}
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// Off reports whether the allowlist admits everyone.
func (a *Allowlist) Off() bool { return a.off }

// Allows reports whether a request from ip is admitted. An address that
// does not parse is refused (unless the list is off).
func (a *Allowlist) Allows(ip string) bool {
	if a.off {
		return true
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range a.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
