/**
 * Helpers for igd-service's own tests (not exported from index.ts): an in-memory
 * MappingStore that can be told to fail, a manual clock, SOAP request bodies, a raw HTTP
 * client that writes exact bytes and returns exact bytes, and a tiny XML reader for checking
 * what the server wrote. Must not: be used by production code.
 */
import { connect } from 'node:net';
import { SaxesParser } from 'saxes';
import type { MappingKey, MappingStore, PortMapping } from '../types.js';

/**
 * A MappingStore in a Map; `failPuts` / `failDeletes` make the next writes reject; `hold()`
 * keeps puts pending (as a slow disk would) until `release()`.
 */
export class MemoryMappingStore implements MappingStore {
  readonly data = new Map<string, PortMapping>();
  failPuts = 0;
  failDeletes = 0;
  puts = 0;
  deletes = 0;
  private held: Array<() => void> | undefined;

  /** Puts wait from now on until release(). */
  hold(): void {
    this.held ??= [];
  }

  /** How many puts are waiting. */
  waiting(): number {
    return this.held?.length ?? 0;
  }

  /** Lets every waiting put finish, and later ones run at once. */
  release(): void {
    const waiting = this.held ?? [];
    this.held = undefined;
    for (const go of waiting) go();
  }

  constructor(initial: readonly PortMapping[] = []) {
    for (const m of initial) this.data.set(storeKey(m), m);
  }

  load(): Promise<PortMapping[]> {
    return Promise.resolve([...this.data.values()]);
  }

  put(mapping: PortMapping): Promise<void> {
    if (this.failPuts > 0) {
      this.failPuts--;
      return Promise.reject(new Error('disk full (test)'));
    }
    const write = (): void => {
      this.puts++;
      this.data.set(storeKey(mapping), mapping);
    };
    if (this.held) {
      const held = this.held;
      return new Promise((resolve) => held.push(() => {
        write();
        resolve();
      }));
    }
    write();
    return Promise.resolve();
  }

  delete(key: MappingKey): Promise<void> {
    if (this.failDeletes > 0) {
      this.failDeletes--;
      return Promise.reject(new Error('disk gone (test)'));
    }
    this.deletes++;
    this.data.delete(storeKey(key));
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function storeKey(key: MappingKey): string {
  return `${key.protocol}/${key.externalPort}/${key.remoteHost}`;
}

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public nowMs: number = 1_700_000_000_000) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

/** A SOAP request body as clients write it, with the given envelope prefix. */
export function soapBody(serviceType: string, action: string, args: ReadonlyArray<readonly [string, string]>, prefix = 's'): string {
  const argsXml = args.map(([n, v]) => `<${n}>${v}</${n}>`).join('');
  return `<?xml version="1.0"?>\r\n<${prefix}:Envelope xmlns:${prefix}="http://schemas.xmlsoap.org/soap/envelope/" `
    + `${prefix}:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><${prefix}:Body>`
    + `<m:${action} xmlns:m="${serviceType}">${argsXml}</m:${action}></${prefix}:Body></${prefix}:Envelope>\r\n`;
}

export interface RawResponse {
  readonly status: number;
  /** The status line and header lines exactly as received. */
  readonly head: string;
  /** Header values by lower-case name (last one wins). */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/**
 * Sends `request` bytes to 127.0.0.1:port and reads until the server closes (send
 * `Connection: close`). Rejects after timeoutMs.
 */
export function rawHttp(port: number, request: string | Uint8Array, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('rawHttp timed out'));
    }, timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const body = split < 0 ? '' : text.slice(split + 4);
      const lines = head.split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      resolve({ status, head, headers, body });
    });
    socket.end(request);
  });
}

/** A POST of a SOAP action with the given SOAPACTION header value (exact bytes). */
export function soapRequest(path: string, soapAction: string | undefined, body: string | Buffer): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = `POST ${path} HTTP/1.1\r\nHOST: 127.0.0.1\r\nCONTENT-TYPE: text/xml; charset="utf-8"\r\n`
    + (soapAction === undefined ? '' : `SOAPACTION: ${soapAction}\r\n`)
    + `CONTENT-LENGTH: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}

/** A parsed XML element: local name, namespace, attributes by local name, text, children. */
export interface XmlNode {
  readonly name: string;
  readonly uri: string;
  readonly attributes: Record<string, string>;
  text: string;
  readonly children: XmlNode[];
}

/** Parses well-formed XML into a tree; rejects (throws) on the first error: tests only. */
export function parseXml(xml: string): XmlNode {
  const parser = new SaxesParser({ xmlns: true });
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  let error: Error | undefined;
  parser.on('error', (e) => {
    error ??= e;
  });
  parser.on('opentag', (tag) => {
    const attributes: Record<string, string> = {};
    for (const a of Object.values(tag.attributes)) attributes[a.local] = a.value;
    const node: XmlNode = { name: tag.local, uri: tag.uri, attributes, text: '', children: [] };
    if (stack.length > 0) stack[stack.length - 1].children.push(node);
    else root = node;
    stack.push(node);
  });
  const onText = (t: string): void => {
    if (stack.length > 0) stack[stack.length - 1].text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', () => {
    stack.pop();
  });
  parser.write(xml).close();
  if (error) throw error;
  if (!root) throw new Error('no root element');
  return root;
}

/** The children of `node` named `name`. */
export function childrenNamed(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c) => c.name === name);
}

/** The one child named `name`; throws when there is not exactly one. */
export function child(node: XmlNode, name: string): XmlNode {
  const found = childrenNamed(node, name);
  if (found.length !== 1) throw new Error(`${node.name} has ${found.length} <${name}>`);
  return found[0];
}

/** Descends a path of child names. */
export function path(node: XmlNode, ...names: string[]): XmlNode {
  return names.reduce((n, name) => child(n, name), node);
}
