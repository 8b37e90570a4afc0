package signature

import "testing"

func TestAllowlist(t *testing.T) {
	tests := []struct {
		spec    string
		allowed []string
		refused []string
	}{
		{"off", []string{"34.90.198.99", "127.0.0.1", "not an ip"}, nil},
		{" OFF ", []string{"10.0.0.1"}, nil},
		{"sandbox", SandboxEgressIPs, append([]string{"127.0.0.1", "34.90.198.98", ""}, LiveEgressIPs...)},
		{"live", LiveEgressIPs, append([]string{"34.90.198.99"}, SandboxEgressIPs...)},
		{"sandbox, live", append(append([]string{}, SandboxEgressIPs...), LiveEgressIPs...), []string{"8.8.8.8"}},
		{"127.0.0.1", []string{"127.0.0.1", "::ffff:127.0.0.1"}, []string{"127.0.0.2", "::1"}},
		{"10.1.0.0/16,::1", []string{"10.1.255.255", "10.1.0.0", "::1"}, []string{"10.2.0.0", "::2"}},
		{"10.1.2.3/16", []string{"10.1.99.1"}, []string{"10.0.0.1"}},
		{"live, 192.168.0.0/24", []string{"35.234.163.52", "192.168.0.7"}, []string{"192.168.1.7", "34.90.198.99", "192.168.0.7:443"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			a, err := ParseAllowlist(tt.spec)
			if err != nil {
				t.Fatalf("ParseAllowlist: %v", err)
			}
			for _, ip := range tt.allowed {
				if !a.Allows(ip) {
					t.Errorf("Allows(%q) = false, want true", ip)
				}
			}
			for _, ip := range tt.refused {
				if a.Allows(ip) {
					t.Errorf("Allows(%q) = true, want false", ip)
				}
			}
		})
	}
}

func TestParseAllowlistRejects(t *testing.T) {
	for _, spec := range []string{"", "  ", "everyone", "off,live", "1.2.3", "10.0.0.0/33", "live,,sandbox", "1.2.3.4/x"} {
		if _, err := ParseAllowlist(spec); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted", spec)
		}
	}
}

func TestAllowlistOff(t *testing.T) {
	for spec, off := range map[string]bool{"off": true, "live": false, "1.2.3.4": false} {
		a, err := ParseAllowlist(spec)
		if err != nil {
			t.Fatal(err)
		}
		if a.Off() != off {
			t.Errorf("ParseAllowlist(%q).Off() = %v", spec, a.Off())
		}
	}
}
