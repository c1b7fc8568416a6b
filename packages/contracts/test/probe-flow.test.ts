import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isProbeFlow, PROBE_MAX_PKTS } from '../src/index.ts';

describe('the probe shape (context.distinct_probe_srcs, subscores.v4)', () => {
  it('an attempt nothing answered, not from a port 1-1023 toward a port >= 1024, not a port to itself', () => {
    assert.equal(PROBE_MAX_PKTS, 7);
    assert.equal(isProbeFlow(6, 50_000, 23, 1, 0), true);
    assert.equal(isProbeFlow(1, 0, 0, 1, 0), true, 'ICMP');
    assert.equal(isProbeFlow(6, 1024, 80, 1, 0), true);
    assert.equal(isProbeFlow(6, 0, 1024, 1, 0), true, 'source port 0');
    assert.equal(isProbeFlow(6, 1024, 1025, 1, 0), true);
    assert.equal(isProbeFlow(6, 80, 1023, 1, 0), true, 'a well-known source port toward a well-known port');
    assert.equal(isProbeFlow(6, 1023, 1024, 1, 0), false, 'reply-shaped');
    assert.equal(isProbeFlow(17, 1, 65_535, 1, 0), false, 'reply-shaped');
    assert.equal(isProbeFlow(6, 80, 51_000, 1, 0), false, 'reply-shaped');
    assert.equal(isProbeFlow(6, 50_000, 23, 1, 1), false, 'answered');
    assert.equal(isProbeFlow(17, 137, 137, 1, 0), false, 'peer-shaped: a NetBIOS broadcast');
    assert.equal(isProbeFlow(17, 17_500, 17_500, 1, 0), false, 'peer-shaped: LAN-sync broadcast');
    assert.equal(isProbeFlow(6, 1024, 1024, 1, 0), false, 'peer-shaped');
    assert.equal(isProbeFlow(1, 3, 3, 1, 0), true, 'ICMP type 3 code 3 is not peer-shaped');
    assert.equal(isProbeFlow(58, 1, 1, 1, 0), true, 'nor ICMPv6 1 / 1');
    assert.equal(isProbeFlow(6, 50_000, 23, 7, 0), true, 'a SYN and 6 retransmissions');
    assert.equal(isProbeFlow(17, 50_000, 514, 8, 0), false, 'a one-way stream: telemetry to a collector');
  });
});
