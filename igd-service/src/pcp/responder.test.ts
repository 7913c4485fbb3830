/**
 * PcpResponder's THIRD_PARTY policy over the real mapping service: refused (UNSUPP_OPTION)
 * by default; with allowThirdParty, a LAN host may map another LAN host (the mapping names
 * that host, the requester is the sender), never the gateway itself or a host outside the
 * LAN, and secure mode (clients map only themselves) still refuses it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MappingService } from '../mapping/mapping-service.js';
import type { AccessPolicy } from '../mapping-rules.js';
import { MemoryPortMappingBackend, MemoryMappingStore } from '../testing/index.js';
import { PcpResponder } from './responder.js';
import { pcpResultName } from './wire.js';

const GW = '192.168.1.1';
const HOST = '192.168.1.100';
const OTHER = '192.168.1.101';
const v4 = (a: string): string => `00000000000000000000ffff${a.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')}`;

/** A MAP (TCP 8080 → 8080, 600 s) from HOST with THIRD_PARTY naming `internal` (RFC 6887 Figures 2, 9, 13.1). */
function thirdPartyMap(internal: string): Uint8Array {
  return Uint8Array.from(Buffer.from(`0201000000000258${v4(HOST)}0102030405060708090a0b0c06000000 1f90 1f90 ${v4('0.0.0.0')} 01000010${v4(internal)}`.replace(/\s/g, ''), 'hex'));
}

async function responder(allowThirdParty: boolean, policy: AccessPolicy = {}) {
  const mappings = new MappingService({ policy }, { store: new MemoryMappingStore(), backend: new MemoryPortMappingBackend() });
  await mappings.start();
  const pcp = new PcpResponder(mappings, { lan: '192.168.1.0/24', gatewayAddress: GW, allowThirdParty });
  const ask = async (internal: string): Promise<string> => {
    const answer = await pcp.handle(thirdPartyMap(internal), HOST, 7);
    assert.ok(answer);
    return pcpResultName(answer[3]!);
  };
  return { mappings, pcp, ask };
}

test('THIRD_PARTY off by default: UNSUPP_OPTION, nothing mapped, counted by result', async () => {
  const { mappings, pcp, ask } = await responder(false);
  assert.equal(await ask(OTHER), 'UNSUPP_OPTION');
  assert.equal(mappings.count(), 0);
  assert.deepEqual(pcp.stats().results, { UNSUPP_OPTION: 1 });
});

test('THIRD_PARTY allowed: another LAN host only; not the gateway, not outside the LAN; secure mode refuses', async () => {
  const { mappings, ask } = await responder(true);
  assert.equal(await ask(OTHER), 'SUCCESS');
  const [m] = mappings.list();
  assert.deepEqual([m!.internalClient, m!.requester, m!.origin], [OTHER, HOST, 'pcp']);
  assert.equal(await ask(GW), 'NOT_AUTHORIZED');
  assert.equal(await ask('10.0.0.5'), 'NOT_AUTHORIZED');
  assert.equal(mappings.count(), 1);
  const secure = await responder(true, { clientsMapOnlyThemselves: true });
  assert.equal(await secure.ask(OTHER), 'NOT_AUTHORIZED');
  assert.equal(secure.mappings.count(), 0);
});
