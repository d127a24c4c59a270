package main

import (
	"net"
	"net/netip"
	"sort"
	"strings"
)

// virtualPrefixes name interfaces phones cannot reach: containers, VMs,
// VPNs and tunnels.
func virtualPrefixes() []string {
	return []string{"docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "utun", "tun", "tap", "zt",
		"tailscale", "wg", "lo", "llw", "awdl", "bridge", "vEthernet", "VirtualBox", "VMware", "Hyper-V"}
}

// lanAddresses lists this machine's private IPv4 addresses on real
// interfaces, the likeliest Wi-Fi/Ethernet LAN first (192.168/16, then
// 10/8, then 172.16/12).
func lanAddresses() []netip.Addr {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || isVirtual(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr()
			if ip.Is4() && ip.IsPrivate() {
				out = append(out, ip)
			}
		}
	}
	rank := func(ip netip.Addr) int {
		switch b := ip.As4(); {
		case b[0] == 192:
			return 0
		case b[0] == 10:
			return 1
		}
		return 2
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

func isVirtual(name string) bool {
	for _, p := range virtualPrefixes() {
		if strings.HasPrefix(strings.ToLower(name), strings.ToLower(p)) {
			return true
		}
	}
	return false
}
