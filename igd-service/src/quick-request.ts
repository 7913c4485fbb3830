/**
 * Reads the commonest control request whole from the first bytes of a connection, so
 * that the IGD can answer it without node:http's per-connection machinery: one HTTP/1.1
 * POST with a Content-Length body, `Connection: close`, head and body complete in the
 * bytes given and nothing after them (what upnpc and most control points send, one
 * request per connection). Anything else — another method or version, chunked or
 * compressed bodies, `Expect`, a missing Host, a repeated header the answer depends on,
 * a request cut short or followed by more bytes, a header node:http would refuse — is
 * `null`: the connection then goes to node:http with the bytes untouched, which answers
 * it as it always did. So this reader only ever decides what is plain, and never what
 * is an error.
 *
 * Must not: throw, accept what node:http would refuse, or read past `bytes`.
 */

/** The parts of a quick request the control route needs. */
export interface QuickRequest {
  /** The request target as sent (path and query). */
  readonly target: string;
  readonly soapAction: string | undefined;
  readonly body: Uint8Array;
}

/** Longest head (request line and headers) read here; node:http takes longer ones (16 KiB by default). */
const MAX_HEAD = 8192;
const MAX_HEADERS = 64;
const CRLF_CRLF = Buffer.from('\r\n\r\n', 'latin1');
/** The request line taken here: POST, a target in origin form, HTTP/1.1. */
const REQUEST_LINE = /POST (\/[!-~]*) HTTP\/1\.1\r\n/y;
/**
 * One header line: its name a token (RFC 9110 §5.6.2), a colon, its value without the
 * optional whitespace around it (SP and HTAB, RFC 9110 §5.6.3) and without control
 * characters other than tab (§5.5), as llhttp accepts it strictly; CRLF.
 */
const HEADER_LINE = /([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[\t\x20-\x7e\x80-\xff]*[!-~\x80-\xff])?)[ \t]*\r\n/y;
/** Headers that send a request to node:http whatever their value. */
const NOT_QUICK = new Set(['transfer-encoding', 'expect', 'content-encoding', 'upgrade']);

/** Where the head ends (index of the first byte after CRLF CRLF), or -1 when it does not end within MAX_HEAD. */
function headEnd(bytes: Uint8Array): number {
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, MAX_HEAD)).indexOf(CRLF_CRLF);
  return at < 0 ? -1 : at + CRLF_CRLF.length;
}

/** The request, when `bytes` hold exactly one plain control request (see above); else null. */
export function readQuickRequest(bytes: Uint8Array): QuickRequest | null {
  const end = headEnd(bytes);
  if (end < 0) return null;
  // The head with its last line's CRLF, so that every line ends in one.
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, end - 2).toString('latin1');
  REQUEST_LINE.lastIndex = 0;
  const requestLine = REQUEST_LINE.exec(head);
  if (requestLine === null) return null;
  const seen = new Map<string, string>();
  HEADER_LINE.lastIndex = REQUEST_LINE.lastIndex;
  while (HEADER_LINE.lastIndex < head.length) {
    const header = HEADER_LINE.exec(head);
    if (header === null || seen.size === MAX_HEADERS) return null;
    const key = header[1]!.toLowerCase();
    if (NOT_QUICK.has(key) || seen.has(key)) return null;
    seen.set(key, header[2]!);
  }
  const length = seen.get('content-length');
  if (!seen.has('host') || seen.get('connection')?.toLowerCase() !== 'close' || length === undefined || !/^\d{1,7}$/.test(length)) return null;
  if (end + Number(length) !== bytes.length) return null;
  return { target: requestLine[1]!, soapAction: seen.get('soapaction'), body: bytes.subarray(end) };
}
