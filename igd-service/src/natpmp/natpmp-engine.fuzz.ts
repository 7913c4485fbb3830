/**
 * The fuzz property of the NAT-PMP engine, run by the suite (test/fuzz) and by `npm run
 * fuzz`: random, truncated and oversized datagrams, and NAT-PMP-shaped ones (version 0, a
 * low opcode, lengths around the right ones). Each gets a right answer (version 0, the
 * response bit, a known result code, the length of its opcode) or a counted drop; none
 * makes the engine throw. `seen.answered` counts the answers (natpmp-engine.test.ts
 * checks the generator reaches them).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NatPmpEngine } from './natpmp-engine.js';
import { MappingService } from '../mapping/mapping-service.js';
import { MemoryPortMappingBackend } from '../testing/memory-backend.js';
import { ManualClock, MemoryMappingStore } from '../testing/test-support.js';

const HOST = '192.168.1.10';
export const seen = { answered: 0 };

async function engine(): Promise<NatPmpEngine> {
  const clock = new ManualClock();
  const backend = new MemoryPortMappingBackend({ externalAddress: '203.0.113.7' });
  const service = new MappingService({ policy: {} }, { store: new MemoryMappingStore(), backend, now: clock.now });
  await service.start();
  return new NatPmpEngine({ lan: '192.168.1.0/24' }, { mappings: service, monotonicNow: () => 5_000 });
}

const datagram = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 20 }),
  fc.uint8Array({ minLength: 0, maxLength: 1200 }),
  // NAT-PMP-shaped: version 0 and a low opcode, any length around the right ones.
  fc.tuple(fc.constantFrom(0, 1, 2, 255), fc.nat(255), fc.uint8Array({ minLength: 0, maxLength: 14 }))
    .map(([v, op, rest]) => Uint8Array.from([v, op, ...rest])),
);

const dropCount = (e: NatPmpEngine): number => Object.values(e.stats().drops).reduce((a, b) => a + b, 0);

export const FUZZ = {
  'natpmp: random, truncated and oversized datagrams': () => {
    let made: Promise<NatPmpEngine> | undefined;
    return fc.asyncProperty(datagram, async (d) => {
      const e = await (made ??= engine());
      const dropsBefore = dropCount(e);
      const answer = await e.handle(d, HOST);
      if (answer === undefined) {
        assert.equal(dropCount(e), dropsBefore + 1, 'a silent answer is a counted drop');
        return;
      }
      seen.answered++;
      assert.equal(answer[0], 0, 'answers are NAT-PMP version 0');
      assert.ok(answer[1]! >= 128, 'with the response bit');
      const result = (answer[2]! << 8) | answer[3]!;
      assert.ok(result <= 5, `result ${result}`);
      if (d.length >= 2 && d[0] !== 0) assert.equal(result, 1);
      else if (d[1] === 1 || d[1] === 2) assert.equal(answer.length, 16);
      else if (d[1] === 0) assert.equal(answer.length, 12);
      else assert.equal(result, 5);
    });
  },
};
