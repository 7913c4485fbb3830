#!/usr/bin/env python3
"""Clients for the fault and flood end-to-end tests (test/e2e/faults*.test.ts), run in a LAN host.

  adds URL CLIENT FIRST COUNT
      AddPortMapping (TCP, FIRST..FIRST+COUNT-1 -> CLIENT, lease 0), one at a time on a fresh
      connection each, stopping at the first answer that is not a success; prints
      `ok PORT MS`, `fault PORT CODE MS` (a SOAP fault and its UPnP errorCode) or
      `http PORT STATUS MS`.
  flood KIND TARGET SECONDS
      Sends as fast as one thread can for SECONDS, then prints `sent N answers M`.
      KIND: soap (POST AddPortMapping requests on new connections to TARGET, a control URL,
      from 4 threads),
      msearch (SSDP M-SEARCH ssdp:all to TARGET:1900, unicast), subscribe (GENA SUBSCRIBE
      to TARGET, an event URL, each asking a callback on this host), natpmp (NAT-PMP map
      requests to TARGET:5351), pcp (PCP ANNOUNCE requests to TARGET:5351), dhcp (DHCP
      DISCOVER broadcasts, each from a new random MAC, on interface TARGET).
  udp-flows SERVER PORT COUNT FIRST_SOURCE_PORT
      COUNT UDP flows, from source ports FIRST.. to SERVER:PORT (an echo server), one
      datagram each; prints `flows ok A refused R silent S`: echoed, refused with an ICMP
      error (EHOSTUNREACH: destination unreachable, code 13), neither within 3 s; then
      `ok ports P,...`, the source ports that were echoed.
  echo-udp ADDRESS PORT SECONDS
      A UDP echo server on ADDRESS:PORT for SECONDS (bound to the address, so that its
      answers leave from it and pass address-dependent filtering); prints `ready`.
  syn-flood DST_ADDR DST_PORT FIRST_PORT COUNT
      Sends COUNT TCP SYNs to DST_ADDR:DST_PORT through a raw socket, from this host's
      address toward DST_ADDR and source ports FIRST_PORT..FIRST_PORT+COUNT-1 taken in a
      random order (each once), 64 at a time, each with a random sequence number and an MSS
      option; no ACK ever follows. Prints `sent N`. The kernel of this host knows none of
      these connections: the caller keeps it from answering the SYN-ACKs with RST.
Every loop is bounded by time and count.
"""
import http.client
import os
import random
import re
import socket
import struct
import sys
import time
import urllib.parse

ST = 'urn:schemas-upnp-org:service:WANIPConnection:1'
ADD = ('<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
       's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
       '<u:AddPortMapping xmlns:u="' + ST + '"><NewRemoteHost></NewRemoteHost>'
       '<NewExternalPort>{port}</NewExternalPort><NewProtocol>TCP</NewProtocol>'
       '<NewInternalPort>{port}</NewInternalPort><NewInternalClient>{client}</NewInternalClient>'
       '<NewEnabled>1</NewEnabled><NewPortMappingDescription>fault {port}</NewPortMappingDescription>'
       '<NewLeaseDuration>0</NewLeaseDuration></u:AddPortMapping></s:Body></s:Envelope>\r\n')
MAX_COUNT = 1_000_000
SOAP_FLOOD_PORTS = 29_999


def add_once(url, client, port, timeout=5):
    """One AddPortMapping; returns (kind, value, ms) with kind ok / fault / http."""
    u = urllib.parse.urlsplit(url)
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request('POST', u.path, ADD.format(port=port, client=client).encode(), {
            'Content-Type': 'text/xml; charset="utf-8"', 'SOAPAction': f'"{ST}#AddPortMapping"'})
        r = conn.getresponse()
        text = r.read().decode('utf-8', 'replace')
    finally:
        conn.close()
    ms = (time.monotonic() - t0) * 1000
    if r.status == 200 and 'AddPortMappingResponse' in text:
        return 'ok', '', ms
    code = re.search(r'<errorCode>(\d+)</errorCode>', text)
    if code:
        return 'fault', code.group(1), ms
    return 'http', str(r.status), ms


def adds(url, client, first, count):
    for port in range(first, first + min(count, 10_000)):
        kind, value, ms = add_once(url, client, port)
        print(f'{kind} {port} {value + " " if value else ""}{ms:.1f}'.replace('  ', ' '), flush=True)
        if kind != 'ok':
            return 0
    return 0


