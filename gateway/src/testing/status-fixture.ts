/**
 * A complete `GatewayStatus` with distinct numbers, for the admin API's and the
 * metrics' unit tests: built from the parts' own zeroed counters so that it follows
 * their types when a counter is added.
 */
import { DROP_REASONS, Reassembler } from '@openigd/nat-table';
import { SSDP_DROP_REASON, type SsdpDropReason } from '@openigd/igd-service';
import { newCounters } from '../link/link.js';
import { COMMIT_BUCKETS_SECONDS } from '../igd/igd-stats.js';
import type { GatewayStatus } from '../stats.js';

export function statusFixture(): GatewayStatus {
  const link = (name: string, rx: number) => ({ name, ...newCounters(), rxFrames: rx, rxBytes: rx * 100 });
  const fragments = { inProgress: 1, ...new Reassembler().counters, fragments: 4, reassembled: 2 };
  const malformed = Object.fromEntries(Object.values(SSDP_DROP_REASON).map((r) => [r, 0])) as Record<SsdpDropReason, number>;
  return {
    lan: { address: '192.168.1.1/24', mac: '02:00:00:00:00:01' },
    wan: { address: '203.0.113.2/24', gateway: '203.0.113.1', mac: '02:00:00:00:00:02' },
    natBehaviour: { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', portAllocation: 'preserve', hairpinning: true },
    dhcpLeases: [{ mac: '02:00:00:00:00:10', address: '192.168.1.100', expiresAt: '2026-01-01T00:00:00.000Z', offered: false }],
    dhcpServer: { discover: 1, request: 1, release: 0, decline: 0, inform: 0, offer: 1, ack: 1, nak: 0, exhausted: 0, ignored: 0, rateLimited: 0, offersReclaimed: 0 },
    stats: { forwardedOutbound: 10, forwardedInbound: 9, hairpinned: 0, toLocal: 3, toService: 0, fromLocal: 3, arpReplies: 2, icmpSent: 1, dhcpReplies: 2, echoReplies: 1, reassembled: 2, fragmentsSent: 0 },
    drops: { 'nat-no-mapping': 5, 'not-for-us': 1 },
    links: { lan: link('oi-lan', 20), wan: link('oi-wan', 30), local: link('oi-local', 6) },
    neighbours: { lan: 2, wan: 1, heldDropped: 0 },
    nat: { flows: 3, flowsCreated: 4, flowsExpired: 1, flowsFlushed: 0, translatedOutbound: 10, translatedInbound: 9, hairpinned: 0,
      drops: { ...(Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<(typeof DROP_REASONS)[number], number>), 'no-mapping': 5 } },
    fragments: { lan: fragments, wan: { ...fragments, inProgress: 0 } },
    wanDhcp: null,
    igdTcp: { accepted: 40, refused: 0, halfOpenDropped: 0, resetsSent: 1, resetsReceived: 0, retransmits: 2, timedOut: 0, dropped: 0, bytesIn: 22_000, bytesOut: 33_000, open: 1 },
    igd: {
      url: 'http://192.168.1.1:5000/', descriptionUrl: 'http://192.168.1.1:5000/rootDesc.xml', rootUuid: 'uuid', bootId: 1, configId: 1,
      stats: { mappings: 2, adds: 2, renewals: 1, deletes: 0, expired: 0, storeFailures: 0, listenerErrors: 0 },
      byOrigin: { created: { upnp: 1, natpmp: 1, pcp: 0, admin: 0 }, held: [{ origin: 'upnp', protocol: 'TCP', count: 1 }, { origin: 'natpmp', protocol: 'UDP', count: 1 }] },
      soap: [{ service: 'wanIpConnection', action: 'AddPortMapping', code: 0, count: 1 }, { service: 'wanIpConnection', action: 'GetGenericPortMappingEntry', code: 713, count: 2 }],
      store: {
        mappings: 2, generation: 1, journalRecords: 3, journalBytes: 512, pending: 0, commits: 3, recordsWritten: 3, compactions: 0,
        compactionFailures: 0, tornRecordsTruncated: 0, staleJournalsDiscarded: 0, writeFailures: 0, recoveries: 0,
        commitLatency: { buckets: COMMIT_BUCKETS_SECONDS, counts: COMMIT_BUCKETS_SECONDS.map((_, i) => (i === 2 ? 3 : 0)).concat(0), sumSeconds: 0.006, count: 3 },
      },
      ssdp: { received: 4, malformed: { ...malformed, empty: 1 }, outsideLan: 0, ignored: 1, searches: 2, searchesWithoutMx: 0, searchesUnmatched: 0,
        responsesSent: 2, responsesRateLimited: 0, notifiesSent: 6, sendErrors: 0 },
      gena: { subscriptions: 1, subscribed: 1, renewed: 0, unsubscribed: 0, expired: 0, refusedCallStranger: 0, refusedCapacity: 0,
        notifiesSent: 1, notifiesFailed: 0, droppedFailing: 0, droppedSlow: 0 },
      natpmp: { requests: 3, results: [3, 0, 0, 0, 0, 0], drops: { short: 0, oversized: 0, 'wrong-length': 0, response: 0, 'not-lan': 0 }, pcp: 0,
        epochResets: 0, announcementsSent: 10, pcpAnnouncementsSent: 10, pcpUpdatesSent: 0, pcpUpdatesSuppressed: 0, sendErrors: 0, rateLimited: 0 },
      httpRateLimited: 0,
      httpQuickAnswered: 0,
      pcp: { requests: 2, results: { SUCCESS: 1, NOT_AUTHORIZED: 1 }, drops: { 'too-short': 0, response: 0, 'header-too-short': 1 } },
    },
  };
}
