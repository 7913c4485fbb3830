import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readQuickRequest } from './quick-request.js';

const BODY = '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
  + '<u:GetExternalIPAddress xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"/></s:Body></s:Envelope>';

/** The request miniupnpc's soapPostSubmit sends (its header lines, in its order). */
function upnpcRequest(extraHeaders = '', body = BODY, declared = Buffer.byteLength(body)): Buffer {
  return Buffer.from('POST /ctl/IPConn HTTP/1.1\r\nHost: 192.168.1.1:5000\r\nUser-Agent: Debian/12, UPnP/1.1, MiniUPnPc/2.2.4\r\n'
    + `Content-Length: ${declared}\r\nContent-Type: text/xml\r\n`
    + 'SOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:1#GetExternalIPAddress"\r\n'
    + `Connection: close\r\nCache-Control: no-cache\r\nPragma: no-cache\r\n${extraHeaders}\r\n${body}`, 'latin1');
}

test('miniupnpc\'s request is read whole: target, SOAPAction as sent, the body exactly', () => {
  const bytes = upnpcRequest();
  const r = readQuickRequest(bytes);
  assert.ok(r);
  assert.equal(r.target, '/ctl/IPConn');
  assert.equal(r.soapAction, '"urn:schemas-upnp-org:service:WANIPConnection:1#GetExternalIPAddress"');
  assert.equal(Buffer.from(r.body).toString('latin1'), BODY);
});

test('header names in any letter case; the query stays in the target', () => {
  const bytes = Buffer.from(`POST /ctl/IPConn?x=1 HTTP/1.1\r\nhost: a\r\nCONTENT-LENGTH: 2\r\nconnection: Close\r\n\r\nab`, 'latin1');
  assert.deepEqual(readQuickRequest(bytes), { target: '/ctl/IPConn?x=1', soapAction: undefined, body: bytes.subarray(bytes.length - 2) });
});

test('everything not plain goes to node:http (null)', () => {
  const cases: Record<string, Buffer> = {
    'keep-alive (no Connection: close)': Buffer.from(upnpcRequest().toString('latin1').replace('Connection: close\r\n', ''), 'latin1'),
    'GET': Buffer.from('GET /rootDesc.xml HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'),
    'HTTP/1.0': Buffer.from(upnpcRequest().toString('latin1').replace('HTTP/1.1', 'HTTP/1.0'), 'latin1'),
    'no Host': Buffer.from(upnpcRequest().toString('latin1').replace('Host: 192.168.1.1:5000\r\n', ''), 'latin1'),
    'body cut short': upnpcRequest().subarray(0, -5),
    'head cut short': upnpcRequest().subarray(0, 40),
    'bytes after the body (pipelined)': Buffer.concat([upnpcRequest(), Buffer.from('POST')]),
    'chunked': upnpcRequest('Transfer-Encoding: chunked\r\n'),
    'Expect: 100-continue': upnpcRequest('Expect: 100-continue\r\n'),
    'compressed': upnpcRequest('Content-Encoding: gzip\r\n'),
    'two Content-Length': upnpcRequest('Content-Length: 5\r\n'),
    'a Content-Length that is not a number': upnpcRequest('', BODY, -1),
    'a header without a colon': upnpcRequest('NoColon\r\n'),
    'obs-fold': upnpcRequest('X-A: 1\r\n  folded\r\n'),
    'a control character in a value': upnpcRequest('X-A: a\u0001b\r\n'),
    'a bare CR or a vertical tab around a value (only SP and HTAB are optional whitespace)': upnpcRequest('X-A: \ra\r\nX-B: b\u000b\r\n'),
    'a Content-Length ending in a no-break space': Buffer.from(upnpcRequest().toString('latin1').replace(/(Content-Length: \d+)/, '$1\u00a0'), 'latin1'),
    'a space in a header name': upnpcRequest('X A: 1\r\n'),
    'a target that is not a path': Buffer.from(upnpcRequest().toString('latin1').replace('POST /ctl/IPConn', 'POST http://x/ctl/IPConn'), 'latin1'),
    'a bare LF': Buffer.from(upnpcRequest().toString('latin1').replace('Pragma: no-cache\r\n', 'Pragma: no-cache\n'), 'latin1'),
    'empty': Buffer.alloc(0),
  };
  for (const [name, bytes] of Object.entries(cases)) assert.equal(readQuickRequest(bytes), null, name);
});

test('a head longer than 8 KiB goes to node:http', () => {
  assert.equal(readQuickRequest(upnpcRequest(`X-Long: ${'a'.repeat(9000)}\r\n`)), null);
  assert.ok(readQuickRequest(upnpcRequest(`X-Long: ${'a'.repeat(7000)}\r\n`)));
});
