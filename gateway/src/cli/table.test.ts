import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duration, renderFields, renderTable } from './table.js';

test('a table: upper-case header, columns two spaces apart, numbers right-aligned, no trailing blanks', () => {
  const rows = [{ p: 'tcp', n: 8080, d: 'web' }, { p: 'udp', n: 53, d: '' }];
  const text = renderTable([{ title: 'proto', cell: (r: typeof rows[0]) => r.p }, { title: 'port', cell: (r) => r.n }, { title: 'what', cell: (r) => r.d }], rows);
  assert.equal(text, [
    'PROTO  PORT  WHAT',
    'tcp    8080  web',
    'udp      53',
    '',
  ].join('\n'));
});

test('a table without rows is its header', () => {
  assert.equal(renderTable([{ title: 'a', cell: () => 1 }, { title: 'bb', cell: () => 2 }], []), 'A  BB\n');
});

test('fields: keys padded to the longest', () => {
  assert.equal(renderFields([['lan', '192.168.1.1/24'], ['dhcp leases', 2], ['on', true]]), 'lan          192.168.1.1/24\ndhcp leases  2\non           true\n');
});

test('durations: seconds, minutes, hours, days; never negative', () => {
  assert.deepEqual([0, 45.4, 60, 723, 3600, 7500, 86_400 * 3 + 3600 * 4 + 5, -3].map(duration),
    ['0s', '45s', '1m00s', '12m03s', '1h00m', '2h05m', '3d04h', '0s']);
});
