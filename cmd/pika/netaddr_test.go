package main

import "testing"

func TestIsVirtual(t *testing.T) {
	for name, want := range map[string]bool{
		"eth0": false, "en0": false, "wlan0": false, "wlp2s0": false, "Wi-Fi": false,
		"docker0": true, "br-1a2b": true, "veth12": true, "virbr0": true, "vboxnet0": true,
		"utun3": true, "tailscale0": true, "wg0": true, "lo": true, "vEthernet (WSL)": true,
	} {
		if got := isVirtual(name); got != want {
			t.Errorf("isVirtual(%q) = %v, want %v", name, got, want)
		}
	}
}
