#!/usr/bin/env node
// Reachability probe for the compose labs.
//   probe.mjs listen tcp|udp PORT SECONDS   first "ping" → prints "got PROTO from ADDR:PORT ping", answers "pong", exits 0
//   probe.mjs send tcp|udp HOST PORT SECONDS sends "ping" (UDP: every 200 ms) until "pong"; prints "reply pong", exits 0
// Either exits 1 with one line when nothing came within SECONDS.
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';

const [mode, proto, ...rest] = process.argv.slice(2);
const done = (code, line) => { process.stdout.write(`${line}\n`); process.exit(code); };

function listen(port, seconds) {
  setTimeout(() => done(1, `nothing on ${proto} ${port} within ${seconds} s`), seconds * 1000);
  if (proto === 'udp') {
    const s = createSocket('udp4');
    s.on('message', (m, r) => {
      if (m.toString() !== 'ping') return;
      s.send('pong', r.port, r.address, () => done(0, `got udp from ${r.address}:${r.port} ping`));
    });
    s.bind(port);
    return;
  }
  const srv = createServer((c) => {
    const from = `${c.remoteAddress}:${c.remotePort}`; // gone once the socket closes
    c.once('data', (d) => {
      if (d.toString() !== 'ping') return c.destroy();
      c.end('pong', () => done(0, `got tcp from ${from} ping`));
    });
  });
  srv.listen(port, '0.0.0.0');
}

function send(host, port, seconds) {
  setTimeout(() => done(1, `no reply from ${host}:${port} (${proto}) within ${seconds} s`), seconds * 1000);
  if (proto === 'udp') {
    const s = createSocket('udp4');
    s.on('message', (m, r) => { if (m.toString() === 'pong') done(0, `reply pong from ${r.address}:${r.port}`); });
    const ping = () => s.send('ping', port, host);
    ping();
    setInterval(ping, 200);
    return;
  }
  const attempt = () => {
    const c = connect({ host, port });
    c.once('data', (d) => { if (d.toString() === 'pong') done(0, 'reply pong'); });
    c.on('error', () => setTimeout(attempt, 300));
    c.write('ping');
  };
  attempt();
}

if (mode === 'listen' && (proto === 'tcp' || proto === 'udp')) listen(Number(rest[0]), Number(rest[1] ?? 10));
else if (mode === 'send' && (proto === 'tcp' || proto === 'udp')) send(rest[0], Number(rest[1]), Number(rest[2] ?? 10));
else done(2, 'usage: probe.mjs listen tcp|udp PORT SECONDS | send tcp|udp HOST PORT SECONDS');
