/** The soak worker's job check: a reason for anything it cannot run, never a throw. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSoakJob } from './soak-worker.js';

const GOOD = {
  control: { controlUrl: 'http://192.168.1.1:5000/ctl/IPConn', serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:1' },
  internalClient: '192.168.1.100', gateway: '192.168.1.1', startEpochMs: 1_700_000_000_000, durationMs: 60_000,
};

test('a whole job is read as given', () => {
  assert.deepEqual(readSoakJob(JSON.stringify(GOOD)), { ok: true, job: GOOD });
});

test('a job that is not JSON, lacks a field or asks for more than a day gives a reason', () => {
  const reason = (text: string | undefined) => {
    const r = readSoakJob(text);
    assert.equal(r.ok, false);
    return r.ok ? '' : r.reason;
  };
  assert.equal(reason(undefined), 'the job argument is not JSON');
  assert.equal(reason('{'), 'the job argument is not JSON');
  assert.equal(reason('null'), 'the job is not an object');
  assert.equal(reason('[]'), 'the job is not an object');
  assert.equal(reason(JSON.stringify({ ...GOOD, control: { controlUrl: 1 } })), 'control missing');
  assert.equal(reason(JSON.stringify({ ...GOOD, gateway: undefined })), 'internalClient and gateway needed');
  assert.match(reason(JSON.stringify({ ...GOOD, durationMs: 25 * 3_600_000 })), /durationMs/);
  assert.match(reason(JSON.stringify({ ...GOOD, durationMs: 0 })), /durationMs/);
});
