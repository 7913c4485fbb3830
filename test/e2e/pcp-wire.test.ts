/**
 * PCP on the wire without a lab: the test client of test/lib/pcp-client.ts (written from
 * RFC 6887's figures) against hand-laid fixtures; that client driving our engine through
 * MAP, PEER, ANNOUNCE, THIRD_PARTY, PREFER_FAILURE, FILTER and errors; `pcpRequest` over
 * loopback; and tshark's PCP dissector reading every packet of the exchange without a
 * malformed-packet warning (skipped without tshark). Needs no root and no namespaces.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PCP_DEFAULT_POLICY, answerPcp, encodePcpAnnounce } from '@openigd/igd-service';
import type {
  PcpExistingMapping, PcpMappingKey, PcpMappingTable, PcpPolicy, PcpTableMapRequest, PcpTablePeerEnd, PcpTablePeerRequest, PcpTableResult,
} from '@openigd/igd-service';
import { PCP, decodeClientResponse, encodeClientRequest, pcpRequest } from '@openigd/conformance';
import type { ClientMapFields, ClientRequest, ClientResponse } from '@openigd/conformance';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]+/g, ''), 'hex');
const HOST = '192.168.1.100';
const EXTERNAL = '203.0.113.2';
const NONCE_A = Uint8Array.from(hex('a1a2a3a4 a5a6a7a8 a9aaabac'));
const NONCE_B = Uint8Array.from(hex('b1b2b3b4 b5b6b7b8 b9babbbc'));

// ---- the client against hand-laid bytes (RFC 6887 Figures 2, 9, 11, 13–15) -----------------

test('client: a MAP request with PREFER_FAILURE and FILTER, byte-exact', () => {
  const packet = encodeClientRequest({
    opcode: 'map', lifetime: 7200, clientIp: HOST,
    map: { nonce: NONCE_A, protocol: 17, internalPort: 51413, externalPort: 51413, externalIp: '' },
    options: [{ kind: 'prefer-failure' }, { kind: 'filter', prefixLength: 120, remotePort: 0, remoteIp: '198.51.100.0' }],
  });
  assert.equal(packet.toString('hex'), hex(
    '02 01 0000' + //                              version 2, R 0, opcode 1 (MAP), reserved
    '00001c20' + //                                requested lifetime 7200
    '00000000 00000000 0000ffff c0a80164' + //     client 192.168.1.100
    'a1a2a3a4 a5a6a7a8 a9aaabac' + //              mapping nonce
    '11 000000' + //                               protocol 17, reserved
    'c8d5 c8d5' + //                               internal port 51413, suggested external port 51413
    '00000000 00000000 0000ffff 00000000' + //     suggested external address: IPv4 any
    '02 00 0000' + //                              PREFER_FAILURE, no data
    '03 00 0014 | 00 78 0000' + //                 FILTER, 20 octets: reserved, prefix /120, any port
    '00000000 00000000 0000ffff c6336400', //      198.51.100.0
  ).toString('hex'));
});

test('client: PEER and ANNOUNCE requests, byte-exact; THIRD_PARTY and a raw option padded', () => {
  const peer = encodeClientRequest({
    opcode: 'peer', lifetime: 120, clientIp: '2001:db8::5',
    map: { nonce: NONCE_B, protocol: 6, internalPort: 443, externalPort: 0, externalIp: '' },
    remotePort: 8443, remoteIp: '2001:db8:0:1::9',
    options: [{ kind: 'third-party', internalIp: '2001:db8::6' }, { kind: 'raw', code: 0x80, data: Uint8Array.of(1, 2, 3) }],
  });
  assert.equal(peer.toString('hex'), hex(
    '02 02 0000 | 00000078 | 20010db8 00000000 00000000 00000005' +
    'b1b2b3b4 b5b6b7b8 b9babbbc | 06 000000 | 01bb 0000 | 00000000 00000000 0000ffff 00000000' +
    '20fb 0000 | 20010db8 00000001 00000000 00000009' +
    '01 00 0010 | 20010db8 00000000 00000000 00000006' +
    '80 00 0003 | 010203 00',
  ).toString('hex'));
  assert.equal(encodeClientRequest({ opcode: 'announce', lifetime: 0, clientIp: HOST }).toString('hex'),
    hex('02 00 0000 | 00000000 | 00000000 00000000 0000ffff c0a80164').toString('hex'));
});

test('client: decodes a MAP response laid out by hand (Figure 3 + Figure 10)', () => {
  const r = decodeClientResponse(hex(
    '02 81 00 00 | 00001c20 | 0000002a | 00000000 00000000 00000000' +
    'a1a2a3a4 a5a6a7a8 a9aaabac | 11 000000 | c8d5 c8d6 | 00000000 00000000 0000ffff cb007102 | 02 00 0000'));
  assert.deepEqual(
    [r.version, r.opcode, r.resultText, r.lifetime, r.epoch, r.map?.protocol, r.map?.internalPort, r.map?.externalPort, r.map?.externalIp],
    [2, 1, 'SUCCESS', 7200, 42, 17, 51413, 51414, EXTERNAL]);
  assert.deepEqual(r.options, [{ code: 2, data: new Uint8Array(0) }]);
  assert.throws(() => decodeClientResponse(hex('02 01 0000 00001c20 0000002a 00000000 00000000 00000000')), /R bit/);
  assert.throws(() => decodeClientResponse(hex('02 81 0000 00001c20 0000002a 00000000 00000000 00000000 01020304')), /too short/);
});

// ---- the client drives the engine ------------------------------------------------------

/** Map-backed table for the engine: suggestions honoured when free, else the first free port from 40000. */
class ConversationTable implements PcpMappingTable {
  readonly held = new Map<string, { h: PcpExistingMapping; key: PcpMappingKey }>();
  private id = (k: PcpMappingKey): string => `${k.protocol}/${k.internalAddress}/${k.internalPort}`;
  externalAddress(): string { return EXTERNAL; }
  find(key: PcpMappingKey): PcpExistingMapping | undefined { return this.held.get(this.id(key))?.h; }
  private free(protocol: number, port: number, self: string): boolean {
    return ![...this.held].some(([id, m]) => id !== self && m.key.protocol === protocol && m.h.externalPort === port);
  }
  map(r: PcpTableMapRequest): PcpTableResult {
    const id = this.id(r.key);
    let port = r.suggestedExternalPort;
    if (port === 0 || !this.free(r.key.protocol, port, id)) {
      if (r.exactPort) return { ok: false, reason: 'cannot-provide-external' };
      for (port = 40000; !this.free(r.key.protocol, port, id); port++);
    }
    const h = { origin: 'pcp' as const, nonce: r.nonce, externalAddress: EXTERNAL, externalPort: port, remainingSeconds: r.lifetimeSeconds, filters: r.filters };
    this.held.set(id, { h, key: r.key });
    return { ok: true, externalAddress: EXTERNAL, externalPort: port, lifetimeSeconds: r.lifetimeSeconds };
  }
  unmap(key: PcpMappingKey): { ok: true } {
    this.held.delete(this.id(key));
    return { ok: true };
  }
  peer(r: PcpTablePeerRequest): PcpTableResult {
    return { ok: true, externalAddress: EXTERNAL, externalPort: 50000, lifetimeSeconds: r.lifetimeSeconds };
  }
  /** A table that can make PEER flows can end them too (lifetime 0); the engine needs both. */
  endPeer(): PcpTablePeerEnd {
    return { ok: true, flow: { externalAddress: EXTERNAL, externalPort: 50000 } };
  }
}

