import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SequenceFlow } from '@tidewatch/contracts';
import { toSequenceFlow } from '../src/conversation-flow.ts';
import { compareSequenceFlows, OpenWindow, sortFlows, windowContribution } from '../src/index.ts';
import { flow, rng } from './helpers.ts';

/** Flows drawn from few values per field, so ties at every sort key (and whole equal flows) are common. */
function randomFlows(random: () => number, n: number): SequenceFlow[] {
  const pick = <T>(values: T[]): T => values[Math.floor(random() * values.length)] as T;
  return Array.from({ length: n }, () => {
    const start = pick([0, 1000, 2000]);
    return toSequenceFlow(
      flow({
        start_ms: start,
        end_ms: start + pick([0, 5]),
        protocol: pick([6, 17]),
        src_port: pick([40000, 40001]),
        dst_port: pick([22, 80, 443, 8080]),
        fwd_bytes: pick([0, 100]),
        bwd_bytes: pick([0, 100]),
        fwd_pkts: pick([1, 2]),
        bwd_pkts: pick([0, 1]),
        tcp_flags: pick([2, 27]),
        label: pick([null, 0, 1]),
        attack: pick([null, 'scan', 'brute']),
      }),
    );
  });
}

describe('small conversation-windows', () => {
  it('sortFlows leaves the same objects in the same order as the built-in stable sort', () => {
    const random = rng(7);
    for (let round = 0; round < 3000; round++) {
      const n = 1 + (round % 40); // both sides of the insertion-sort bound
      const flows = randomFlows(random, n);
      const expected = [...flows].sort(compareSequenceFlows);
      const actual = [...flows];
      sortFlows(actual);
      assert.equal(actual.length, n);
      for (let i = 0; i < n; i++) assert.equal(actual[i], expected[i], `round ${round}, position ${i}`);
    }
  });

  it('windowContribution lists the distinct responder ports ascending, as a set would', () => {
    const random = rng(11);
    for (let round = 0; round < 2000; round++) {
      const flows = randomFlows(random, 1 + (round % 24));
      const window = OpenWindow.of('a', 'b', 0, 300_000, flows);
      const expected = [...new Set(flows.map((f) => f.dst_port))].sort((a, b) => a - b);
      assert.deepEqual(windowContribution(window).dstPorts, expected);
    }
  });
});
