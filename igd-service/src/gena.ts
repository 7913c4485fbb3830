/**
 * GENA eventing (UDA 1.0 §4; U15): subscriptions to each service's evented variables and the
 * NOTIFY messages that carry their values.
 *
 *   SUBSCRIBE    CALLBACK + NT: upnp:event → new SID `uuid:…`, TIMEOUT Second-N clamped to the
 *                configured bounds → 200 SID, TIMEOUT; after the answer is written, the initial
 *                event (SEQ 0) with every evented variable of the service.
 *   renew        SUBSCRIBE with SID and neither CALLBACK nor NT → 200 with a new TIMEOUT;
 *                unknown SID → 412. SID together with CALLBACK or NT → 400.
 *   UNSUBSCRIBE  SID → 200; unknown → 412; with CALLBACK or NT → 400.
 *   NOTIFY       `NOTIFY path HTTP/1.1`, NT upnp:event, NTS upnp:propchange, SID, SEQ (0, 1, …,
 *                4294967295, then 1), body `e:propertyset`, to the first callback URL that
 *                answers 200, one message at a time per subscription (so SEQ arrives in order).
 *
 * Defences: callback URLs must be `http://<the subscriber's own source address>[:port]/…`
 * (UDA 2.0 §4.1.1; CVE-2020-12695 "CallStranger": otherwise a LAN host could make the gateway
 * send traffic anywhere) → 412; bounded subscriptions (total and per source address → 503);
 * subscriptions expire; every NOTIFY has a time limit; a subscriber that fails
 * `maxDeliveryFailures` NOTIFYs in a row, or falls `maxQueuedEvents` behind, is dropped.
 * Must not: send to an address other than the subscriber's, block the caller on delivery, or
 * throw on any header value.
 */
import { request as httpRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import { create } from 'xmlbuilder2';
import { UPNP_EVENT_NAMESPACE } from './declaration.js';
import type { IgdServiceKey } from './declaration.js';
import { isDottedQuad } from './action-arguments.js';
import { UPNP_XML_CONTENT_TYPE } from './soap.js';

/** GENA SEQ is a ui4 that wraps to 1, not 0 (0 marks the initial event). */
export const GENA_SEQ_MAX = 0xffff_ffff;

export interface GenaOptions {
  /** SERVER header of the answers. */
  readonly server: string;
  /** Most subscriptions at once. Default 64. */
  readonly maxSubscriptions?: number;
  /** Most subscriptions from one source address. Default 16. */
  readonly maxSubscriptionsPerAddress?: number;
  /** Granted TIMEOUT bounds and the value when none is asked, seconds. Default 60 / 1800 / 1800. */
  readonly timeoutSeconds?: { readonly minimum?: number; readonly maximum?: number; readonly default?: number };
  /** Time limit of one NOTIFY (connect to answer), ms. Default 5000. */
  readonly notifyTimeoutMs?: number;
  /** Consecutive failed NOTIFYs after which a subscription is dropped. Default 3. */
  readonly maxDeliveryFailures?: number;
  /** Events waiting per subscription beyond which it is dropped. Default 32. */
  readonly maxQueuedEvents?: number;
  /** Most callback URLs in one CALLBACK header. Default 4. */
  readonly maxCallbackUrls?: number;
}

/** One NOTIFY to send. */
export interface GenaNotify {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/** What one NOTIFY to one callback URL came to. */
export type GenaNotifyResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** An event that reached none of a subscription's callback URLs, for the operator's log. */
export interface GenaNotifyFailure {
  readonly sid: string;
  readonly service: IgdServiceKey;
  readonly seq: number;
  /** Each callback URL tried, with why it failed ("HTTP 500", "ECONNREFUSED", "timed out after 5000 ms"). */
  readonly attempts: ReadonlyArray<{ readonly url: string; readonly reason: string }>;
  /** Failures in a row of this subscription, this one included. */
  readonly failuresInARow: number;
  /** The subscription was dropped because of it (`maxDeliveryFailures` reached). */
  readonly dropped: boolean;
}

export interface GenaComponents {
  /** Clock for expiry, ms. Default Date.now. */
  readonly now?: () => number;
  readonly randomUuid?: () => string;
  /** Sends one NOTIFY; resolves ok on a 2xx answer, else with the reason. Default: node:http. Must not reject. */
  readonly sendNotify?: (notify: GenaNotify) => Promise<GenaNotifyResult>;
  /** Told of every event no callback URL took (the initial event included). Must not throw. */
  readonly onNotifyFailed?: (failure: GenaNotifyFailure) => void;
}

/** A SUBSCRIBE or UNSUBSCRIBE as the HTTP layer hands it over. Header names lower-case. */
export interface GenaRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The peer's address as the socket reports it (IPv4-mapped IPv6 accepted). */
  readonly sourceAddress: string;
}

/** What to answer; `afterResponse` must be called once the answer is written (it releases the initial event). */
export interface GenaAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly reason?: string;
  readonly afterResponse?: () => void;
}