def flood_soap(target, deadline, threads=4):
    """AddPortMapping for 192.168.1.250 from `threads` threads, a new connection per request."""
    import threading
    u = urllib.parse.urlsplit(target)
    counts = {'sent': 0, 'answers': 0}
    lock = threading.Lock()

    def worker():
        while time.monotonic() < deadline:
            with lock:
                # Each add a port of its own (30001-59999): a port added twice would be one
                # mapping for two successes, and the test counts mappings against answers.
                if counts['sent'] >= min(MAX_COUNT, SOAP_FLOOD_PORTS):
                    return
                counts['sent'] += 1
                port = 30000 + counts['sent']
            try:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
                conn.request('POST', u.path, ADD.format(port=port, client='192.168.1.250').encode(), {
                    'Content-Type': 'text/xml; charset="utf-8"', 'SOAPAction': f'"{ST}#AddPortMapping"'})
                r = conn.getresponse()
                r.read()
                conn.close()
                with lock:
                    counts['answers'] += 1
            except (OSError, http.client.HTTPException):
                pass

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return counts['sent'], counts['answers']


def flood_datagrams(target, port, deadline, make, recv_from=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    sent = answers = 0
    while time.monotonic() < deadline and sent < MAX_COUNT:
        try:
            s.sendto(make(sent), (target, port))
            sent += 1
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            time.sleep(0.001)
        for _ in range(64):
            try:
                s.recvfrom(2048)
                answers += 1
            except (BlockingIOError, OSError):
                break
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        try:
            s.recvfrom(2048)
            answers += 1
        except BlockingIOError:
            time.sleep(0.01)
    return sent, answers


def msearch(_i):
    return (b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
            b'MX: 1\r\nST: ssdp:all\r\n\r\n')


# The NAT-PMP flood maps TCP ports 1024-24999 only: the mappings it gets are kept (an hour),
# and h2's timed adds (25000-25199) and the SOAP flood's (30001-59999) must find their ports
# free (a port mapped by h1 answers h2's add with 718: 350 random ports of 60,000 met h2's
# 60 about one run in three).
NATPMP_FLOOD_PORTS = 24999 - 1024 + 1


def natpmp_map(i):
    port = 1024 + i % NATPMP_FLOOD_PORTS
    return struct.pack('!BBHHHI', 0, 2, 0, port, port, 3600)


def pcp_announce(_i):
    addr = socket.inet_aton(MY_ADDR)
    return struct.pack('!BBHI', 2, 0, 0, 0) + b'\x00' * 10 + b'\xff\xff' + addr


def flood_subscribe(target, deadline):
    u = urllib.parse.urlsplit(target)
    sent = answers = 0
    while time.monotonic() < deadline and sent < MAX_COUNT:
        sent += 1
        try:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
            conn.request('SUBSCRIBE', u.path, headers={
                'CALLBACK': f'<http://{MY_ADDR}:{40000 + sent % 1000}/ev>', 'NT': 'upnp:event', 'TIMEOUT': 'Second-1800'})
            r = conn.getresponse()
            r.read()
            answers += 1
            conn.close()
        except (OSError, http.client.HTTPException):
            pass
    return sent, answers


def flood_dhcp(ifname, deadline):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    sent = 0
    while time.monotonic() < deadline and sent < MAX_COUNT:
        mac = bytes([0x02]) + os.urandom(5)
        xid = os.urandom(4)
        bootp = (bytes([1, 1, 6, 0]) + xid + b'\x00\x00\x80\x00' + b'\x00' * 16 + mac + b'\x00' * 10
                 + b'\x00' * 192 + b'\x63\x82\x53\x63' + bytes([53, 1, 1, 255]))
        udp_len = 8 + len(bootp)
        udp = struct.pack('!HHHH', 68, 67, udp_len, 0) + bootp
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0, b'\x00' * 4, b'\xff' * 4)
        ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
        frame = b'\xff' * 6 + mac + b'\x08\x00' + ip + udp
        try:
            s.send(frame)
            sent += 1
        except OSError:
            time.sleep(0.001)
    return sent, 0


def checksum(b):
    total = sum(struct.unpack(f'!{len(b) // 2}H', b))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


MY_ADDR = '0.0.0.0'


