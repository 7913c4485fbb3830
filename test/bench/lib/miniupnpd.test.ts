/**
 * The miniupnpd harness: its config and nftables text, how it reads miniupnpd's start-up
 * log, and (as root with miniupnpd-nftables and stun-server installed) a real start:
 * mappings added from the LAN namespace, listed, gone after a restart, and nothing of
 * it left afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Cleanup, isRoot, sh, uniquePrefix } from '../../lib/ns.js';
import { miniupnpdConfig, nftablesRuleset, startMiniupnpd, startStatus, NFT_NAMES } from './miniupnpd.js';
import { runSoapWorker } from './soap-worker.js';

test('the config enables UPnP only, STUN, IGD:1, our nftables names, and the LAN alone', () => {
  const text = miniupnpdConfig({
    lanInterface: 'lan0', wanInterface: 'wan0', httpPort: 5555, uuid: '0b5ad9b2-0000-4000-8000-000000000001',
    lanCidr: '192.168.50.0/24', stunHost: '198.51.100.10', stunPort: 3478,
  });
  const lines = text.trim().split('\n');
  for (const want of [
    'ext_ifname=wan0', 'listening_ip=lan0', 'port=5555', 'enable_upnp=yes', 'enable_natpmp=no', 'secure_mode=no',
    'force_igd_desc_v1=yes', 'uuid=0b5ad9b2-0000-4000-8000-000000000001', 'ext_perform_stun=yes', 'ext_stun_host=198.51.100.10',
    'ext_stun_port=3478', 'upnp_table_name=filter', 'upnp_nat_table_name=filter', 'upnp_forward_chain=miniupnpd',
    'upnp_nat_chain=prerouting_miniupnpd', 'upnp_nat_postrouting_chain=postrouting_miniupnpd',
  ]) assert.ok(lines.includes(want), want);
  assert.ok(!lines.some((l) => l.startsWith('ext_ip=')), 'ext_ip and ext_perform_stun exclude each other');
  // miniupnpd applies the first matching permission rule: allow the LAN, then deny the rest.
  assert.deepEqual(lines.slice(-2), ['allow 1-65535 192.168.50.0/24 1-65535', 'deny 0-65535 0.0.0.0/0 0-65535']);
});

test('the nftables ruleset hooks each chain miniupnpd fills', () => {
  const text = nftablesRuleset();
  assert.match(text, /^table inet filter \{/);
  for (const chain of Object.values(NFT_NAMES).slice(1)) assert.match(text, new RegExp(`chain ${chain} \\{ \\}`));
  assert.match(text, /hook forward priority 0; policy accept; jump miniupnpd;/);
  assert.match(text, /hook prerouting priority -100; policy accept; jump prerouting_miniupnpd;/);
  assert.match(text, /hook postrouting priority 100; policy accept; jump postrouting_miniupnpd;/);
});

// Lines from miniupnpd 2.3.1 -d, as captured here.
const STARTED = [
  'miniupnpd[9858]: STUN: Performing with host=198.51.100.10 and port=3478 ...',
  'miniupnpd[9858]: STUN: ext interface wan0 with IP address 203.0.113.2 is now behind unrestricted full-cone NAT 1:1 with public IP address 203.0.113.2 and firewall does not block incoming connections set by miniunnpd',
  'miniupnpd[9858]: Port forwarding is now enabled',
  'miniupnpd[9858]: HTTP listening on port 5555',
].join('\n');

test('the start-up log: pending, started with its STUN address, or failed with the reason', () => {
  assert.equal(startStatus(STARTED.split('\n').slice(0, 2).join('\n')), null);
  assert.deepEqual(startStatus(STARTED), { ok: true, externalAddress: '203.0.113.2' });
  assert.deepEqual(startStatus('miniupnpd[1]: STUN: Performing STUN failed: timeout\n'), { ok: false, reason: 'STUN: Performing STUN failed: timeout' });
  const restricted = startStatus('miniupnpd[1]: STUN: ext interface wan0 with private IP address 10.0.0.2 is now behind restrictive or symmetric NAT with public IP address 1.2.3.4 which does not support port forwarding\nminiupnpd[1]: HTTP listening on port 5555\n');
  assert.equal(restricted?.ok, false);
  assert.equal(startStatus('miniupnpd[1]: HTTP listening on port 5555\n'), null, 'listening is not enough: forwarding must be on');
});

const runnable = async (): Promise<string | null> => {
  if (!isRoot()) return 'needs root';
  for (const c of ['miniupnpd', 'stund', 'nft']) if ((await sh(null, 'sh', ['-c', `command -v ${c}`])).code !== 0) return `${c} not installed`;
  return null;
};

test('a real miniupnpd: maps from the LAN, lists until 713, restarts empty, and leaves nothing behind', async (t) => {
  const why = await runnable();
  if (why) {
    t.skip(why);
    return;
  }
  const prefix = uniquePrefix('mu');
  const cleanup = new Cleanup();
  const pids: number[] = [];
  let names: string[] = [];
  try {
    const setup = await startMiniupnpd({ prefix }, cleanup);
    assert.ok(setup.ok, setup.ok ? '' : setup.reason);
    const h = setup.harness;
    names = Object.values(h.namespaces);
    assert.equal(h.externalAddress, '203.0.113.2');
    assert.equal(h.control.serviceType, 'urn:schemas-upnp-org:service:WANIPConnection:1');
    const add = { mode: 'add', control: h.control, internalClient: h.clientAddress, firstPort: 40000, count: 12, clients: 2, stepSize: 5, keepAlive: false, deadlineMs: 20_000 } as const;
    const added = await runSoapWorker(h.clientNs, add, 40_000);
    assert.ok(added.ok && added.mode === 'add' && added.added === 12, JSON.stringify(added));
    const rules = await sh(h.namespaces.router, 'nft', ['list', 'chain', 'inet', NFT_NAMES.table, NFT_NAMES.preroutingChain]);
    assert.equal(rules.stdout.match(/dnat ip to 192\.168\.50\.2:400\d\d/g)?.length, 12, rules.stdout);
    const list = { mode: 'list', control: h.control, maxEntries: 100, keepAlive: false, deadlineMs: 20_000 } as const;
    const listed = await runSoapWorker(h.clientNs, list, 40_000);
    assert.deepEqual(listed.ok && listed.mode === 'list' && [listed.entries, listed.end], [12, '713']);

    pids.push(h.pid());
    await h.restart();
    pids.push(h.pid());
    assert.notEqual(pids[0], pids[1]);
    const after = await runSoapWorker(h.clientNs, list, 40_000);
    assert.deepEqual(after.ok && after.mode === 'list' && [after.entries, after.end], [0, '713']);
  } finally {
    await cleanup.run();
  }
  const alive = async (pid: number) => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    return stat !== null && !/\) [ZX] /.test(stat);
  };
  for (const pid of pids) assert.equal(await alive(pid), false, `miniupnpd ${pid} still running`);
  const left = (await sh(null, 'ip', ['netns', 'list'])).stdout;
  for (const n of names) assert.ok(!left.includes(n), `${n} still exists`);
});