/** Every request and reply of the conversation, for tshark. */
const exchanged: { from: string; to: string; sport: number; dport: number; bytes: Uint8Array; odd?: boolean }[] = [];
/** Set while asking what tshark rightly warns about (an unknown opcode or option). */
let odd = false;

async function ask(table: PcpMappingTable, request: ClientRequest | Buffer, policy: Partial<PcpPolicy> = {}, source = HOST): Promise<ClientResponse> {
  const packet = Buffer.isBuffer(request) ? request : encodeClientRequest(request);
  const out = await answerPcp(packet, { sourceAddress: source, epochSeconds: 300, table, policy: { ...PCP_DEFAULT_POLICY, ...policy } });
  assert.equal(out.kind, 'reply');
  const bytes = (out as { bytes: Uint8Array }).bytes;
  exchanged.push({ from: source, to: '192.168.1.1', sport: 40001, dport: PCP.serverPort, bytes: packet, odd });
  exchanged.push({ from: '192.168.1.1', to: source, sport: PCP.serverPort, dport: 40001, bytes, odd });
  const r = decodeClientResponse(bytes);
  assert.equal(r.version, 2);
  assert.equal(r.opcode, packet[1]);
  assert.equal(r.epoch, 300);
  return r;
}

const udp = (over: Partial<ClientMapFields> = {}): ClientMapFields =>
  ({ nonce: NONCE_A, protocol: 17, internalPort: 51413, externalPort: 51413, externalIp: '', ...over });

