#!/usr/bin/env python3
"""A SYN flood for the IGD TCP end-to-end test (test/e2e/igd-tcp.test.ts), run in a LAN host.

  syn-flood.py DST_ADDR DST_PORT FIRST_PORT COUNT
      Sends COUNT TCP SYNs to DST_ADDR:DST_PORT through a raw socket, from this host's
      address toward DST_ADDR and source ports FIRST_PORT..FIRST_PORT+COUNT-1 taken in a
      random order (each once), 64 at a time, each with a random sequence number and an MSS option; no
      ACK ever follows. Prints `sent N`. The kernel of this host knows none of these
      connections: the caller keeps it from answering the SYN-ACKs with RST.
Every loop is bounded by count.
"""
import random
import socket
import struct
import sys
import time

BURST = 64
MSS_OPTION = struct.pack('!BBH', 2, 4, 1460)


def checksum(b):
    if len(b) % 2:
        b += b'\0'
    total = sum(struct.unpack(f'!{len(b) // 2}H', b))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def own_address(target_host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((target_host, 9))
    addr = s.getsockname()[0]
    s.close()
    return addr


def syn(src, dst, sport, dport):
    """A SYN's TCP header (20 bytes and the MSS option), checksummed over the pseudo-header."""
    offset_flags = ((20 + len(MSS_OPTION)) // 4) << 12 | 0x02
    seq = random.getrandbits(32)
    header = struct.pack('!HHIIHHHH', sport, dport, seq, 0, offset_flags, 64240, 0, 0) + MSS_OPTION
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, socket.IPPROTO_TCP, len(header))
    csum = checksum(pseudo + header)
    return header[:16] + struct.pack('!H', csum) + header[18:]


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    dst, dport, first, count = argv[0], int(argv[1]), int(argv[2]), min(int(argv[3]), 60000)
    src = own_address(dst)
    # The kernel writes the IPv4 header (no IP_HDRINCL); the payload given is the TCP segment.
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.bind((src, 0))
    ports = list(range(first, first + count))
    random.shuffle(ports)
    sent = 0
    for sport in ports:
        s.sendto(syn(src, dst, sport, dport), (dst, 0))
        sent += 1
        # A veth holds 256 frames for its peer and drops the rest (TX dropped): a pause per
        # 64 lets them all through, still faster than the endpoint's first SYN-ACK timeout.
        if sent % BURST == 0:
            time.sleep(0.002)
    print(f'sent {sent}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
