/**
 * `node pcp-ask.js SERVER HEX...`: sends each PCP request (hex) in turn from one UDP socket to
 * SERVER:5351 with pcp-client's pcpRequest and prints `answer <hex>` for each, or
 * `timeout` after three tries of one second. For the end-to-end tests, which run it inside a
 * LAN host's namespace (the test process itself lives outside the lab). Exit 0 when every
 * request was answered, 3 otherwise.
 */
import { createSocket } from 'node:dgram';
import { PCP, pcpRequest } from '@openigd/conformance';

const TRIES = 3;
const TRY_MS = 1000;

async function main(server: string, packets: readonly string[]): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, resolve));
  let unanswered = 0;
  try {
    for (const text of packets) {
      let answer: Buffer | undefined;
      for (let i = 0; i < TRIES && answer === undefined; i++) {
        answer = await pcpRequest(socket, { address: server, port: PCP.serverPort }, Buffer.from(text, 'hex'), TRY_MS).catch(() => undefined);
      }
      if (answer === undefined) unanswered++;
      console.log(answer === undefined ? 'timeout' : `answer ${answer.toString('hex')}`);
    }
  } finally {
    socket.close();
  }
  return unanswered === 0 ? 0 : 3;
}

const [server, ...packets] = process.argv.slice(2);
if (server === undefined || packets.length === 0) {
  console.error('usage: pcp-ask.js SERVER HEX...');
  process.exit(2);
}
process.exitCode = await main(server, packets);
