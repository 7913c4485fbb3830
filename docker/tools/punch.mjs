#!/usr/bin/env node
// UDP hole punching through a rendezvous server, the way peer-to-peer programs do it.
//   punch.mjs rendezvous PORT
//     Records, for each peer name, the endpoint its "register" came from (what a STUN
//     server would tell it: the mapping its NAT made towards the server), or the one it
//     advertises (a port mapping it made by UPnP), and tells each peer the other's.
//   punch.mjs peer NAME PEER RV_HOST:PORT LOCAL_PORT SECONDS [ADVERTISE_HOST:PORT]
//     Registers from LOCAL_PORT, then for SECONDS sends "punch NAME" every 100 ms to the
//     peer's endpoint and to wherever the peer's packets come from. Prints
//     "punched: got punch PEER from ADDR:PORT" and exits 0 if anything from PEER came
//     through, else "not punched: nothing from PEER" and exits 1.
import { createSocket } from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);

function rendezvous(port) {
  const peers = new Map();
  const s = createSocket('udp4');
  s.on('message', (m, r) => {
    const [verb, name, peer, advertised] = m.toString().split(' ');
    if (verb !== 'register' || !name || !peer) return;
    peers.set(name, advertised ?? `${r.address}:${r.port}`);
    const reply = peers.has(peer) ? `peer ${peers.get(peer)}` : 'wait';
    s.send(reply, r.port, r.address);
  });
  s.bind(port, () => process.stdout.write(`rendezvous on udp ${port}\n`));
}

function peer(name, peerName, rv, localPort, seconds, advertise) {
  const [rvHost, rvPort] = rv.split(':');
  const targets = new Set();
  let got = '';
  const s = createSocket('udp4');
  s.on('message', (m, r) => {
    const text = m.toString();
    if (r.address === rvHost && Number(r.port) === Number(rvPort)) {
      if (text.startsWith('peer ')) targets.add(text.slice(5));
      return;
    }
    if (text === `punch ${peerName}`) {
      got ||= `got ${text} from ${r.address}:${r.port}`;
      targets.add(`${r.address}:${r.port}`);
    }
  });
  s.bind(localPort, () => {
    const tick = setInterval(() => {
      s.send(`register ${name} ${peerName}${advertise ? ` ${advertise}` : ''}`, Number(rvPort), rvHost);
      for (const t of targets) {
        const [h, p] = t.split(':');
        s.send(`punch ${name}`, Number(p), h);
      }
    }, 100);
    setTimeout(() => {
      clearInterval(tick);
      process.stdout.write(got ? `punched: ${got}\n` : `not punched: nothing from ${peerName} (sent to ${[...targets].join(', ') || 'no endpoint'})\n`);
      process.exit(got ? 0 : 1);
    }, seconds * 1000);
  });
}

if (mode === 'rendezvous') rendezvous(Number(args[0]));
else if (mode === 'peer' && args.length >= 5) peer(args[0], args[1], args[2], Number(args[3]), Number(args[4]), args[5]);
else {
  process.stdout.write('usage: punch.mjs rendezvous PORT | peer NAME PEER RV_HOST:PORT LOCAL_PORT SECONDS [ADVERTISE]\n');
  process.exit(2);
}
