#!/usr/bin/env node
// HEALTHCHECK: healthy once the gateway forwards: the entrypoint has joined both TAPs to
// the container's interfaces (it then writes /run/openigd/ready, naming the admin
// socket), the admin API answers, and the WAN has an address (with `wan.address: dhcp`
// it has none until a lease, and nothing is forwarded before).
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

function unhealthy(why) {
  process.stdout.write(`unhealthy: ${why}\n`);
  process.exit(1);
}

let socketPath;
try {
  socketPath = readFileSync('/run/openigd/ready', 'utf8').trim();
} catch {
  unhealthy('the gateway is not attached to the container\'s interfaces yet');
}
const req = request({ socketPath, path: '/status', timeout: 2000 }, (res) => {
  let text = '';
  res.on('data', (c) => { text += c; });
  res.on('end', () => {
    if (res.statusCode !== 200) unhealthy(`admin API answered ${res.statusCode}`);
    const wan = JSON.parse(text).wan?.address ?? '';
    if (!wan || wan.startsWith('0.0.0.0')) unhealthy('the WAN has no address yet');
    process.stdout.write(`healthy: wan ${wan}\n`);
    process.exit(0);
  });
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (e) => unhealthy(`admin API: ${e.message}`));
req.end();
