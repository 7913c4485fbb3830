/**
 * HTTP as UDA 1.0 §2–3 use it (HTTP/1.1, RFC 9112 / RFC 9110): Content-Type of every XML
 * answer, 404 for what is not there, persistent connections and `Connection: close`,
 * a chunked request body, and a malformed request answered or dropped without harm.
 */
import { HttpConnection, httpRequestBytes } from '../http-client.js';
import { soapActionHeader, soapEnvelope } from '../soap-client.js';
import { expect, fail, skip, type Trace } from '../registry.js';
import { describeOutcome, type RunContext } from '../context.js';
import { parseSoapResponse } from '../soap-client.js';
import type { Check } from './check.js';

async function open(ctx: RunContext): Promise<HttpConnection> {
  const url = ctx.baseUrl;
  const c = await HttpConnection.open(url.hostname, url.port === '' ? 80 : Number(url.port), ctx.options.timeoutMs);
  if (typeof c === 'string') fail(c);
  return c;
}

function get(ctx: RunContext, path: string, extra: [string, string][] = []): Buffer {
  return httpRequestBytes('GET', path, [['HOST', ctx.baseUrl.host], ...extra]);
}

async function exchange(ctx: RunContext, t: Trace, c: HttpConnection, request: Buffer, label = request.toString('latin1').split('\r\n')[0]!) {
  c.send(request);
  const r = await c.response(ctx.options.timeoutMs);
  t.record(label, typeof r === 'string' ? r : r.head);
  return r;
}

/** The description's path; skips when desc.fetch could not read it (these checks expect it to answer 200). */
function descriptionPath(ctx: RunContext): string {
  if (!ctx.descriptionText) skip('needs desc.fetch');
  return `${ctx.baseUrl.pathname}${ctx.baseUrl.search}`;
}

export const httpChecks: Check[] = [
  {
    info: {
      id: 'http.content-type', group: 'http', severity: 'must', section: 'UDA 1.0 §2.1, §2.3, §3.2.2',
      title: 'the description, the SCPDs and SOAP answers are sent as text/xml',
    },
    async run(ctx, t) {
      if (ctx.contentTypes.length === 0) skip('nothing fetched yet');
      for (const c of ctx.contentTypes) {
        t.record(c.what, `Content-Type: ${c.value ?? '(none)'}`);
        expect(/^text\/xml\s*(;|$)/i.test(c.value ?? ''), `${c.what}: Content-Type ${JSON.stringify(c.value ?? null)}`);
      }
    },
  },
  {
    info: { id: 'http.not-found', group: 'http', severity: 'should', section: 'RFC 9110 §15.5.5', title: 'GET of a path that does not exist gets 404' },
    async run(ctx, t) {
      const c = await open(ctx);
      try {
        const r = await exchange(ctx, t, c, get(ctx, '/openigd-conformance-no-such-path.xml', [['CONNECTION', 'close']]));
        if (typeof r === 'string') fail(r);
        expect(r.status === 404, `status ${r.status}`);
      } finally {
        c.close();
      }
    },
  },
  {
    info: {
      id: 'http.keep-alive', group: 'http', severity: 'should', section: 'RFC 9112 §9.3',
      title: 'two requests on one HTTP/1.1 connection are both answered, or the first answer says Connection: close and the server closes',
    },
    async run(ctx, t) {
      const c = await open(ctx);
      try {
        const first = await exchange(ctx, t, c, get(ctx, descriptionPath(ctx)));
        if (typeof first === 'string') fail(`first request: ${first}`);
        if (/\bclose\b/i.test(first.headers.connection ?? '')) {
          expect(await c.closedWithin(ctx.options.timeoutMs), 'said Connection: close but kept the connection open');
          t.note = 'the server closes after each answer, and says so';
          return;
        }
        const second = await exchange(ctx, t, c, get(ctx, descriptionPath(ctx)));
        if (typeof second === 'string') fail(`the first answer kept the connection open, but the second request got: ${second}`);
        expect(second.status === 200, `second request: status ${second.status}`);
      } finally {
        c.close();
      }
    },
  },
  {
    info: { id: 'http.connection-close', group: 'http', severity: 'must', section: 'RFC 9112 §9.6', title: 'after answering a request with Connection: close the server closes the connection' },
    async run(ctx, t) {
      const c = await open(ctx);
      try {
        const r = await exchange(ctx, t, c, get(ctx, descriptionPath(ctx), [['CONNECTION', 'close']]));
        if (typeof r === 'string') fail(r);
        expect(await c.closedWithin(ctx.options.timeoutMs), `the connection is still open ${ctx.options.timeoutMs} ms after the answer`);
      } finally {
        c.close();
      }
    },
  },
  {
    info: { id: 'http.chunked-request', group: 'http', severity: 'interop', section: 'RFC 9112 §7.1', title: 'a SOAP request with a chunked body is answered like any other' },
    async run(ctx, t) {
      const s = ctx.service('wanIpConnection');
      const url = new URL(s.controlUrl);
      const call = { serviceType: s.serviceType, action: 'GetExternalIPAddress', args: [] };
      const body = Buffer.from(soapEnvelope(call), 'utf8');
      const half = Math.floor(body.length / 2);
      const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
      const chunked = Buffer.concat([chunk(body.subarray(0, half)), chunk(body.subarray(half)), Buffer.from('0\r\n\r\n')]);
      const c = await open(ctx);
      try {
        const r = await exchange(ctx, t, c, httpRequestBytes('POST', `${url.pathname}${url.search}`, [['HOST', url.host], ['CONTENT-TYPE', 'text/xml; charset="utf-8"'],
          ['TRANSFER-ENCODING', 'chunked'], ['SOAPACTION', soapActionHeader(call)], ['CONNECTION', 'close']], chunked), 'POST GetExternalIPAddress, chunked body');
        if (typeof r === 'string') fail(r);
        const o = parseSoapResponse('GetExternalIPAddress', r.status, r.body.toString('utf8'));
        expect(o.ok, `answer: ${describeOutcome(o)}`);
      } finally {
        c.close();
      }
    },
  },
  {
    info: {
      id: 'http.bad-request', group: 'http', severity: 'must', section: 'RFC 9112 §3, §2.2',
      title: 'a malformed request line gets 400 or a closed connection, and the server keeps answering',
    },
    async run(ctx, t) {
      const c = await open(ctx);
      try {
        c.send('THIS IS NOT HTTP\r\n\r\n');
        const r = await c.response(ctx.options.timeoutMs);
        t.record('THIS IS NOT HTTP', typeof r === 'string' ? r : r.head);
        if (typeof r !== 'string') expect(r.status >= 400 && r.status < 500, `status ${r.status}`);
        else expect(/closed/.test(r), `neither an HTTP answer nor a close: ${r}`);
      } finally {
        c.close();
      }
      const again = await open(ctx);
      try {
        const r = await exchange(ctx, t, again, get(ctx, descriptionPath(ctx), [['CONNECTION', 'close']]));
        if (typeof r === 'string') fail(`after the bad request: ${r}`);
        expect(r.status === 200, `after the bad request: status ${r.status}`);
      } finally {
        again.close();
      }
    },
  },
];
