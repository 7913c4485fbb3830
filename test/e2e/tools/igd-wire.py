#!/usr/bin/env python3
"""The UDP side of the IGD client tests (test/e2e/igd-clients.test.ts), run inside a lab
namespace. Every mode is bounded in time and in the number of datagrams it handles.

  igd-wire.py msearch ST MX SECONDS
      Sends the M-SEARCH Windows' NAT traversal sends (byte for byte as Wine's hnetcfg
      writes it: no space after the colons) to 239.255.255.250:1900 with ST and MX, from
      an ephemeral port, multicast TTL 2. Collects the unicast answers for SECONDS (at
      most 64) and prints each as one JSON line {"from": ADDR, "port": PORT, "text": RAW}.
  igd-wire.py udp-listen PORT SECONDS COUNT
      Binds 0.0.0.0:PORT (no SO_BROADCAST: a receiver does not need it), prints `ready`,
      then `got ADDR:PORT PAYLOAD` for each datagram. Answers nothing (an answer would
      open a flow in the NAT). Exits after COUNT datagrams (0 when none came) or after
      SECONDS (3).
  igd-wire.py udp-send HOST PORT PAYLOAD [SOURCE]
      Sends one datagram with PAYLOAD to HOST:PORT, from address SOURCE when given.
"""
import json
import select
import socket
import sys
import time

# Wine dlls/hnetcfg/port.c, init_gateway_connection(): what Windows' IUPnPNAT sends.
MSEARCH = ('M-SEARCH * HTTP/1.1\r\n'
           'HOST:239.255.255.250:1900\r\n'
           'ST:{st}\r\n'
           'MX:{mx}\r\n'
           'MAN:"ssdp:discover"\r\n'
           '\r\n')


def receive(s, seconds, limit, size):
    """Yields (data, address) for at most `limit` datagrams arriving within `seconds`."""
    deadline = time.monotonic() + seconds
    for _ in range(limit):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select([s], [], [], left)
        if not ready:
            return
        yield s.recvfrom(size)


def msearch(st, mx, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
    s.bind(('0.0.0.0', 0))
    s.sendto(MSEARCH.format(st=st, mx=mx).encode(), ('239.255.255.250', 1900))
    for data, a in receive(s, seconds, 64, 4096):
        print(json.dumps({'from': a[0], 'port': a[1], 'text': data.decode(errors='replace')}), flush=True)
    return 0


def udp_listen(port, seconds, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', port))
    print('ready', flush=True)
    got = 0
    for data, a in receive(s, seconds, count, 2048):
        got += 1
        print(f'got {a[0]}:{a[1]} {data.decode(errors="replace")}', flush=True)
    return 0 if got == count else 3


def udp_send(host, port, payload, source=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if source:
        s.bind((source, 0))
    s.sendto(payload.encode(), (host, port))
    return 0


def main(argv):
    if len(argv) == 4 and argv[0] == 'msearch':
        return msearch(argv[1], argv[2], float(argv[3]))
    if len(argv) == 4 and argv[0] == 'udp-listen':
        return udp_listen(int(argv[1]), float(argv[2]), int(argv[3]))
    if len(argv) in (4, 5) and argv[0] == 'udp-send':
        return udp_send(argv[1], int(argv[2]), argv[3], argv[4] if len(argv) == 5 else None)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