test('conversation: ANNOUNCE, then MAP new, renew, a second nonce refused, delete', async () => {
  const t = new ConversationTable();
  const announce = await ask(t, { opcode: 'announce', lifetime: 0, clientIp: HOST });
  assert.deepEqual([announce.resultText, announce.lifetime], ['SUCCESS', 0]);
  const created = await ask(t, { opcode: 'map', lifetime: 7200, clientIp: HOST, map: udp() });
  assert.deepEqual([created.resultText, created.lifetime, created.map?.externalPort, created.map?.externalIp], ['SUCCESS', 7200, 51413, EXTERNAL]);
  assert.deepEqual(created.map?.nonce, NONCE_A);
  const renewed = await ask(t, { opcode: 'map', lifetime: 3600, clientIp: HOST, map: udp({ externalPort: 51413, externalIp: EXTERNAL }) });
  assert.deepEqual([renewed.resultText, renewed.lifetime, renewed.map?.externalPort], ['SUCCESS', 3600, 51413]);
  const stolen = await ask(t, { opcode: 'map', lifetime: 3600, clientIp: HOST, map: udp({ nonce: NONCE_B }) });
  assert.deepEqual([stolen.resultText, stolen.lifetime], ['NOT_AUTHORIZED', 3600]);
  const deleted = await ask(t, { opcode: 'map', lifetime: 0, clientIp: HOST, map: udp() });
  assert.deepEqual([deleted.resultText, deleted.lifetime], ['SUCCESS', 0]);
  assert.equal(t.held.size, 0);
});

test('conversation: PREFER_FAILURE on a taken port, FILTER echoed, PEER, THIRD_PARTY off and on', async () => {
  const t = new ConversationTable();
  await ask(t, { opcode: 'map', lifetime: 600, clientIp: '192.168.1.101', map: udp({ protocol: 6, internalPort: 80, externalPort: 8080, nonce: NONCE_B }) }, {}, '192.168.1.101');
  const insist = await ask(t, { opcode: 'map', lifetime: 600, clientIp: HOST, map: udp({ protocol: 6, internalPort: 8080, externalPort: 8080 }), options: [{ kind: 'prefer-failure' }] });
  assert.deepEqual([insist.resultText, insist.lifetime], ['CANNOT_PROVIDE_EXTERNAL', 30]);
  const hint = await ask(t, { opcode: 'map', lifetime: 600, clientIp: HOST, map: udp({ protocol: 6, internalPort: 8080, externalPort: 8080 }) });
  assert.deepEqual([hint.resultText, hint.map?.externalPort], ['SUCCESS', 40000]);
  const filtered = await ask(t, {
    opcode: 'map', lifetime: 600, clientIp: HOST, map: udp(),
    options: [{ kind: 'filter', prefixLength: 128, remotePort: 6881, remoteIp: '198.51.100.7' }, { kind: 'filter', prefixLength: 120, remotePort: 0, remoteIp: '198.51.100.0' }],
  });
  assert.equal(filtered.resultText, 'SUCCESS');
  assert.deepEqual(filtered.options.map((o) => [o.code, o.data.length]), [[3, 20], [3, 20]]);
  const peer = await ask(t, { opcode: 'peer', lifetime: 300, clientIp: HOST, map: udp({ internalPort: 5000, externalPort: 0 }), remotePort: 3333, remoteIp: '198.51.100.16' });
  assert.deepEqual([peer.resultText, peer.map?.externalPort, peer.remotePort, peer.remoteIp], ['SUCCESS', 50000, 3333, '198.51.100.16']);
  const thirdParty: ClientRequest = { opcode: 'map', lifetime: 600, clientIp: HOST, map: udp({ internalPort: 9000, externalPort: 0 }), options: [{ kind: 'third-party', internalIp: '192.168.1.102' }] };
  assert.equal((await ask(t, thirdParty)).resultText, 'UNSUPP_OPTION');
  const allowed = await ask(t, thirdParty, { thirdPartyEnabled: true, allowThirdParty: () => true });
  assert.deepEqual([allowed.resultText, allowed.options.map((o) => o.code)], ['SUCCESS', [1]]);
});

test('conversation: errors come back with the whole request echoed', async () => {
  const t = new ConversationTable();
  const mismatch = await ask(t, { opcode: 'map', lifetime: 600, clientIp: '10.9.9.9', map: udp() });
  assert.deepEqual([mismatch.resultText, mismatch.map?.externalPort, mismatch.map?.nonce], ['ADDRESS_MISMATCH', 51413, NONCE_A]);
  odd = true;
  const unknownOption = await ask(t, { opcode: 'map', lifetime: 600, clientIp: HOST, map: udp(), options: [{ kind: 'raw', code: 0x70, data: Uint8Array.of(9, 9, 9, 9) }] });
  assert.deepEqual([unknownOption.resultText, unknownOption.options.map((o) => o.code)], ['UNSUPP_OPTION', [0x70]]);
  const opcode = encodeClientRequest({ opcode: 'announce', lifetime: 0, clientIp: HOST });
  opcode[1] = 9;
  assert.equal((await ask(t, opcode)).resultText, 'UNSUPP_OPCODE');
  odd = false;
  const version = encodeClientRequest({ opcode: 'announce', lifetime: 0, clientIp: HOST });
  version[0] = 3;
  const v = await ask(t, version);
  assert.deepEqual([v.resultText, v.version], ['UNSUPP_VERSION', 2]);
  assert.equal(t.held.size, 0);
});

