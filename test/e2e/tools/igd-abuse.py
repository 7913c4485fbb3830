#!/usr/bin/env python3
"""Bad input for the running IGD, sent from a LAN host (test/e2e/igd-hardening.test.ts).
Bounded: a fixed number of datagrams and connections, each with a timeout.

  igd-abuse.py ssdp COUNT SEED
      COUNT datagrams to 239.255.255.250:1900 and 192.168.1.1:1900: random bytes, truncated
      and malformed M-SEARCHes (bad MX, no MAN, huge headers, NUL bytes). Prints `sent N`.
  igd-abuse.py http HOST PORT SEED
      Raw TCP requests to the IGD's HTTP server: random bytes, a request line only, an
      oversized SOAP body, a DOCTYPE/entity body, a bad Content-Length, a chunked body
      with bad chunk sizes, an unknown method and a known one the URL does not take. Prints `STATUS name` per request
      (`closed` when the server closed without a status line).
"""
import random
import socket
import sys


def ssdp(count, seed):
    rnd = random.Random(seed)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
    kinds = [
        lambda: bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 600))),
        lambda: b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n',
        lambda: b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: -5\r\nST: ssdp:all\r\n\r\n',
        lambda: b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMX: 1\r\nST: ssdp:all\r\n\r\n',
        lambda: b'M-SEARCH * HTTP/1.1\r\nX: ' + b'a' * 1400 + b'\r\n\r\n',
        lambda: b'M-SEARCH * HTTP/1.1\r\nST: \x00\x00\x00\r\n\r\n',
        lambda: b'NOTIFY * HTTP/1.1\r\nNTS: ssdp:alive\r\n\r\n',
        lambda: b'\r\n\r\n\r\n',
    ]
    sent = 0
    for i in range(count):
        data = kinds[i % len(kinds)]()
        for dst in (('239.255.255.250', 1900), ('192.168.1.1', 1900)):
            try:
                s.sendto(data, dst)
                sent += 1
            except OSError:
                pass
    print(f'sent {sent}', flush=True)
    return 0


def http(host, port, seed):
    rnd = random.Random(seed)
    envelope = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
                '<s:Body>{}</s:Body></s:Envelope>')
    st = 'urn:schemas-upnp-org:service:WANIPConnection:1'

    def post(body, extra=b'', length=None):
        n = len(body) if length is None else length
        return (b'POST /ctl/IPConn HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                b'SOAPAction: "' + st.encode() + b'#GetExternalIPAddress"\r\n' + extra
                + b'Content-Length: ' + str(n).encode() + b'\r\nConnection: close\r\n\r\n' + body)

    doctype = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
               + envelope.format(f'<u:GetExternalIPAddress xmlns:u="{st}">&b;</u:GetExternalIPAddress>')).encode()
    cases = [
        ('random', bytes(rnd.getrandbits(8) for _ in range(300)) + b'\r\n\r\n'),
        ('request-line-only', b'GET /rootDesc.xml HTTP/1.1\r\n\r\n'),
        ('oversized-body', post(b'<' * 100_000)),
        ('doctype', post(doctype)),
        ('bad-content-length', post(b'abc', length=None, extra=b'Content-Length: 7\r\n')),
        ('bad-chunks', b'POST /ctl/IPConn HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'),
        ('unknown-method', b'BREW /ctl/IPConn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
        ('wrong-method', b'PUT /ctl/IPConn HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'),
        ('not-xml', post(b'this is not xml at all')),
    ]
    for name, data in cases:
        c = socket.create_connection((host, port), timeout=5)
        try:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            reply = b''
            while len(reply) < 65536:
                chunk = c.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except OSError:
            reply = b''
        finally:
            c.close()
        line = reply.split(b'\r\n', 1)[0].decode(errors='replace')
        status = line.split(' ')[1] if line.startswith('HTTP/1.1 ') else 'closed'
        print(f'{status} {name}', flush=True)
    return 0


def main(argv):
    if len(argv) == 3 and argv[0] == 'ssdp':
        return ssdp(int(argv[1]), int(argv[2]))
    if len(argv) == 4 and argv[0] == 'http':
        return http(argv[1], int(argv[2]), int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
