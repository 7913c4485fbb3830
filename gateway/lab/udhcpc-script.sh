#!/bin/sh
# udhcpc event script for lab hosts: configures the interface and default route only.
# (Debian's default script also rewrites /etc/resolv.conf, which a lab must not touch.)
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" broadcast "${broadcast:-+}" dev "$interface"
    if [ -n "$router" ]; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    echo "lease: $interface $ip/${mask:-24} router ${router:-none} dns ${dns:-none} lease ${lease:-?}"
    ;;
esac
exit 0