export interface GenaSubscriptionInfo {
  readonly sid: string;
  readonly service: IgdServiceKey;
  readonly sourceAddress: string;
  readonly callbacks: readonly string[];
  readonly expiresAtMs: number;
  readonly queued: number;
}

export interface GenaStats {
  readonly subscriptions: number;
  readonly subscribed: number;
  readonly renewed: number;
  readonly unsubscribed: number;
  readonly expired: number;
  readonly refusedCallStranger: number;
  readonly refusedCapacity: number;
  readonly notifiesSent: number;
  readonly notifiesFailed: number;
  readonly droppedFailing: number;
  readonly droppedSlow: number;
}

type FailedAttempts = GenaNotifyFailure['attempts'];
const DELIVERED_EVENT = 'delivered';

interface QueuedEvent {
  readonly seq: number;
  readonly body: string;
}

interface Subscription {
  readonly sid: string;
  readonly service: IgdServiceKey;
  readonly sourceAddress: string;
  readonly callbacks: readonly URL[];
  expiresAtMs: number;
  nextSeq: number;
  readonly queue: QueuedEvent[];
  held: boolean;
  sending: boolean;
  failures: number;
}

/** The property set body of a NOTIFY (UDA 1.0 §4.2.1). */
export function buildPropertySet(variables: ReadonlyArray<readonly [string, string]>): string {
  const set = create({ version: '1.0' }).ele(UPNP_EVENT_NAMESPACE, 'e:propertyset');
  for (const [name, value] of variables) set.ele(UPNP_EVENT_NAMESPACE, 'e:property').ele(name).txt(value);
  return set.end({ allowEmptyTags: true });
}

/** The address without an IPv4-mapped IPv6 prefix. */
export function stripIpv4MappedPrefix(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function header(request: GenaRequest, name: string): string | undefined {
  const v = request.headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(', ');
}

/** Parses a TIMEOUT header value; undefined when absent or malformed; Infinity for `infinite`. */
export function parseGenaTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*Second-(infinite|[0-9]{1,20})\s*$/i.exec(value);
  if (!m) return undefined;
  return m[1].toLowerCase() === 'infinite' ? Number.POSITIVE_INFINITY : Number(m[1]);
}

export type GenaCallbackCheck = { ok: true; urls: URL[] } | { ok: false; reason: string };

/**
 * Parses a CALLBACK header (`<url>` one or more times) and applies the CallStranger rule:
 * each URL must be http, to the subscriber's own IPv4 address, with no credentials.
 */
export function checkGenaCallbacks(value: string, sourceAddress: string, maxUrls: number): GenaCallbackCheck {
  const source = stripIpv4MappedPrefix(sourceAddress);
  if (value.replace(/<[^<>]*>/g, '').trim() !== '') return { ok: false, reason: 'CALLBACK is not a list of <url>' };
  const urls: URL[] = [];
  for (const match of value.matchAll(/<([^<>]*)>/g)) {
    if (urls.length >= maxUrls) return { ok: false, reason: `CALLBACK holds more than ${maxUrls} URLs` };
    let url: URL;
    try {
      url = new URL(match[1].trim());
    } catch {
      return { ok: false, reason: `callback ${JSON.stringify(match[1])} is not a URL` };
    }
    urls.push(url);
  }
  if (urls.length === 0) return { ok: false, reason: 'CALLBACK holds no URL' };
  for (const url of urls) {
    if (url.protocol !== 'http:') return { ok: false, reason: `callback ${url.href} is not http` };
    if (url.username !== '' || url.password !== '') return { ok: false, reason: 'callback URL with credentials' };
    if (!isDottedQuad(url.hostname) || url.hostname !== source) {
      return { ok: false, reason: `callback host ${url.hostname} is not the subscriber's address ${source}` };
    }
  }
  return { ok: true, urls };
}

