#!/usr/bin/env python3
"""Sends NAT-PMP mapping requests one after another, for the end-to-end tests.

  natpmp-burst.py GATEWAY FIRST COUNT LIFETIME
      For internal ports FIRST..FIRST+COUNT-1, sends RFC 6886 §3.3's request (version 0,
      op 1 = UDP, the internal port, the same port suggested, LIFETIME) to GATEWAY:5351,
      waits up to 250 ms for the answer (resending twice, the wait doubling), and prints
      `ok <internal> <external>` (flushed) as soon as a success arrives, `fail <internal>
      <reason>` otherwise. Ends after COUNT requests or 10 failures in a row.
"""
import socket
import struct
import sys


def main():
    gateway, first, count, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    failures = 0
    for port in range(first, first + count):
        request = struct.pack('!BBHHHI', 0, 1, 0, port, port, lifetime)
        answer = None
        wait = 0.25
        for _ in range(3):
            s.sendto(request, (gateway, 5351))
            s.settimeout(wait)
            try:
                while True:
                    data, (addr, _p) = s.recvfrom(64)
                    if addr == gateway and len(data) == 16 and data[1] == 129 and struct.unpack('!H', data[8:10])[0] == port:
                        answer = data
                        break
            except (socket.timeout, OSError):
                wait *= 2
                continue
            break
        if answer is None:
            print(f'fail {port} no answer', flush=True)
        else:
            result, external = struct.unpack('!H', answer[2:4])[0], struct.unpack('!H', answer[10:12])[0]
            if result == 0:
                failures = 0
                print(f'ok {port} {external}', flush=True)
                continue
            print(f'fail {port} result {result}', flush=True)
        failures += 1
        if failures >= 10:
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
