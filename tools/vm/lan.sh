#!/usr/bin/env bash
# The VMs' shared LAN: QEMU's user-mode network hides each guest's ports from everything but its own forwarded
# SSH port, so a firewall can only be judged from another host on a network the VMs share. Everything lives in
# network namespaces of its own (nothing is added to this machine's network):
#   pifleet-lan      bridge br0, 192.168.77.1/24: "a laptop on the LAN", and the DHCP server (dnsmasq: leases
#                    from .100, no router, no DNS: the VMs keep their default route on the user-mode network)
#   pifleet-monitor  192.168.77.2/24 on a veth into br0: "the Prometheus host" (a monitoring network of one)
# Each VM's second NIC is a persistent tap in pifleet-lan on br0 (pi-vm.sh, through netns-tap.py).
#   lan.sh up STATE_DIR        idempotent; dnsmasq's pid and leases in STATE_DIR
#   lan.sh tap NAME            make VM NAME's tap (prints its name)
#   lan.sh down STATE_DIR      stop dnsmasq, remove both namespaces (and the taps with them)
#   lan.sh lease MAC STATE_DIR the address dnsmasq gave MAC (empty when none yet)
set -euo pipefail
LAN=pifleet-lan
MONITOR=pifleet-monitor

tap_name() { printf 'pft%s' "$(printf '%s' "$1" | md5sum | cut -c1-8)"; }

case "${1:-}" in
  up)
    state=${2:?state dir}
    mkdir -p "$state"
    if ! ip netns list | grep -qw "$LAN"; then
      ip netns add "$LAN"
      ip -n "$LAN" link set lo up
      ip -n "$LAN" link add br0 type bridge
      ip -n "$LAN" addr add 192.168.77.1/24 dev br0
      ip -n "$LAN" link set br0 up
      ip netns add "$MONITOR"
      ip -n "$MONITOR" link set lo up
      ip -n "$LAN" link add mon0 type veth peer name eth0 netns "$MONITOR"
      ip -n "$LAN" link set mon0 master br0 up
      ip -n "$MONITOR" addr add 192.168.77.2/24 dev eth0
      ip -n "$MONITOR" link set eth0 up
    fi
    if ! { [ -f "$state/dnsmasq.pid" ] && kill -0 "$(cat "$state/dnsmasq.pid")" 2>/dev/null; }; then
      ip netns exec "$LAN" dnsmasq --port=0 --interface=br0 --bind-interfaces --except-interface=lo \
        --dhcp-range=192.168.77.100,192.168.77.199,255.255.255.0,12h --dhcp-option=option:router \
        --dhcp-option=option:dns-server --dhcp-leasefile="$state/lan.leases" --pid-file="$state/dnsmasq.pid" \
        --log-facility="$state/dnsmasq.log" --dhcp-authoritative
    fi
    ;;
  tap)
    tap=$(tap_name "${2:?vm name}")
    ip -n "$LAN" link show "$tap" >/dev/null 2>&1 || {
      ip -n "$LAN" tuntap add dev "$tap" mode tap
      ip -n "$LAN" link set "$tap" master br0 up
    }
    echo "$tap"
    ;;
  lease)
    mac=${2:?mac}; state=${3:?state dir}
    awk -v mac="$mac" 'tolower($2) == tolower(mac) {print $3}' "$state/lan.leases" 2>/dev/null | tail -n1
    ;;
  down)
    state=${2:?state dir}
    [ -f "$state/dnsmasq.pid" ] && kill "$(cat "$state/dnsmasq.pid")" 2>/dev/null || true
    rm -f "$state/dnsmasq.pid"
    ip netns del "$MONITOR" 2>/dev/null || true
    ip netns del "$LAN" 2>/dev/null || true
    ;;
  *) echo "usage: $0 up STATE_DIR | tap NAME | lease MAC STATE_DIR | down STATE_DIR" >&2; exit 2 ;;
esac
