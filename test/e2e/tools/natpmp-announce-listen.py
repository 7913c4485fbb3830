#!/usr/bin/env python3
"""Listens for NAT-PMP address announcements (RFC 6886 §3.2.1), for the end-to-end tests.

  natpmp-announce-listen.py INTERFACE_ADDRESS SECONDS
      Binds 224.0.0.1:5350 (as the RFC tells clients to), joins the group on the interface
      with INTERFACE_ADDRESS, prints `ready` once bound, then for each datagram
      `announce <ms since start> <source addr>:<port> <payload hex>`, for SECONDS.
      Run it inside a namespace only: it must never listen on the host's own interfaces.
"""
import socket
import struct
import sys
import time


def main():
    interface, seconds = sys.argv[1], float(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('224.0.0.1', 5350))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack('4s4s', socket.inet_aton('224.0.0.1'), socket.inet_aton(interface)))
    print('ready', flush=True)
    start = time.monotonic()
    end = start + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return 0
        s.settimeout(left)
        try:
            data, (addr, port) = s.recvfrom(2048)
        except socket.timeout:
            return 0
        print(f'announce {int((time.monotonic() - start) * 1000)} {addr}:{port} {data.hex()}', flush=True)


if __name__ == '__main__':
    sys.exit(main())
