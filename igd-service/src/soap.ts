/**
 * SOAP 1.1 as UPnP uses it (UDA 1.0 §3.2): parse a control request, build a response or the
 * exact UPnP fault, and write either with the headers UPnP clients expect.
 *
 *   request   SOAPACTION `"serviceType#action"` (quoted or not) + an Envelope in the SOAP
 *             namespace under any prefix, holding Body → one action element whose namespace is
 *             the service type → argument elements (any order, any or no prefix) holding text.
 *             Parsed with saxes; any DTD (`<!DOCTYPE`, `<!ENTITY`, found in the raw text or by
 *             the parser) or undeclared entity is refused, never expanded. A bare `&` or `<`
 *             that cannot start markup (miniupnpc's `upnpc -e "Tom & Jerry"` sends the
 *             description unescaped) is read as the character itself: `repairBareMarkup`.
 *   response  200, `<u:ActionResponse xmlns:u="serviceType">` with the out arguments in order;
 *             an argument whose value is an XML document (GetListOfPortMappings' listing) is
 *             written as a CDATA section: the same string to any XML parser, and the only form
 *             miniupnpc reads (it takes the element's raw text without decoding entities).
 *   fault     500, s:Fault / faultcode s:Client / faultstring UPnPError / detail → UPnPError
 *             (control-1-0 namespace) → errorCode, errorDescription.
 *
 * Must not: throw on any body (malformed input is a `malformed` result: HTTP 400), expand an
 * entity, or write Content-Type through Express (res.type() drops the quotes around utf-8).
 */
import type { ServerResponse } from 'node:http';
import { SaxesParser } from 'saxes';
import { SOAP_ENCODING_STYLE, SOAP_ENVELOPE_NAMESPACE, UPNP_CONTROL_NAMESPACE } from './declaration.js';
import type { UpnpError } from './faults.js';

/** The Content-Type of every UPnP XML answer, quotes included (UDA 1.0 §3.2.1). */
export const UPNP_XML_CONTENT_TYPE = 'text/xml; charset="utf-8"';

/** A parsed control request. Argument texts are as sent (entities decoded, nothing trimmed). */
export interface SoapRequest {
  readonly serviceType: string;
  readonly actionName: string;
  readonly args: ReadonlyMap<string, string>;
  /** Arguments that appeared more than once or held elements instead of text. */
  readonly badArgs: readonly string[];
}

export type SoapParseResult =
  | { readonly ok: true; readonly request: SoapRequest }
  /** Not a well-formed SOAP envelope: answer HTTP 400. */
  | { readonly ok: false; readonly kind: 'malformed'; readonly reason: string }
  /** A SOAP request, but SOAPACTION is missing or disagrees with the body: fault 401. */
  | { readonly ok: false; readonly kind: 'invalid-action'; readonly reason: string };

/** `serviceType#action` from a SOAPACTION header, quoted or not; undefined when malformed. */
export function parseSoapActionHeader(header: string | undefined): { serviceType: string; actionName: string } | undefined {
  if (header === undefined) return undefined;
  let text = header.trim();
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1).trim();
  const hash = text.lastIndexOf('#');
  if (hash <= 0 || hash === text.length - 1) return undefined;
  return { serviceType: text.slice(0, hash), actionName: text.slice(hash + 1) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const DTD_MARKERS = /<!DOCTYPE|<!ENTITY/i;

function malformed(reason: string): SoapParseResult {
  return { ok: false, kind: 'malformed', reason };
}

/** A character reference or a named entity reference, at `lastIndex`. */
const REFERENCE = /&(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z_:][A-Za-z0-9._:-]*);/y;
/** What may follow `<` in markup: a name (ASCII or not), an end tag, `<!…`, `<?…`. */
const MARKUP_START = /[A-Za-z_:/!?\u0080-\uffff]/;
/** Skipped whole: their text is literal, `&` and `<` included. */
const VERBATIM: readonly (readonly [string, string])[] = [['<![CDATA[', ']]>'], ['<!--', '-->'], ['<?', '?>']];

