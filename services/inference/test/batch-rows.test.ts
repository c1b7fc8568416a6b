import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createCodecs,
  LocalSchemaRegistry,
  type Sequence,
  SequenceBatch,
  SequenceReader,
} from '@tidewatch/contracts';
import {
  addQuietRowAt,
  Detector,
  type FindingScoring,
  ModelHost,
  ModelRepository,
  newFinding,
  newFindingAt,
  type ScoredRun,
} from '@tidewatch/detector';
import { readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences } from '@tidewatch/sequencing';
import { needsShared, seededRandom, sharedPath } from '@tidewatch/testing';
import { FindingRows, findingOfRow } from '@tidewatch/vector-store';
import { referenceFinding } from './finding-reference.ts';

const CLOCK = 1_800_000_000_000;

/** Sequences a scorer sees: plausible flows of random shape, 1 to 300 flows (past the longest bucket). */
function randomSequences(r: () => number, n: number): Sequence[] {
  const out: Sequence[] = [];
  for (let s = 0; s < n; s++) {
    const u = r();
    const len = u < 0.6 ? 1 : u < 0.9 ? 2 + Math.floor(r() * 20) : 100 + Math.floor(r() * 200);
    const t0 = 1_700_000_000_000 + Math.floor(r() * 1e9);
    const period = 1 + Math.floor(r() * 60_000);
    const flows: Sequence['flows'] = [];
    for (let k = 0; k < len; k++) {
      const start = t0 + k * period + (r() < 0.5 ? 0 : Math.floor(r() * 1000));
      const protocol = [6, 17, 1, 0, 47][Math.floor(r() * 5)] as number;
      const silent = r() < 0.4;
      flows.push({
        start_ms: start,
        end_ms: start + Math.floor(r() * 5000),
        protocol,
        src_port: r() < 0.1 ? Math.floor(r() * 1024) : 1024 + Math.floor(r() * 64000),
        dst_port:
          r() < 0.5
            ? ([22, 23, 80, 443, 445, 3389, 53][Math.floor(r() * 7)] as number)
            : Math.floor(r() * 65536),
        fwd_bytes: Math.floor(r() * (r() < 0.1 ? 1e9 : 2000)),
        fwd_pkts: 1 + Math.floor(r() * 20),
        bwd_bytes: silent ? 0 : Math.floor(r() * 100_000),
        bwd_pkts: silent ? 0 : 1 + Math.floor(r() * 30),
        tcp_flags: protocol === 6 ? Math.floor(r() * 256) : 0,
        label: r() < 0.3 ? null : r() < 0.5 ? 0 : 1,
        attack: null,
        origin: `test:${s}`,
      });
    }
    out.push({
      sequence_id: `seq-${s}-${Math.floor(r() * 1e9)}`,
      src_ip: `10.0.${Math.floor(r() * 4)}.${Math.floor(r() * 255)}`,
      dst_ip: r() < 0.5 ? `192.168.1.${Math.floor(r() * 255)}` : `8.8.${Math.floor(r() * 255)}.1`,
      window_start_ms: t0 - (t0 % 300_000),
      window_end_ms: t0 - (t0 % 300_000) + 300_000,
      part: Math.floor(r() * 3),
      flows,
      context: {
        distinct_dsts: Math.floor(r() * (r() < 0.2 ? 500 : 5)),
        distinct_dst_ports: Math.floor(r() * (r() < 0.2 ? 2000 : 5)),
        connections: len + Math.floor(r() * 50),
      },
    });
  }
  return out;
}

function sameRuns(a: ScoredRun[], b: ScoredRun[], what: string): { rows: number; alerts: number } {
  assert.equal(a.length, b.length, `${what}: runs`);
  let rows = 0;
  let alerts = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k] as ScoredRun;
    const y = b[k] as ScoredRun;
    assert.equal(x.rows.count, y.rows.count, `${what}: run ${k} rows`);
    for (let i = 0; i < x.rows.count; i++) {
      assert.equal(
        JSON.stringify(findingOfRow(y.rows, i)),
        JSON.stringify(findingOfRow(x.rows, i)),
        `${what}: run ${k} row ${i}`,
      );
      assert.deepEqual(y.rows.vector(i), x.rows.vector(i), `${what}: run ${k} row ${i} vector`);
      rows++;
    }
    assert.equal(x.alerts.length, y.alerts.length, `${what}: run ${k} alerts`);
    for (let i = 0; i < x.alerts.length; i++) {
      const p = x.alerts[i] as ScoredRun['alerts'][number];
      const q = y.alerts[i] as ScoredRun['alerts'][number];
      assert.equal(JSON.stringify(q.finding), JSON.stringify(p.finding), `${what}: run ${k} alert ${i}`);
      assert.deepEqual(q.flags, p.flags);
      assert.deepEqual(q.embedding, p.embedding);
      assert.equal(q.alert, p.alert);
      alerts++;
    }
  }
  return { rows, alerts };
}

