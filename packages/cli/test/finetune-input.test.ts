import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FlowRecord } from '@tidewatch/contracts';
import { type ImportFormat, readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences } from '@tidewatch/sequencing';
import { UsageError } from '../src/command.ts';
import { writeTempoCsv } from '../src/commands/finetune-input.ts';
import { command as finetune, pythonArgs } from '../src/commands/finetune.ts';

async function imported(path: string, format: ImportFormat) {
  const out: FlowRecord[] = [];
  for await (const r of readFlowFile(path, { format })) if (r.flow) out.push(r.flow);
  return out;
}

/** Sequences as comparable rows: initiator, responder and each flow's fields and labels. */
const view = (flows: FlowRecord[]) =>
  buildSequences(flows).map((s) => [
    s.src_ip,
    s.dst_ip,
    s.window_start_ms,
    s.flows.map((f) => [
      f.start_ms,
      f.end_ms,
      f.protocol,
      f.src_port,
      f.dst_port,
      f.fwd_bytes,
      f.fwd_pkts,
      f.bwd_bytes,
      f.bwd_pkts,
      f.tcp_flags,
      f.label,
      f.attack,
    ]),
  ]);

describe('finetune input: any import format as the flows the sequencer makes of it', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tw-ft-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('AWS VPC logs: the two records of a connection become one biflow row; the rows re-read give the same sequences', async () => {
    const path = join(dir, 'vpc.log');
    const rows = [
      'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status',
    ];
    for (let k = 0; k < 5; k++) {
      const t = 1_700_000_000 + 10 * k;
      rows.push(`2 1 eni-1 10.0.1.5 10.0.9.${k + 1} ${40_000 + k} 443 6 12 1800 ${t} ${t + 4} ACCEPT OK`);
      rows.push(`2 1 eni-1 10.0.9.${k + 1} 10.0.1.5 443 ${40_000 + k} 6 20 24000 ${t} ${t + 4} ACCEPT OK`);
    }
    rows.push('2 1 eni-1 10.0.1.5 not-an-ip 1 2 6 1 60 1700000000 1700000001 ACCEPT OK');
    await writeFile(path, `${rows.join('\n')}\n`);
    const out = join(dir, 'vpc.tempo.csv');
    const c = await writeTempoCsv(path, 'aws', out);
    assert.deepEqual([c.rows, c.rejected, c.notFlows, c.flows], [11, 1, 0, 5]);
    assert.match(c.firstRejection ?? '', /vpc\.log:12: dstaddr 'not-an-ip'/);
    const tempo = await imported(out, 'tempo');
    assert.deepEqual(
      tempo.map((f) => [f.src_ip, f.fwd_bytes, f.bwd_bytes, f.fwd_pkts, f.bwd_pkts]),
      Array.from({ length: 5 }, () => ['10.0.1.5', 1800, 24_000, 12, 20]),
    );
    assert.deepEqual(view(tempo), view(await imported(path, 'aws')));
  });

  it('labels and attack names (quoted when they hold a comma) travel; unlabelled rows stay unlabelled', async () => {
    const path = join(dir, 'flows.jsonl');
    const base = {
      exporter: '192.0.2.1',
      observation_domain: 0,
      source_format: 'ipfix',
      protocol: 6,
      src_ip: '10.0.0.1',
      dst_ip: '10.0.0.2',
      src_port: 40_000,
      dst_port: 22,
      fwd_bytes: 900,
      fwd_pkts: 9,
      bwd_bytes: 1_100,
      bwd_pkts: 8,
      tcp_flags: 27,
      sampling_rate: 1,
    };
    const lines = [
      {
        ...base,
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_001_500,
        label: 1,
        attack: 'SSH, brute force',
      },
      { ...base, start_ms: 1_700_000_002_000, end_ms: 1_700_000_002_000, src_port: 40_001, label: 0 },
      { ...base, start_ms: 1_700_000_003_000, end_ms: 1_700_000_003_250, src_port: 40_002 },
    ].map((l) => JSON.stringify(l));
    await writeFile(path, `${lines.join('\n')}\n`);
    const out = join(dir, 'flows.tempo.csv');
    await writeTempoCsv(path, 'flows', out);
    assert.match(await readFile(out, 'utf8'), /,"SSH, brute force",27\n/);
    assert.deepEqual(view(await imported(out, 'tempo')), view(await imported(path, 'flows')));
  });

  it('hands the Python side the converted file and its format, the other options as given', () => {
    assert.deepEqual(pythonArgs(['--data', 'a.csv', '--epochs', '1'], '/tmp/f.csv', 'tempo_csv'), [
      '--data',
      '/tmp/f.csv',
      '--epochs',
      '1',
      '--format',
      'tempo_csv',
    ]);
    assert.deepEqual(
      pythonArgs(
        ['--version', 'v9', '--format', 'aws', '--data', 'a.log', '--set-default'],
        '/t.csv',
        'tempo_csv',
      ),
      ['--version', 'v9', '--data', '/t.csv', '--set-default', '--format', 'tempo_csv'],
    );
  });

  it('refuses an unknown --format naming every accepted one, and a missing --data', async () => {
    await assert.rejects(
      finetune.run(['--data', 'x.csv', '--format', 'pcap']),
      (e: unknown) =>
        e instanceof UsageError &&
        /--format must be one of tempo, zeek, .*nprobe, tempo_csv, zeek_conn, cic_csv, parquet/.test(
          e.message,
        ),
    );
    await assert.rejects(
      finetune.run(['--format', 'aws']),
      new UsageError('finetune: --data FILE is required'),
    );
  });
});
