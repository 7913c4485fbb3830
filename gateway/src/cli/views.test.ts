import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statusFixture } from '../testing/index.js';
import { renderCapture, renderFlows, renderLeases, renderMappings, renderStatus } from './views.js';
import type { MappingView } from '../stats.js';

test('flows: like conntrack -L, then which part of how many', () => {
  const text = renderFlows({
    total: 7, offset: 2, flows: [
      { protocol: 'tcp', internal: '192.168.1.100:40000', external: '203.0.113.2:40000', remote: '198.51.100.10:80', expiresInMs: 7_200_000, tcpState: 'established' },
      { protocol: 'icmp', internal: '192.168.1.101:7', external: '203.0.113.2:7', remote: '198.51.100.10:0', expiresInMs: 29_500 },
    ],
  });
  assert.equal(text, [
    'PROTO  INTERNAL             EXTERNAL           REMOTE            STATE        EXPIRES',
    'tcp    192.168.1.100:40000  203.0.113.2:40000  198.51.100.10:80  established  2h00m',
    'icmp   192.168.1.101:7      203.0.113.2:7      198.51.100.10:0   -            30s',
    '(flows 3-4 of 7)',
    '',
  ].join('\n'));
  assert.match(renderFlows({ total: 0, offset: 0, flows: [] }), /\(flows 0 of 0\)\n$/);
});

test('mappings of every origin: lease left (never for a static one), enabled, origin, description', () => {
  const base = { remoteHost: '', leaseSeconds: 0, expiresAtMs: 0, requester: '', expiresAt: null, leaseRemainingSeconds: null } as const;
  const upnp: MappingView = { ...base, externalPort: 18080, protocol: 'TCP', internalPort: 8080, internalClient: '192.168.1.100', enabled: true,
    description: 'cli test', origin: 'admin', leaseSeconds: 600, expiresAtMs: 1, expiresAt: '2026-01-01T00:10:00.000Z', leaseRemainingSeconds: 600 };
  const nat: MappingView = { ...base, externalPort: 5000, protocol: 'UDP', internalPort: 5000, internalClient: '192.168.1.101', enabled: false,
    description: '', origin: 'nat-table', remoteHost: '198.51.100.7' };
  assert.equal(renderMappings([upnp, nat]), [
    'PROTO  EXT-PORT  CLIENT              REMOTE        ENABLED  EXPIRES  ORIGIN     DESCRIPTION',
    'TCP       18080  192.168.1.100:8080  *             yes      10m00s   admin      cli test',
    'UDP        5000  192.168.1.101:5000  198.51.100.7  no       never    nat-table',
    '',
  ].join('\n'));
});

test('leases; captures running and stopped', () => {
  assert.equal(renderLeases([{ mac: '02:00:00:00:00:10', address: '192.168.1.100', expiresInSeconds: 90, offered: false, hostname: 'h1' },
    { mac: '02:00:00:00:00:11', address: '192.168.1.101', expiresInSeconds: 59, offered: true }]), [
    'ADDRESS        MAC                STATE    EXPIRES  HOSTNAME',
    '192.168.1.100  02:00:00:00:00:10  bound    1m30s    h1',
    '192.168.1.101  02:00:00:00:00:11  offered  59s',
    '',
  ].join('\n'));
  assert.equal(renderCapture({ running: true, dir: '/var/cap', files: [{ port: 'lan', path: '/var/cap/lan-1.pcap', frames: 12 }, { port: 'wan', path: '/var/cap/wan-1.pcap', frames: 3 }] }), [
    'capture running (/var/cap)',
    'PORT  FRAMES  FILE',
    'lan       12  /var/cap/lan-1.pcap',
    'wan        3  /var/cap/wan-1.pcap',
    '',
  ].join('\n'));
  assert.equal(renderCapture({ running: false, dir: '/var/cap', files: [] }), 'capture stopped (/var/cap)\n');
});

test('status: addresses, NAT behaviour, counters and only the drop reasons that happened', () => {
  const text = renderStatus(statusFixture());
  assert.match(text, /^lan +192\.168\.1\.1\/24 \(02:00:00:00:00:01\)$/m);
  assert.match(text, /^wan +203\.0\.113\.2\/24 via 203\.0\.113\.1 /m);
  assert.match(text, /^nat +mapping endpoint-independent, filtering address-and-port-dependent, ports preserve, hairpinning on$/m);
  assert.match(text, /^flows +3 \(4 created, 1 expired\)$/m);
  assert.match(text, /^drops +nat-no-mapping 5, not-for-us 1$/m);
  assert.match(text, /^link wan +oi-wan: rx 30 frames 3000 B \(0 dropped\)/m);
});