/**
 * What the service scores (messages decoded by hand into a SequenceBatch, `scoreBatchRows`: quiet
 * sequences without objects, alerts' Sequences built from the columns) against the object path
 * (the same messages decoded to Sequences, `scoreRunRows`), consumer batch by consumer batch, each
 * path with its own Detector (the benign baseline advances per detector).
 */
async function compare(seqs: Sequence[], what: string): Promise<{ rows: number; alerts: number }> {
  const codecs = await createCodecs(new LocalSchemaRegistry());
  const reader = new SequenceReader(codecs.sequences);
  const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 1 });
  try {
    const objects = new Detector(host, { clock: () => CLOCK });
    const columns = new Detector(host, { clock: () => CLOCK });
    const batch = new SequenceBatch();
    const total = { rows: 0, alerts: 0 };
    for (let from = 0; from < seqs.length; from += 700) {
      const messages = seqs.slice(from, from + 700).map((s) => codecs.sequences.encode(s));
      const decoded = messages.map((m) => reader.decode(m));
      batch.clear();
      for (const m of messages) reader.decodeInto(batch, m);
      const want = await Promise.all(objects.scoreRunRows(decoded));
      const got = await Promise.all(columns.scoreBatchRows(batch));
      const n = sameRuns(want, got, `${what} from ${from}`);
      total.rows += n.rows;
      total.alerts += n.alerts;
    }
    assert.equal(total.rows, seqs.length);
    return total;
  } finally {
    await host.close();
  }
}

describe('sequences scored from columns (SequenceBatch)', () => {
  it('score, store and alert as the Sequence objects do: 3,000 random sequences', async () => {
    const { alerts } = await compare(randomSequences(seededRandom(11), 3000), 'random');
    assert.ok(alerts > 50, `${alerts} alerts`);
  });

  it('score, store and alert as the Sequence objects do: two labelled captures', {
    skip: needsShared().skip,
  }, async () => {
    const seqs: Sequence[] = [];
    for (const file of [
      'iot23/CTU-Malware-Capture-20-1-labeled.csv',
      'stratosphere_nmap-portscan/conn.log',
    ]) {
      const flows = [];
      for await (const r of readFlowFile(sharedPath('testdata/labeled', file)))
        if (r.flow) flows.push(r.flow);
      seqs.push(...buildSequences(flows));
    }
    const { rows, alerts } = await compare(seqs, 'captures');
    assert.ok(rows > 1000 && alerts > 100, `${rows} rows, ${alerts} alerts`);
  });

  it('a finding and a quiet row from the columns are those of the Sequence object (030c6be formulation)', async () => {
    const seqs = randomSequences(seededRandom(12), 3000);
    if (!needsShared().skip) {
      const flows = [];
      for await (const r of readFlowFile(sharedPath('testdata/labeled/stratosphere_nmap-portscan/conn.log')))
        if (r.flow) flows.push(r.flow);
      seqs.push(...buildSequences(flows));
    }
    const batch = new SequenceBatch();
    for (const s of seqs) batch.push(s);
    const rows = new FindingRows(seqs.length, 4, 'v', CLOCK);
    const scoring: FindingScoring = {
      score: 0.25,
      anomaly: 0.5,
      verdict: 'benign',
      tactics: [],
      techniques: [],
      severity: 'info',
      model_version: 'v',
      subscores: { beacon: 0, scan: 0, brute_force: 0, exfiltration: 0, reflection: 0 },
      scored_at_ms: CLOCK,
    };
    let multi = 0;
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i] as Sequence;
      if (seq.flows.length > 1) multi++;
      const want = JSON.stringify(referenceFinding(seq, scoring));
      assert.equal(JSON.stringify(newFindingAt(batch, i, scoring)), want, `sequence ${i}: finding`);
      assert.equal(JSON.stringify(newFinding(seq, scoring)), want, `sequence ${i}: finding of the object`);
      const k = addQuietRowAt(rows, batch, i);
      rows.score[k] = scoring.score;
      rows.anomaly[k] = scoring.anomaly;
      assert.equal(JSON.stringify(findingOfRow(rows, k)), want, `sequence ${i}: quiet row`);
    }
    assert.ok(multi > 1000, `${multi} multi-flow sequences`);
  });
});