def own_address(target_host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((target_host, 9))
    addr = s.getsockname()[0]
    s.close()
    return addr


def flood(kind, target, seconds):
    global MY_ADDR
    deadline = time.monotonic() + min(seconds, 120)
    if kind == 'dhcp':
        sent, answers = flood_dhcp(target, deadline)
    else:
        host = urllib.parse.urlsplit(target).hostname if '://' in target else target
        MY_ADDR = own_address(host)
        if kind == 'soap':
            sent, answers = flood_soap(target, deadline)
        elif kind == 'subscribe':
            sent, answers = flood_subscribe(target, deadline)
        elif kind == 'msearch':
            sent, answers = flood_datagrams(target, 1900, deadline, msearch)
        elif kind == 'natpmp':
            sent, answers = flood_datagrams(target, 5351, deadline, natpmp_map)
        elif kind == 'pcp':
            sent, answers = flood_datagrams(target, 5351, deadline, pcp_announce)
        else:
            raise SystemExit(f'unknown flood {kind}')
    print(f'sent {sent} answers {answers}', flush=True)
    return 0


def udp_flows(server, port, count, first):
    socks = []
    for i in range(min(count, 1000)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('0.0.0.0', first + i))
        s.connect((server, port))
        s.setblocking(False)
        s.send(b'flow %d' % i)
        socks.append(s)
    state = ['silent'] * len(socks)
    deadline = time.monotonic() + 3
    while 'silent' in state and time.monotonic() < deadline:
        for i, s in enumerate(socks):
            if state[i] != 'silent':
                continue
            try:
                s.recv(2048)
                state[i] = 'ok'
            except BlockingIOError:
                pass
            except OSError as e:
                state[i] = 'refused' if e.errno in (113, 13) else 'error'
        time.sleep(0.01)
    print(f"flows ok {state.count('ok')} refused {state.count('refused')} silent {state.count('silent')}", flush=True)
    print('ok ports ' + ','.join(str(first + i) for i, st in enumerate(state) if st == 'ok'), flush=True)
    return 0


def echo_udp(address, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, port))
    s.settimeout(0.2)
    print('ready', flush=True)
    deadline = time.monotonic() + min(seconds, 300)
    while time.monotonic() < deadline:
        try:
            data, peer = s.recvfrom(2048)
            s.sendto(data, peer)
        except socket.timeout:
            pass
    return 0


SYN_BURST = 64
MSS_OPTION = struct.pack('!BBH', 2, 4, 1460)


def syn(src, dst, sport, dport):
    """A SYN's TCP header (20 bytes and the MSS option), checksummed over the pseudo-header."""
    offset_flags = ((20 + len(MSS_OPTION)) // 4) << 12 | 0x02
    header = struct.pack('!HHIIHHHH', sport, dport, random.getrandbits(32), 0, offset_flags, 64240, 0, 0) + MSS_OPTION
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, socket.IPPROTO_TCP, len(header))
    return header[:16] + struct.pack('!H', checksum(pseudo + header)) + header[18:]


def syn_flood(dst, dport, first, count):
    src = own_address(dst)
    # The kernel writes the IPv4 header (no IP_HDRINCL); the payload given is the TCP segment.
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.bind((src, 0))
    ports = list(range(first, first + min(count, 60000)))
    random.shuffle(ports)
    sent = 0
    for sport in ports:
        s.sendto(syn(src, dst, sport, dport), (dst, 0))
        sent += 1
        # A veth holds 256 frames for its peer and drops the rest (TX dropped): a pause per
        # 64 lets them all through, still faster than the endpoint's first SYN-ACK timeout.
        if sent % SYN_BURST == 0:
            time.sleep(0.002)
    print(f'sent {sent}', flush=True)
    return 0


def main(argv):
    if len(argv) == 5 and argv[0] == 'udp-flows':
        return udp_flows(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))
    if len(argv) == 4 and argv[0] == 'echo-udp':
        return echo_udp(argv[1], int(argv[2]), float(argv[3]))
    if len(argv) == 5 and argv[0] == 'adds':
        return adds(argv[1], argv[2], int(argv[3]), int(argv[4]))
    if len(argv) == 5 and argv[0] == 'syn-flood':
        return syn_flood(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))
    if len(argv) == 4 and argv[0] == 'flood':
        return flood(argv[1], argv[2], float(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
