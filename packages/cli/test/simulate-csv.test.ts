import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { FlowRecord } from '@tidewatch/contracts';
import { readFlowFile } from '@tidewatch/flow-importers';
import { TrafficSimulator } from '@tidewatch/simulator';
import { command } from '../src/commands/simulate.ts';

const START = '2026-02-10T08:00:00Z';

describe('tidewatch simulate --csv', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('writes an hour that the Tempo importer reads back flow for flow, TCP flags included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-simcsv-'));
    dirs.push(dir);
    const file = join(dir, 'sim.csv');
    const code = await command.run(['--csv', file, '--minutes', '10', '--seed', '3', '--start', START]);
    assert.equal(code, 0);
    const t0 = Date.parse(START);
    const expected = new TrafficSimulator({ seed: 3 }).generate(t0, t0 + 600_000);
    const read: FlowRecord[] = [];
    for await (const r of readFlowFile(file)) {
      assert.equal(r.error, undefined, r.error);
      if (r.flow) read.push(r.flow);
    }
    assert.equal(read.length, expected.length);
    const pick = (f: (typeof expected)[number] | FlowRecord) => [
      f.start_ms,
      f.end_ms,
      f.src_ip,
      f.dst_ip,
      f.src_port,
      f.dst_port,
      f.protocol,
      f.fwd_bytes,
      f.bwd_bytes,
      f.fwd_pkts,
      f.bwd_pkts,
      f.tcp_flags,
      f.label,
      f.attack,
    ];
    assert.deepEqual(read.map(pick), expected.map(pick));
    assert.ok(
      read.some((f) => f.tcp_flags !== 0),
      'TCP flows carry their flags',
    );
  });
});
