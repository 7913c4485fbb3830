/**
 * N6 end-to-end: for each preset, real RFC 5780 and RFC 3489 clients in a LAN host —
 * coturn's `turnutils_natdiscovery -m -f` against `turnserver` on two addresses, and
 * `stun` (stun-client) against `stund` — report the mapping, filtering and hairpinning
 * the gateway was configured with.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { labUp, labDown } from '@openigd/gateway';
import { uniquePrefix, sh, background, Cleanup, isRoot } from '../lib/ns.js';

const DIR = '/run/openigd-lab';
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

const EXPECT = {
  'full-cone': { mapping: 'Endpoint Independent', filtering: 'Endpoint Independent', stun: /Independent Mapping, Independent Filter, .*will hairpin/ },
  'restricted-cone': { mapping: 'Endpoint Independent', filtering: 'Address Dependent', stun: /Independent Mapping, Address Dependent Filter, .*will hairpin/ },
  'port-restricted-cone': { mapping: 'Endpoint Independent', filtering: 'Address and Port Dependent', stun: /Independent Mapping, Port Dependent Filter, .*will hairpin/ },
  symmetric: { mapping: 'Address and Port Dependent', filtering: 'Address and Port Dependent', stun: /Primary: Dependent Mapping, random port, no hairpin/ },
  rfc: { mapping: 'Endpoint Independent', filtering: 'Address Dependent', stun: /Independent Mapping, Address Dependent Filter, .*will hairpin/ },
} as const;

describe('N6: RFC 5780 / RFC 3489 clients measure the configured behaviour', { skip }, () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  for (const [preset, want] of Object.entries(EXPECT)) {
    test(`preset ${preset}`, async () => {
      const prefix = uniquePrefix('n');
      cleanup.add(() => labDown(prefix, DIR));
      try {
        const lab = await labUp({ prefix, dir: DIR, nat: { preset } });
        const { h1, inet } = lab.namespaces;
        const [s1, s2] = lab.servers as [string, string];
        const turn = background(inet, 'turnserver', ['-n', `--listening-ip=${s1}`, `--listening-ip=${s2}`, '--no-tls', '--no-dtls',
          '--no-cli', '--log-file=stdout', '--simple-log', '--no-tcp-relay']);
        try {
          for (const address of [s1, s2]) await turn.listening('udp', 3478, address);
          const d = await sh(h1, 'turnutils_natdiscovery', ['-m', '-f', s1], 60_000);
          const text = d.stdout + d.stderr;
          assert.match(text, new RegExp(`NAT with ${want.mapping} Mapping!`), text);
          assert.match(text, new RegExp(`NAT with ${want.filtering} Filtering!`), text);
        } finally {
          await turn.stop();
        }
        const stund = background(inet, 'stund', ['-h', s1, '-a', s2]);
        try {
          for (const address of [s1, s2]) for (const port of [3478, 3479]) await stund.listening('udp', port, address);
          const st = await sh(h1, 'stun', [s1], 60_000);
          assert.match(st.stdout + st.stderr, want.stun);
        } finally {
          await stund.stop();
        }
      } finally {
        await labDown(prefix, DIR);
      }
    });
  }
});
