#!/usr/bin/env python3
"""Probes a port mapping from both ends, for the IGD end-to-end tests.

  port-probe.py listen tcp|udp PORT SECONDS [ADDRESS]
      Waits up to SECONDS for one TCP connection or UDP datagram on ADDRESS:PORT (default
      0.0.0.0; give it where the answer must come from, e.g. a server address on lo, since a
      UDP answer from 0.0.0.0 leaves from the route's address), prints
      `got <proto> from <addr>:<port> <payload>` and answers `pong`. Exits 0 when something
      came, 3 when nothing did.
  port-probe.py send tcp|udp HOST PORT SECONDS [SOURCE[:SPORT]]
      Connects (or sends a datagram) to HOST:PORT, optionally from address SOURCE (and
      port SPORT; SOURCE may be empty, `:SPORT`), sends `ping`, prints `reply <payload>`.
      Exits 0 on a reply, 3 on none within SECONDS.
  port-probe.py add-burst URL SERVICE_TYPE CLIENT FIRST COUNT THREADS
      Sends AddPortMapping requests (TCP, ports FIRST..FIRST+COUNT-1 to CLIENT, same
      internal port) from THREADS threads and prints `ok <port>` as soon as each success
      response has arrived (flushed), `fail <port> <reason>` otherwise. Ends when all are
      sent or after 10 consecutive connection failures per thread (the gateway went away).
  port-probe.py events PORT SECONDS
      A GENA subscriber's callback server on 0.0.0.0:PORT: prints `event <SEQ> <body>` (the
      body on one line) for each NOTIFY and answers 200, for SECONDS.
"""
import http.client
import socket
import sys
import threading
import urllib.parse


def listen(proto, port, seconds, address='0.0.0.0'):
    if proto == 'tcp':
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
        s.listen(1)
        s.settimeout(seconds)
        try:
            c, a = s.accept()
        except socket.timeout:
            return 3
        c.settimeout(seconds)
        data = c.recv(100)
        print(f'got tcp from {a[0]}:{a[1]} {data.decode(errors="replace")}', flush=True)
        c.sendall(b'pong')
        c.close()
        return 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    s.settimeout(seconds)
    try:
        data, a = s.recvfrom(100)
    except socket.timeout:
        return 3
    print(f'got udp from {a[0]}:{a[1]} {data.decode(errors="replace")}', flush=True)
    s.sendto(b'pong', a)
    return 0


def send(proto, host, port, seconds, source=None):
    kind = socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(seconds)
    if source:
        address, _, sport = source.partition(':')
        s.bind((address, int(sport or 0)))
    try:
        if proto == 'tcp':
            s.connect((host, port))
            s.sendall(b'ping')
            data = s.recv(100)
        else:
            s.sendto(b'ping', (host, port))
            data, _ = s.recvfrom(100)
    except (socket.timeout, ConnectionError, OSError) as e:
        print(f'no reply: {e}', flush=True)
        return 3
    print(f'reply {data.decode(errors="replace")}', flush=True)
    return 0 if data else 3


ADD = ('<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
       's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:AddPortMapping xmlns:u="{st}">'
       '<NewRemoteHost></NewRemoteHost><NewExternalPort>{port}</NewExternalPort><NewProtocol>TCP</NewProtocol>'
       '<NewInternalPort>{port}</NewInternalPort><NewInternalClient>{client}</NewInternalClient>'
       '<NewEnabled>1</NewEnabled><NewPortMappingDescription>burst {port}</NewPortMappingDescription>'
       '<NewLeaseDuration>0</NewLeaseDuration></u:AddPortMapping></s:Body></s:Envelope>\r\n')


def add_burst(url, service_type, client, first, count, threads):
    u = urllib.parse.urlsplit(url)
    lock = threading.Lock()
    ports = list(range(first, first + count))

    def worker():
        failures = 0
        conn = None
        while failures < 10:
            with lock:
                if not ports:
                    return
                port = ports.pop(0)
            body = ADD.format(st=service_type, port=port, client=client).encode()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
                conn.request('POST', u.path, body, {
                    'Content-Type': 'text/xml; charset="utf-8"',
                    'SOAPAction': f'"{service_type}#AddPortMapping"'})
                r = conn.getresponse()
                text = r.read()
                ok = r.status == 200 and b'AddPortMappingResponse' in text
                with lock:
                    print(f'ok {port}' if ok else f'fail {port} HTTP {r.status}', flush=True)
                failures = 0
            except (OSError, http.client.HTTPException) as e:
                failures += 1
                conn = None
                with lock:
                    print(f'fail {port} {type(e).__name__}', flush=True)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return 0


def events(port, seconds):
    import http.server
    import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_NOTIFY(self):
            n = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(min(n, 65536)).decode(errors='replace').replace('\r', '').replace('\n', '')
            print(f'event {self.headers.get("SEQ")} {body}', flush=True)
            self.send_response(200)
            self.send_header('Content-Length', '0')
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('0.0.0.0', port), Handler)
    server.timeout = 0.2
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        server.handle_request()
    return 0


def main(argv):
    if len(argv) >= 4 and argv[0] == 'listen':
        return listen(argv[1], int(argv[2]), float(argv[3]), *argv[4:5])
    if len(argv) >= 5 and argv[0] == 'send':
        return send(argv[1], argv[2], int(argv[3]), float(argv[4]), argv[5] if len(argv) > 5 else None)
    if len(argv) == 3 and argv[0] == 'events':
        return events(int(argv[1]), float(argv[2]))
    if len(argv) == 7 and argv[0] == 'add-burst':
        return add_burst(argv[1], argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