/**
 * `text` with every `&` that does not start a reference written `&amp;` and every `<` that
 * cannot start markup written `&lt;`, outside CDATA sections, comments and processing
 * instructions. Such characters never occur in well-formed XML, so a well-formed document
 * comes back unchanged; a document with them has only this reading. miniupnpc (and the
 * many programs built on it) writes argument values into its requests unescaped, so
 * `Tom & Jerry` or `<3` would otherwise be refused with 400. `a<b` still is: `<b` reads
 * as a tag.
 */
export function repairBareMarkup(text: string): string {
  const candidate = /[<&]/g;
  let out = '';
  let copied = 0;
  for (let m = candidate.exec(text); m !== null; m = candidate.exec(text)) {
    const i = m.index;
    if (m[0] === '<') {
      const verbatim = VERBATIM.find(([open]) => text.startsWith(open, i));
      if (verbatim) {
        const end = text.indexOf(verbatim[1], i + verbatim[0].length);
        // An unterminated section is the parser's to refuse.
        if (end < 0) break;
        candidate.lastIndex = end + verbatim[1].length;
      } else if (!MARKUP_START.test(text.charAt(i + 1))) {
        out += `${text.slice(copied, i)}&lt;`;
        copied = i + 1;
      }
    } else {
      REFERENCE.lastIndex = i;
      if (!REFERENCE.test(text)) {
        out += `${text.slice(copied, i)}&amp;`;
        copied = i + 1;
      }
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * Parses a control request body and checks it against the SOAPACTION header. `body` is the
 * raw bytes (UTF-8) or text. Never throws.
 */
export function parseSoapRequest(body: Uint8Array | string, soapActionHeader: string | undefined): SoapParseResult {
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    try {
      text = utf8.decode(body);
    } catch {
      return malformed('body is not UTF-8');
    }
  }
  // Both markers start with `<!`: the plain search spares most bodies the case-blind scan.
  if (text.includes('<!') && DTD_MARKERS.test(text)) return malformed('a DTD is not allowed in a SOAP request');
  // The plain reading refuses every bare `&` or `<` (in argument text and attribute values
  // alike), so what it accepts needs no repair; saxes reads the repaired text.
  const envelope = parsePlainEnvelope(text) ?? parseEnvelopeWithSaxes(repairBareMarkup(text));
  if (!envelope.ok) return envelope;
  const { action } = envelope;
  const header = parseSoapActionHeader(soapActionHeader);
  if (!header) return { ok: false, kind: 'invalid-action', reason: 'missing or malformed SOAPACTION header' };
  if (header.serviceType !== action.uri || header.actionName !== action.local) {
    return {
      ok: false, kind: 'invalid-action',
      reason: `SOAPACTION ${header.serviceType}#${header.actionName} disagrees with the body's ${action.uri}#${action.local}`,
    };
  }
  return { ok: true, request: { serviceType: action.uri, actionName: action.local, args: envelope.args, badArgs: envelope.badArgs } };
}

/** What an envelope holds: the action element's namespace and local name, and its arguments. */
export type SoapEnvelopeParse =
  | { readonly ok: true; readonly action: { readonly uri: string; readonly local: string }; readonly args: Map<string, string>; readonly badArgs: string[] }
  | { readonly ok: false; readonly kind: 'malformed'; readonly reason: string };

/**
 * Reads an envelope (already through `repairBareMarkup`) with saxes: any prefixes, any
 * namespace declarations, comments, CDATA, character references. Never throws.
 */
export function parseEnvelopeWithSaxes(text: string): SoapEnvelopeParse {
  const parser = new SaxesParser({ xmlns: true, position: false });
  let failure: string | undefined;
  // Element path from the root: 0 Envelope, 1 Header/Body, 2 action, 3 argument, 4+ inside an argument.
  let depth = -1;
  let inBody = false;
  let action: { uri: string; local: string } | undefined;
  let actionCount = 0;
  let currentArg: string | undefined;
  let currentText = '';
  let currentStructured = false;
  const args = new Map<string, string>();
  const badArgs: string[] = [];

  parser.on('error', (e) => {
    failure ??= `XML: ${e.message}`;
  });
  parser.on('doctype', () => {
    failure ??= 'a DTD is not allowed in a SOAP request';
  });
  parser.on('opentag', (tag) => {
    depth++;
    if (failure !== undefined) return;
    if (depth === 0) {
      if (tag.local !== 'Envelope' || tag.uri !== SOAP_ENVELOPE_NAMESPACE) failure = 'root element is not a SOAP Envelope';
    } else if (depth === 1) {
      inBody = tag.local === 'Body' && tag.uri === SOAP_ENVELOPE_NAMESPACE;
    } else if (depth === 2 && inBody) {
      actionCount++;
      if (actionCount > 1) failure = 'Body holds more than one element';
      else if (tag.uri === '') failure = 'the action element has no namespace';
      else action = { uri: tag.uri, local: tag.local };
    } else if (depth === 3 && inBody) {
      currentArg = tag.local;
      currentText = '';
      currentStructured = false;
    } else if (depth >= 4 && inBody) {
      currentStructured = true;
    }
  });
  const onText = (t: string): void => {
    if (depth === 3 && currentArg !== undefined) currentText += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', () => {
    if (depth === 3 && inBody && currentArg !== undefined && failure === undefined) {
      if (args.has(currentArg) || currentStructured) {
        if (!badArgs.includes(currentArg)) badArgs.push(currentArg);
      } else {
        args.set(currentArg, currentText);
      }
      currentArg = undefined;
    }
    if (depth === 1) inBody = false;
    depth--;
  });

  try {
    parser.write(text).close();
  } catch (e) {
    failure ??= `XML: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (failure !== undefined) return { ok: false, kind: 'malformed', reason: failure };
  if (!action) return { ok: false, kind: 'malformed', reason: 'no action element in a SOAP Body' };
  return { ok: true, action, args, badArgs };
}

/*
 * The plain envelope: the one shape control points send (miniupnpc, Windows, libupnp, the
 * Node and Go clients), read with a few sticky regular expressions instead of saxes (which
 * took a seventh of an AddPortMapping's CPU time here):
 *
 *   [<?xml version="1.0" [encoding="utf-8"]?>]
 *   <P:Envelope xmlns:P="…soap/envelope/" [P:encodingStyle="…"] [xmlns:X="…"]…>
 *     <P:Body> <Q:Action xmlns:Q="serviceType"> (<Arg>text</Arg> | <Arg/>)… </Q:Action> </P:Body>
 *   </P:Envelope>
 *
 * with whitespace between elements. Argument text may hold the five predefined entities,
 * nothing else that needs decoding or normalizing. Anything else (a comment, CDATA, a
 * character reference, a bare `&` or `<`, a CR, a default namespace, an attribute on an
 * argument, a prefix declared twice, a character XML does not allow) returns undefined, and saxes reads the
 * text: every envelope this accepts, saxes reads the same (soap.test.ts checks both on
 * generated envelopes).
 */
const NAME = '[A-Za-z_][A-Za-z0-9_.-]*';
const SPACE = /[ \t\r\n]*/y;
const XML_DECLARATION = /<\?xml version=(["'])1\.0\1(?: encoding=(["'])(?:utf-8|UTF-8)\2)? ?\?>/y;
const PLAIN_ENVELOPE_OPEN = new RegExp(`<(${NAME}):Envelope((?:[ \\t\\r\\n]+${NAME}(?::${NAME})?="[^<&"\\t\\r\\n]*")*)[ \\t\\r\\n]*>`, 'y');
const ATTRIBUTE = new RegExp(`[ \\t\\r\\n]+(${NAME})(?::(${NAME}))?="([^"]*)"`, 'y');
const ACTION_OPEN = new RegExp(`<(${NAME}):(${NAME})[ \\t\\r\\n]+xmlns:(${NAME})="([^<&"\\t\\r\\n]*)"[ \\t\\r\\n]*>`, 'y');
const ARGUMENT = new RegExp(`<(${NAME})(?:>([^<]*)</(${NAME})[ \\t\\r\\n]*>|[ \\t\\r\\n]*/>)`, 'y');
/** Text needing more than the five entities: a reference of another kind, a CR, `]]>`, a character XML forbids. */
// eslint-disable-next-line no-control-regex
const PLAIN_TEXT_REFUSED = /&(?!(?:amp|lt|gt|quot|apos);)|\r|\]\]>|[\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]/;
const ENTITY = /&(amp|lt|gt|quot|apos);/g;
const ENTITY_TEXT: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Matches `re` (sticky) at `at`; the match or null. */
function stickyMatch(re: RegExp, text: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(text);
}

function skipSpace(text: string, at: number): number {
  SPACE.lastIndex = at;
  SPACE.test(text);
  return SPACE.lastIndex;
}

/** True when a prefix is reserved (`xml…`) and so better left to saxes. */
function reservedPrefix(prefix: string): boolean {
  return prefix.slice(0, 3).toLowerCase() === 'xml';
}

/**
 * The envelope element's attributes, when they are only namespace declarations (each
 * prefix once, none reserved, the envelope's own prefix bound to SOAP's namespace) and
 * `P:encodingStyle`; undefined otherwise. Returns the prefixes it declares.
 */
function envelopeDeclarations(prefix: string, attributes: string): Set<string> | undefined {
  const declared = new Set<string>();
  let envelopeBound = false;
  let styled = false;
  for (let at = 0; at < attributes.length;) {
    const m = stickyMatch(ATTRIBUTE, attributes, at);
    if (m === null) return undefined;
    at = ATTRIBUTE.lastIndex;
    const [, first, second, value] = m;
    if (first === 'xmlns' && second !== undefined) {
      if (declared.has(second) || reservedPrefix(second)) return undefined;
      declared.add(second);
      if (second === prefix) envelopeBound = value === SOAP_ENVELOPE_NAMESPACE;
    } else if (first === prefix && second === 'encodingStyle' && !styled) {
      styled = true;
    } else {
      return undefined;
    }
  }
  return envelopeBound ? declared : undefined;
}

/** Reads the arguments from `at` up to the action's end tag `</Q:Action>`; the position after it, or -1. */
function readPlainArguments(text: string, at: number, actionTag: string, args: Map<string, string>, badArgs: string[]): number {
  for (;;) {
    at = skipSpace(text, at);
    if (text.startsWith(actionTag, at)) return skipSpace(text, at + actionTag.length);
    const m = stickyMatch(ARGUMENT, text, at);
    if (m === null) return -1;
    const [, name, raw, closing] = m;
    if (raw !== undefined && (closing !== name || PLAIN_TEXT_REFUSED.test(raw))) return -1;
    at = ARGUMENT.lastIndex;
    if (args.has(name!)) {
      if (!badArgs.includes(name!)) badArgs.push(name!);
    } else {
      args.set(name!, raw === undefined ? '' : raw.replace(ENTITY, (_, e: string) => ENTITY_TEXT[e]!));
    }
  }
}

/** The plain envelope's parse (see above), or undefined when `text` is not one: saxes decides then. */
export function parsePlainEnvelope(text: string): SoapEnvelopeParse | undefined {
  // Nothing may precede the declaration; without one, the envelope must come first too.
  let at = stickyMatch(XML_DECLARATION, text, 0) === null ? 0 : skipSpace(text, XML_DECLARATION.lastIndex);
  const envelope = stickyMatch(PLAIN_ENVELOPE_OPEN, text, at);
  if (envelope === null) return undefined;
  const prefix = envelope[1]!;
  const declared = reservedPrefix(prefix) ? undefined : envelopeDeclarations(prefix, envelope[2]!);
  if (declared === undefined) return undefined;
  at = skipSpace(text, PLAIN_ENVELOPE_OPEN.lastIndex);
  const body = `<${prefix}:Body>`;
  if (!text.startsWith(body, at)) return undefined;
  at = skipSpace(text, at + body.length);
  const action = stickyMatch(ACTION_OPEN, text, at);
  if (action === null) return undefined;
  const [, actionPrefix, local, bound, uri] = action;
  if (actionPrefix !== bound || declared.has(actionPrefix!) || reservedPrefix(actionPrefix!) || uri === '') return undefined;
  const args = new Map<string, string>();
  const badArgs: string[] = [];
  at = readPlainArguments(text, ACTION_OPEN.lastIndex, `</${actionPrefix}:${local}>`, args, badArgs);
  if (at < 0) return undefined;
  const tail = `</${prefix}:Body>`;
  if (!text.startsWith(tail, at)) return undefined;
  at = skipSpace(text, at + tail.length);
  const end = `</${prefix}:Envelope>`;
  if (!text.startsWith(end, at) || skipSpace(text, at + end.length) !== text.length) return undefined;
  return { ok: true, action: { uri: uri!, local: local! }, args, badArgs };
}

/*
 * Responses and faults are built as strings: their shape is fixed, and only argument values
 * (already formatted by the dispatcher) and the service type vary. xmlbuilder2 took a fifth
 * of a request's CPU time here; these templates give the same bytes (soap.test.ts compares).
 */
const ENVELOPE_OPEN = `<?xml version="1.0"?><s:Envelope xmlns:s="${SOAP_ENVELOPE_NAMESPACE}" `
  + `s:encodingStyle="${SOAP_ENCODING_STYLE}"><s:Body>`;
const ENVELOPE_CLOSE = '</s:Body></s:Envelope>';
/** Characters XML 1.0 does not allow at all (§2.2), lone surrogates included: dropped. */
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\r': '&#xD;' };

/** Any character escapeXmlText changes or drops (surrogates too, paired or not): without one, the text is written as it is. */
// eslint-disable-next-line no-control-regex
const XML_TEXT_CHANGED = /[&<>"\r\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]/;

/** Text (or a double-quoted attribute value) as XML: `&`, `<`, `>`, `"` and CR escaped, invalid characters dropped. */
export function escapeXmlText(text: string): string {
  if (!XML_TEXT_CHANGED.test(text)) return text;
  return text.replace(XML_INVALID, '').replace(/[&<>"\r]/g, (c) => XML_ESCAPES[c]!);
}

/** Text as one or more CDATA sections: invalid characters dropped, `]]>` split across two sections. */
export function cdataSection(text: string): string {
  return `<![CDATA[${text.replace(XML_INVALID, '').replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

/** One out argument: name, formatted value, and 'cdata' when the value is an XML document. */
export type SoapOutArgument = readonly [string, string] | readonly [string, string, 'cdata'];

/** The response envelope of an action: out arguments (already formatted) in the order given. */
export function buildSoapResponse(serviceType: string, actionName: string, outArgs: readonly SoapOutArgument[]): string {
  let out = `${ENVELOPE_OPEN}<u:${actionName}Response xmlns:u="${escapeXmlText(serviceType)}">`;
  for (const [name, value, form] of outArgs) out += `<${name}>${form === 'cdata' ? cdataSection(value) : escapeXmlText(value)}</${name}>`;
  return `${out}</u:${actionName}Response>${ENVELOPE_CLOSE}`;
}

/** The UPnP fault envelope for an error (UDA 1.0 §3.2.2). */
export function buildSoapFault(error: UpnpError): string {
  return `${ENVELOPE_OPEN}<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>`
    + `<detail><UPnPError xmlns="${UPNP_CONTROL_NAMESPACE}"><errorCode>${error.code}</errorCode>`
    + `<errorDescription>${escapeXmlText(error.description)}</errorDescription></UPnPError></detail>`
    + `</s:Fault>${ENVELOPE_CLOSE}`;
}

/**
 * Writes a UPnP XML answer with writeHead: Content-Type with the quoted charset, Content-Length,
 * `EXT:` (empty, UDA 1.0 §3.2.1) and SERVER. `status` 200 for a response, 500 for a fault.
 */
export function writeUpnpXml(res: ServerResponse, status: number, xml: string, server: string): void {
  const body = Buffer.from(xml, 'utf8');
  res.writeHead(status, upnpXmlHeaders(body.length, server));
  res.end(body);
}

/** The headers of every UPnP XML answer (description, SCPD, SOAP): exact Content-Type, EXT, SERVER. */
export function upnpXmlHeaders(length: number, server: string): Record<string, string | number> {
  return { 'Content-Type': UPNP_XML_CONTENT_TYPE, 'Content-Length': length, EXT: '', SERVER: server };
}
