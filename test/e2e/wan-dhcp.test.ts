/**
 * Issue 3 (parts): the WAN by DHCP (`wan.address: dhcp`). busybox udhcpd in the internet
 * namespace leases the gateway its WAN address; until then nothing is forwarded, after it
 * a LAN host reaches the server from that address, and the IGD reports it (U4).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { labUp, labDown } from '@openigd/gateway';
import { uniquePrefix, must, Cleanup, isRoot, until } from '../lib/ns.js';
import { status } from '../lib/admin.js';

const DIR = '/run/openigd-lab';
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

describe('WAN address by DHCP, the external address the IGD reports (U4)', { skip }, () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  test('udhcpd leases the WAN address; traffic and the IGD use it', async () => {
    const prefix = uniquePrefix('d');
    cleanup.add(() => labDown(prefix, DIR));
    const lab = await labUp({ prefix, dir: DIR, wanDhcp: true });
    const leased = await until('a WAN lease', async () => {
      const s = await status(lab.adminSocket) as unknown as { wan: { address: string; gateway: string }; wanDhcp: { state: string } };
      return s.wanDhcp.state === 'bound' ? s.wan : null;
    }, 30_000, 200);
    const m = /^203\.0\.113\.(\d+)\/24$/.exec(leased.address);
    assert.ok(m && Number(m[1]) >= 50 && Number(m[1]) <= 60, `leased ${leased.address}, want one of udhcpd's 203.0.113.50-60/24`);
    assert.equal(leased.gateway, '203.0.113.1', 'option 3 (router) is the WAN gateway');
    const address = leased.address.split('/')[0]!;

    const { h1, inet } = lab.namespaces;
    await must(h1, 'ping', ['-c', '2', '-W', '2', lab.servers[0]!]);
    // The server sees the leased address as the source.
    const seen = await must(inet, 'python3', ['-c', [
      'import socket,subprocess',
      's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("198.51.100.10",47000)); s.settimeout(8)',
      `subprocess.Popen(["ip","netns","exec","${h1}","python3","-c","import socket; socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(b'hi',('198.51.100.10',47000))"])`,
      'd,a=s.recvfrom(10); print(a[0])',
    ].join('\n')], 20_000);
    assert.equal(seen.trim(), address);
    const igd = await must(h1, 'upnpc', ['-i', '-s'], 30_000);
    assert.match(igd, new RegExp(`ExternalIPAddress = ${address.replace(/\./g, '\\.')}\\b`));
  });
});
