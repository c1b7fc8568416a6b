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

describe('the simulated reflection flood, scored offline', () => {
  it('is raised on every reflector sequence by the reflection sub-score, as Impact / T1498.002', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-simrefl-'));
    const { Detector, ModelHost, ModelRepository, scoreFlowFile, evaluateOffline } = await import(
      '@tidewatch/detector'
    );
    const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 1 });
    try {
      const file = join(dir, 'reflection.csv');
      const code = await command.run(['--csv', file, '--minutes', '10', '--seed', '4', '--start', START]);
      assert.equal(code, 0);
      const result = await scoreFlowFile(file, new Detector(host));
      const flood = result.sequences.filter(
        (s) => s.finding.dst_ip === '10.20.0.10' && s.finding.label === 1,
      );
      const reflectors = new Set(flood.map((s) => s.finding.src_ip));
      assert.ok(reflectors.size >= 250, `${reflectors.size} reflectors`);
      for (const s of flood.filter((x) => x.finding.src_ip.startsWith('198.18.'))) {
        assert.ok(s.alert, s.finding.src_ip);
        assert.ok(
          s.finding.explanation.subscores.reflection >= 0.8,
          `${s.finding.explanation.subscores.reflection}`,
        );
        assert.equal(s.finding.tactics[0]?.id, 'TA0040');
        assert.ok(s.finding.techniques.some((t) => t.id === 'T1498.002'));
      }
      const { alerts } = evaluateOffline(result);
      assert.ok(alerts.perSequence.tp >= 400, `${alerts.perSequence.tp} sequences raised`);
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the simulated internet scan, scored offline', () => {
  it('raises the scanners of the web server by the fan-in of probes at their target, as Reconnaissance / T1595', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-siminscan-'));
    const { Detector, ModelHost, ModelRepository, scoreFlowFile } = await import('@tidewatch/detector');
    const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 1 });
    try {
      const file = join(dir, 'internet-scan.csv');
      const code = await command.run(['--csv', file, '--minutes', '10', '--seed', '4', '--start', START]);
      assert.equal(code, 0);
      const result = await scoreFlowFile(file, new Detector(host));
      const scans = result.sequences.filter((s) => s.finding.src_ip.startsWith('203.0.113.'));
      assert.equal(new Set(scans.map((s) => s.finding.src_ip)).size, 40);
      const raised = scans.filter((s) => s.alert);
      // A burst that straddles a window boundary leaves the smaller part below the rule's fan-in.
      assert.ok(raised.length >= 36, `${raised.length} of 40 scanners raised`);
      for (const s of raised) {
        assert.equal(s.finding.label, 1);
        assert.ok(s.finding.explanation.subscores.scan >= 0.8, `${s.finding.explanation.subscores.scan}`);
        assert.ok(
          s.finding.tactics.some((t) => t.id === 'TA0043'),
          JSON.stringify(s.finding.tactics),
        );
        assert.ok(s.finding.techniques.some((t) => t.id.startsWith('T1595')));
      }
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