// ---- over loopback ---------------------------------------------------------------------

test('pcpRequest: one MAP over UDP on loopback to a server answering with the engine', async () => {
  const table = new ConversationTable();
  const server = createSocket('udp4');
  const client = createSocket('udp4');
  after(() => { server.close(); client.close(); });
  server.on('message', (msg, rinfo) => {
    void answerPcp(msg, { sourceAddress: rinfo.address, epochSeconds: 9, table, policy: PCP_DEFAULT_POLICY }).then((out) => {
      if (out.kind === 'reply') server.send(out.bytes, rinfo.port, rinfo.address);
    });
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const packet = encodeClientRequest({ opcode: 'map', lifetime: 600, clientIp: '127.0.0.1', map: udp() });
  const r = decodeClientResponse(await pcpRequest(client, { address: '127.0.0.1', port }, packet, 2000));
  assert.deepEqual([r.resultText, r.map?.externalPort, r.epoch], ['SUCCESS', 51413, 9]);
  const silent = Buffer.from(packet);
  silent[1] |= 0x80; // a response: the server drops it
  await assert.rejects(pcpRequest(client, { address: '127.0.0.1', port }, silent, 200), /no answer/);
});

// ---- tshark reads it all -----------------------------------------------------------------

function ipv4Bytes(a: string): number[] {
  return a.split('.').map(Number);
}

/** One Ethernet/IPv4/UDP frame carrying `payload` (UDP checksum 0: none). */
function frame(p: { from: string; to: string; sport: number; dport: number; bytes: Uint8Array }): Buffer {
  const udpLength = 8 + p.bytes.length;
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + udpLength, 2);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  Buffer.from(ipv4Bytes(p.from)).copy(ip, 12);
  Buffer.from(ipv4Bytes(p.to)).copy(ip, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  const u = Buffer.alloc(8);
  u.writeUInt16BE(p.sport, 0);
  u.writeUInt16BE(p.dport, 2);
  u.writeUInt16BE(udpLength, 4);
  const eth = hex('020000000002 020000000001 0800');
  return Buffer.concat([eth, ip, u, Buffer.from(p.bytes)]);
}

function pcap(frames: Buffer[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const records = frames.map((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(1_700_000_000 + i, 0);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  return Buffer.concat([head, ...records]);
}

const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
const noTshark = tshark.status !== 0 ? 'tshark is not installed' : false;

test('tshark decodes every request and response of the conversation as PCP, none malformed', { skip: noTshark }, () => {
  assert.ok(exchanged.length >= 30, `the conversation ran first (${exchanged.length} packets)`);
  const all = [...exchanged, { from: '192.168.1.1', to: '224.0.0.1', sport: PCP.serverPort, dport: PCP.clientPort, bytes: encodePcpAnnounce(0) }];
  const dir = mkdtempSync(join(tmpdir(), 'oi-pcp-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'pcp.pcap');
  writeFileSync(file, pcap(all.map(frame)));
  const run = (...args: string[]): string => {
    const r = spawnSync('tshark', ['-r', file, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  assert.equal(run('-Y', '_ws.malformed').trim(), '', 'no malformed packet');
  // tshark warns of an unknown opcode or option: only where we sent one on purpose.
  const warned = run('-Y', '_ws.expert.severity >= "warning"', '-T', 'fields', '-e', 'frame.number').trim().split('\n').map(Number);
  assert.deepEqual(warned, all.flatMap((p, i) => (p.odd ? [i + 1] : [])));
  const lines = run('-T', 'fields', '-e', 'frame.number', '-e', 'portcontrol.version', '-e', 'portcontrol.opcode', '-e', 'portcontrol.result_code')
    .trim().split('\n');
  assert.equal(lines.length, all.length);
  lines.forEach((line, i) => {
    const [, version, opcode, result] = line.split('\t');
    if (all[i].bytes[0] !== 2) return; // the version-3 request: not PCP as tshark knows it
    assert.equal(version, '2', `frame ${i + 1} is PCP: ${line}`);
    assert.equal(Number(opcode) & 0x7f, all[i].bytes[1] & 0x7f, `frame ${i + 1} opcode`);
    if (all[i].bytes[1] & 0x80) assert.equal(Number(result), all[i].bytes[3], `frame ${i + 1} result`);
  });
});