const DELIVERED: GenaNotifyResult = { ok: true };

/** The default NOTIFY sender: one node:http request, no keep-alive, bounded by a timer. */
export function sendNotifyHttp(notify: GenaNotify): Promise<GenaNotifyResult> {
  return new Promise<GenaNotifyResult>((resolve) => {
    let settled = false;
    const done = (result: GenaNotifyResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const body = Buffer.from(notify.body, 'utf8');
    const req = httpRequest({
      host: notify.url.hostname,
      port: notify.url.port === '' ? 80 : Number(notify.url.port),
      path: `${notify.url.pathname}${notify.url.search}`,
      method: 'NOTIFY',
      agent: false,
      signal: notify.signal,
      headers: { HOST: notify.url.host, ...notify.headers, 'CONTENT-LENGTH': String(body.length), CONNECTION: 'close' },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error('NOTIFY timed out'));
      done({ ok: false, reason: `timed out after ${notify.timeoutMs} ms` });
    }, notify.timeoutMs);
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      done(status >= 200 && status < 300 ? DELIVERED : { ok: false, reason: `HTTP ${status}` });
    });
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, reason: e.code ?? e.message }));
    req.end(body);
  });
}

/** The GENA publisher of the IGD's services. */
export class GenaPublisher {
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly stateOf: (service: IgdServiceKey) => ReadonlyArray<readonly [string, string]>;
  private readonly server: string;
  private readonly maxSubscriptions: number;
  private readonly maxPerAddress: number;
  private readonly minTimeout: number;
  private readonly maxTimeout: number;
  private readonly defaultTimeout: number;
  private readonly notifyTimeoutMs: number;
  private readonly maxFailures: number;
  private readonly maxQueued: number;
  private readonly maxCallbackUrls: number;
  private readonly now: () => number;
  private readonly randomUuid: () => string;
  private readonly sendNotify: (notify: GenaNotify) => Promise<GenaNotifyResult>;
  private readonly onNotifyFailed: (failure: GenaNotifyFailure) => void;
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  private readonly counts = {
    subscribed: 0, renewed: 0, unsubscribed: 0, expired: 0, refusedCallStranger: 0, refusedCapacity: 0,
    notifiesSent: 0, notifiesFailed: 0, droppedFailing: 0, droppedSlow: 0,
  };

  /** `stateOf` gives every evented variable of a service with its current value (the initial event). */
  constructor(
    stateOf: (service: IgdServiceKey) => ReadonlyArray<readonly [string, string]>,
    options: GenaOptions,
    components: GenaComponents = {},
  ) {
    this.stateOf = stateOf;
    this.server = options.server;
    this.maxSubscriptions = options.maxSubscriptions ?? 64;
    this.maxPerAddress = options.maxSubscriptionsPerAddress ?? 16;
    this.minTimeout = options.timeoutSeconds?.minimum ?? 60;
    this.maxTimeout = options.timeoutSeconds?.maximum ?? 1800;
    this.defaultTimeout = options.timeoutSeconds?.default ?? 1800;
    this.notifyTimeoutMs = options.notifyTimeoutMs ?? 5000;
    this.maxFailures = options.maxDeliveryFailures ?? 3;
    this.maxQueued = options.maxQueuedEvents ?? 32;
    this.maxCallbackUrls = options.maxCallbackUrls ?? 4;
    this.now = components.now ?? Date.now;
    this.randomUuid = components.randomUuid ?? randomUUID;
    this.sendNotify = components.sendNotify ?? sendNotifyHttp;
    this.onNotifyFailed = components.onNotifyFailed ?? (() => {});
  }

