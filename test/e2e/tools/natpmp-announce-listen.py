#!/usr/bin/env python3
"""Listens for NAT-PMP address announcements (RFC 6886 §3.2.1), for the end-to-end tests.

  natpmp-announce-listen.py INTERFACE_ADDRESS SECONDS [any]
      Binds 224.0.0.1:5350 (as the RFC tells clients to), joins the group on the interface
      with INTERFACE_ADDRESS, prints `ready` once bound, then for each datagram
      `announce <ms since start> <source addr>:<port> <payload hex>`, for SECONDS.
      The time is the kernel's receive stamp (SO_TIMESTAMPNS), not when this process got
      to read the datagram: on a loaded machine two datagrams read in one go would
      otherwise look sent at once.
      With `any` it binds 0.0.0.0:5350 instead (still in the group), as a PCP client does
      to hear the unicast responses a server sends unsolicited (RFC 6887 §14.2) as well.
      Run it inside a namespace only: it must never listen on the host's own interfaces.
"""
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, 'SO_TIMESTAMPNS', 35)  # Linux; its cmsg type has the same number


def received_at(ancillary, fallback):
    """The kernel's receive time (wall clock, s) from the SO_TIMESTAMPNS control message."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack('qq', data[:16])
            return sec + nsec / 1e9
    return fallback


def main():
    interface, seconds = sys.argv[1], float(sys.argv[2])
    unicast_too = len(sys.argv) > 3 and sys.argv[3] == 'any'
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0' if unicast_too else '224.0.0.1', 5350))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack('4s4s', socket.inet_aton('224.0.0.1'), socket.inet_aton(interface)))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    print('ready', flush=True)
    start_wall = time.time()
    start = time.monotonic()
    end = start + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return 0
        s.settimeout(left)
        try:
            data, ancillary, _flags, (addr, port) = s.recvmsg(2048, socket.CMSG_SPACE(16))
        except socket.timeout:
            return 0
        at = received_at(ancillary, time.time())
        print(f'announce {int((at - start_wall) * 1000)} {addr}:{port} {data.hex()}', flush=True)


if __name__ == '__main__':
    sys.exit(main())
