import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { FlowRecord, Sequence } from '@tidewatch/contracts';
import { buildSequences } from '@tidewatch/sequencing';

// model/fixtures/sequencing.golden.json is written by the Python sequencer the model trains on
// (python -m model.sequencing_fixture); the TypeScript sequencer must cut the same sequences.
type FixtureFlow = Pick<
  FlowRecord,
  | 'start_ms'
  | 'end_ms'
  | 'protocol'
  | 'src_ip'
  | 'dst_ip'
  | 'src_port'
  | 'dst_port'
  | 'fwd_bytes'
  | 'fwd_pkts'
  | 'bwd_bytes'
  | 'bwd_pkts'
  | 'tcp_flags'
>;
const fixture = JSON.parse(
  readFileSync(new URL('../../../model/fixtures/sequencing.golden.json', import.meta.url), 'utf8'),
) as { flows: FixtureFlow[]; sequences: Sequence[] };

const records: FlowRecord[] = fixture.flows.map((f) => ({
  ...f,
  exporter: 'fixture',
  observation_domain: 0,
  source_format: 'zeek_conn',
  sampling_rate: 1,
}));

describe('Python and TypeScript sequencing agree (sequencing.v1)', () => {
  const ts = new Map(buildSequences(records).map((s) => [s.sequence_id, s]));

  it('cuts the same sequences with the same ids', () => {
    assert.deepEqual([...ts.keys()].sort(), fixture.sequences.map((s) => s.sequence_id).sort());
  });

  for (const want of fixture.sequences) {
    it(`${want.src_ip} → ${want.dst_ip} window ${want.window_start_ms} part ${want.part}`, () => {
      const got = ts.get(want.sequence_id);
      assert.ok(got);
      assert.equal(got.window_start_ms, want.window_start_ms);
      assert.equal(got.part, want.part);
      assert.deepEqual(got.context, want.context);
      const key = (f: Sequence['flows'][number]): string =>
        [f.start_ms, f.end_ms, f.protocol, f.src_port, f.dst_port, f.fwd_bytes, f.bwd_bytes].join(',');
      assert.deepEqual(got.flows.map(key), want.flows.map(key));
    });
  }
});