  /** Answers a SUBSCRIBE or UNSUBSCRIBE to `service`'s event URL. Never throws. */
  handle(service: IgdServiceKey, request: GenaRequest): GenaAnswer {
    this.expire();
    if (this.closed) return this.refuse(503, 'shutting down');
    const method = request.method.toUpperCase();
    const sid = header(request, 'sid');
    const callback = header(request, 'callback');
    const nt = header(request, 'nt');
    if (method === 'UNSUBSCRIBE') {
      if (sid === undefined) return this.refuse(412, 'UNSUBSCRIBE without SID');
      if (callback !== undefined || nt !== undefined) return this.refuse(400, 'SID together with CALLBACK or NT');
      const sub = this.subscriptions.get(sid.trim());
      if (!sub || sub.service !== service) return this.refuse(412, 'unknown SID');
      this.drop(sub);
      this.counts.unsubscribed++;
      return { status: 200, headers: { SERVER: this.server } };
    }
    if (method !== 'SUBSCRIBE') return this.refuse(405, `method ${method}`);
    if (sid !== undefined) {
      if (callback !== undefined || nt !== undefined) return this.refuse(400, 'SID together with CALLBACK or NT');
      const sub = this.subscriptions.get(sid.trim());
      if (!sub || sub.service !== service) return this.refuse(412, 'unknown SID');
      const seconds = this.grantedTimeout(header(request, 'timeout'));
      sub.expiresAtMs = this.now() + seconds * 1000;
      this.counts.renewed++;
      return { status: 200, headers: { SERVER: this.server, SID: sub.sid, TIMEOUT: `Second-${seconds}` } };
    }
    if (nt === undefined || nt.trim() !== 'upnp:event') return this.refuse(412, 'NT is not upnp:event');
    if (callback === undefined) return this.refuse(412, 'no CALLBACK');
    const checked = checkGenaCallbacks(callback, request.sourceAddress, this.maxCallbackUrls);
    if (!checked.ok) {
      this.counts.refusedCallStranger++;
      return this.refuse(412, checked.reason);
    }
    const source = stripIpv4MappedPrefix(request.sourceAddress);
    const fromSource = [...this.subscriptions.values()].filter((s) => s.sourceAddress === source).length;
    if (this.subscriptions.size >= this.maxSubscriptions || fromSource >= this.maxPerAddress) {
      this.counts.refusedCapacity++;
      return this.refuse(503, 'too many subscriptions');
    }
    const seconds = this.grantedTimeout(header(request, 'timeout'));
    const sub: Subscription = {
      sid: `uuid:${this.randomUuid()}`,
      service,
      sourceAddress: source,
      callbacks: checked.urls,
      expiresAtMs: this.now() + seconds * 1000,
      nextSeq: 0,
      queue: [],
      held: true,
      sending: false,
      failures: 0,
    };
    this.subscriptions.set(sub.sid, sub);
    this.counts.subscribed++;
    this.enqueue(sub, this.stateOf(service));
    return {
      status: 200,
      headers: { SERVER: this.server, SID: sub.sid, TIMEOUT: `Second-${seconds}` },
      afterResponse: () => {
        sub.held = false;
        this.pump(sub);
      },
    };
  }

  /** Queues a NOTIFY of `variables` to every subscriber of `service`. */
  publish(service: IgdServiceKey, variables: ReadonlyArray<readonly [string, string]>): void {
    this.expire();
    if (this.closed || variables.length === 0) return;
    for (const sub of [...this.subscriptions.values()]) {
      if (sub.service === service) this.enqueue(sub, variables);
    }
  }

  /** Drops subscriptions whose TIMEOUT ran out; returns how many. */
  expire(nowMs: number = this.now()): number {
    let removed = 0;
    for (const sub of [...this.subscriptions.values()]) {
      if (sub.expiresAtMs <= nowMs) {
        this.drop(sub);
        removed++;
      }
    }
    this.counts.expired += removed;
    return removed;
  }

