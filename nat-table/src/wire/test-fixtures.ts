/**
 * Byte-exact frames shared by the wire tests (and the translation tests). They were
 * built by an independent script (Python `struct`, RFC 1071 checksum), not by this
 * package, and `wire-fixtures.test.ts` re-verifies every checksum with `naiveChecksum`
 * below, which shares no code with the views. Test support only: no logic of the views.
 * Hosts: 192.168.1.100 (LAN), 198.51.100.10 (internet), 192.168.1.1 (gateway);
 * MACs 02:00:00:00:00:01 (gateway LAN), :02 (LAN host), :0a (the gateway in ARP).
 */
export const FIXTURE = {
  /** UDP 12345 → 53, payload "hello", DF, TTL 64, id 0x1234. */
  udp: '0200000000010200000000020800450000211234400040113c4ec0a80164c633640a30390035000d9f4968656c6c6f',
  /** The same with UDP checksum 0 (none). */
  udpNoChecksum: '0200000000010200000000020800450000211234400040113c4ec0a80164c633640a30390035000d000068656c6c6f',
  /** TCP SYN 40000 → 80, seq 0x01020304, window 64240, MSS/SACK-permitted/TS/WS options (data offset 40). */
  tcpSyn: '02000000000102000000000208004500003c1234400040063c3ec0a80164c633640a9c4000500102030400000000a002faf0c02d0000020405b40402080a000000010000000001030307',
  /** TCP PSH|ACK 40000 → 80, seq 0x01020305, ack 0xa0b0c0d0, window 502, 7 bytes "GET /\r\n" (odd length). */
  tcpPsh: '02000000000102000000000208004500002f1234400040063c4bc0a80164c633640a9c40005001020305a0b0c0d0501801f6eaf90000474554202f0d0a',
  /** The UDP frame with an 802.1Q tag, VLAN 100. */
  vlanUdp: '020000000001020000000002810000640800450000211234400040113c4ec0a80164c633640a30390035000d9f4968656c6c6f',
  /** IPv4 with a 4-byte Router Alert option (IHL 6), UDP 1 → 2, no payload. */
  ipOptions: '020000000001020000000002080046000020123440004011a74ac0a80164c633640a940400000001000200081391',
  /** A first fragment (MF set, offset 0) of UDP, 16 bytes of zeros. */
  fragment: '0200000000010200000000020800450000241234200040115c4bc0a80164c633640a00000000000000000000000000000000',
  /** A last fragment: MF clear, offset 185 units (1480 bytes), 8 bytes of zeros, DF clear. */
  lastFragment: '02000000000102000000000208004500001c123400b940117b9ac0a80164c633640a0000000000000000',
  /** ICMP echo request .100 → .10, id 0x1a2b, seq 1, data "abcdefgh". */
  echo: '0200000000010200000000020800450000241234400040013c5bc0a80164c633640a08004c3e1a2b00016162636465666768',
  /** Its echo reply .10 → .100: IP header of the request with addresses swapped, MACs swapped. */
  echoReply: '0200000000020200000000010800450000241234400040013c5bc633640ac0a801640000543e1a2b00016162636465666768',
  /** ICMP port unreachable from .100 to .10 quoting the UDP 53 → 12345 packet it got from .10 (28 bytes quoted). */
  portUnreachable: '0200000000010200000000020800450000384321400040010b5ac0a80164c633640a03032d3800000000450000211234400040113c4ec633640ac0a8016400353039000d9f49',
  /** ARP who-has 192.168.1.1 tell 192.168.1.100 (02:00:00:00:00:02), unpadded. */
  arpRequest: 'ffffffffffff02000000000208060001080006040001020000000002c0a80164000000000000c0a80101',
  /** ARP 192.168.1.1 is-at 02:00:00:00:00:0a, to .100; padded to 60 bytes as on the wire. */
  arpReply: '02000000000202000000000a0806000108000604000202000000000ac0a80101020000000002c0a80164000000000000000000000000000000000000',
} as const;

export function hex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Dotted quad → number, for tests only (shares no code with `parseIpv4`). */
export const ip = (s: string): number => s.split('.').reduce((a, p) => a * 256 + Number(p), 0);

/**
 * RFC 1071 checksum written the plain way, independent of checksum.ts: the sum of
 * 16-bit words of `bytes` (odd byte padded) plus `extra`, folded, complemented.
 */
export function naiveChecksum(bytes: ArrayLike<number>, extra = 0): number {
  let s = extra;
  for (let i = 0; i < bytes.length; i += 2) s += bytes[i]! * 256 + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return 0xffff - s;
}

/** Copies `bytes` to `at` inside a larger buffer of junk, returned as a subarray with a nonzero byteOffset. */
export function embed(bytes: Uint8Array, at = 5, junk = 0xa5): { buf: Uint8Array; offset: number } {
  const big = new Uint8Array(bytes.length + at + 16).fill(junk);
  big.set(bytes, at + 3);
  return { buf: big.subarray(3), offset: at };
}