  subscriptionList(): GenaSubscriptionInfo[] {
    return [...this.subscriptions.values()].map((s) => ({
      sid: s.sid, service: s.service, sourceAddress: s.sourceAddress,
      callbacks: s.callbacks.map((u) => u.href), expiresAtMs: s.expiresAtMs, queued: s.queue.length,
    }));
  }

  stats(): GenaStats {
    return { subscriptions: this.subscriptions.size, ...this.counts };
  }

  /** Drops every subscription, aborts NOTIFYs in flight and waits for them to settle. */
  async close(): Promise<void> {
    this.closed = true;
    for (const sub of [...this.subscriptions.values()]) this.drop(sub);
    this.abort.abort();
    await Promise.all([...this.inFlight]);
  }

  // ---- internals -------------------------------------------------------------------------

  private refuse(status: number, reason: string): GenaAnswer {
    return { status, headers: { SERVER: this.server }, reason };
  }

  private grantedTimeout(value: string | undefined): number {
    const asked = parseGenaTimeout(value) ?? this.defaultTimeout;
    return Math.min(this.maxTimeout, Math.max(this.minTimeout, asked));
  }

  private drop(sub: Subscription): void {
    this.subscriptions.delete(sub.sid);
    sub.queue.length = 0;
  }

  private enqueue(sub: Subscription, variables: ReadonlyArray<readonly [string, string]>): void {
    if (sub.queue.length >= this.maxQueued) {
      this.counts.droppedSlow++;
      this.drop(sub);
      return;
    }
    const seq = sub.nextSeq;
    sub.nextSeq = seq === GENA_SEQ_MAX ? 1 : seq + 1;
    sub.queue.push({ seq, body: buildPropertySet(variables) });
    this.pump(sub);
  }

  private pump(sub: Subscription): void {
    if (sub.held || sub.sending || this.closed) return;
    const event = sub.queue.shift();
    if (!event) return;
    sub.sending = true;
    const delivery = this.deliver(sub, event).then((attempts) => {
      sub.sending = false;
      if (attempts === DELIVERED_EVENT) {
        sub.failures = 0;
        this.counts.notifiesSent++;
      } else {
        this.recordFailure(sub, event, attempts);
      }
      this.inFlight.delete(delivery);
      if (this.subscriptions.get(sub.sid) === sub) this.pump(sub);
    });
    this.inFlight.add(delivery);
  }

  /** Counts an undelivered event, drops a subscription that failed too often, and tells the observer. */
  private recordFailure(sub: Subscription, event: QueuedEvent, attempts: FailedAttempts): void {
    sub.failures++;
    this.counts.notifiesFailed++;
    const dropped = sub.failures >= this.maxFailures && this.subscriptions.get(sub.sid) === sub;
    if (dropped) {
      this.counts.droppedFailing++;
      this.drop(sub);
    }
    if (this.closed) return; // aborted by close(): not the subscriber's failure to report
    try {
      this.onNotifyFailed({ sid: sub.sid, service: sub.service, seq: event.seq, attempts, failuresInARow: sub.failures, dropped });
    } catch {
      // An observer's failure is not the subscriber's.
    }
  }

  /** Tries each callback URL in order until one answers 2xx (UDA 1.0 §4.1.1); else what each said. */
  private async deliver(sub: Subscription, event: QueuedEvent): Promise<typeof DELIVERED_EVENT | FailedAttempts> {
    const attempts: { url: string; reason: string }[] = [];
    for (const url of sub.callbacks) {
      if (this.closed) break;
      const result = await this.sendNotify({
        url,
        headers: {
          'CONTENT-TYPE': UPNP_XML_CONTENT_TYPE,
          NT: 'upnp:event',
          NTS: 'upnp:propchange',
          SID: sub.sid,
          SEQ: String(event.seq),
        },
        body: event.body,
        timeoutMs: this.notifyTimeoutMs,
        signal: this.abort.signal,
      }).catch((e: unknown): GenaNotifyResult => ({ ok: false, reason: String(e) }));
      if (result.ok) return DELIVERED_EVENT;
      attempts.push({ url: url.href, reason: result.reason });
    }
    return attempts;
  }
}
