import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
// These IoT-23 CSVs have no quoted fields.
const splitCsvLine = (line: string): string[] => line.split(',');
import {
  Detector,
  evaluateOffline,
  ModelHost,
  ModelRepository,
  perFlowLine,
  type RowOutcome,
  type ScoredSequence,
  scoreFlowFile,
  NOT_A_FLOW,
} from '@tidewatch/detector';
import type { FlowRecord } from '@tidewatch/contracts';
import { matchBuiltinRule } from '@tidewatch/suppression';
import { needsShared, REPO_ROOT, sharedPath } from '@tidewatch/testing';
import { UsageError } from '../src/command.ts';
import { parseScoreArgs, scoreFile } from '../src/commands/score.ts';

const run = promisify(execFile);

/**
 * What the inference service raises for a sequence, derived here from the Finding: the model's
 * malicious verdict or a sub-score at the flag threshold (0.8), unless a built-in rule suppresses it.
 */
function serviceVerdict(s: ScoredSequence): 'malicious' | 'benign' {
  const flags = Object.entries(s.finding.explanation.subscores)
    .filter(([, v]) => v >= 0.8)
    .map(([k]) => k);
  const flagged = flags.length > 0;
  const raised = s.finding.verdict === 'malicious' || flagged;
  return raised &&
    matchBuiltinRule(s.finding, {
      flagged,
      flags,
      byModel: s.finding.verdict === 'malicious',
      initiatorDsts: s.initiatorDsts,
      infrastructureOnly: s.infrastructureOnly,
    }) === null
    ? 'malicious'
    : 'benign';
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const skip = needsShared().skip;

/** Data rows of a labelled file, counted independently of the importers. */
function dataRows(path: string): number {
  if (path.endsWith('.parquet')) return 101_094; // README: cic2017_sample.parquet rows
  const lines = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  const first = lines[0] ?? '';
  if (first.startsWith('#')) return lines.filter((l) => !l.startsWith('#')).length; // Zeek TSV
  if (first.startsWith('{')) return lines.length; // Zeek JSON lines
  return lines.length - 1; // CSV with a header
}

function labelledFiles(): string[] {
  const root = sharedPath('testdata/labeled');
  const out: string[] = [];
  for (const d of readdirSync(root)) {
    const dir = join(root, d);
    if (!statSync(dir).isDirectory()) continue;
    for (const f of readdirSync(dir)) if (f !== 'labels.config') out.push(join(dir, f));
  }
  return out.sort();
}

describe('score --per-flow', { skip }, () => {
  let host: ModelHost;
  let detector: Detector;
  let tmp: string;
  before(async () => {
    host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 2 });
    detector = new Detector(host);
    tmp = await mkdtemp(join(tmpdir(), 'tw-score-'));
  });
  after(async () => {
    await host?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('prints one valid line per data row, in input order, for every labelled file', async () => {
    const files = labelledFiles();
    assert.ok(files.length >= 28, `found ${files.length} labelled files`);
    const differ = { flagged: 0, suppressed: 0 };
    for (const file of files) {
      const result = await scoreFlowFile(file, detector);
      const lines = result.rows.map((r) => perFlowLine(r, result.sequences));
      const modelLines = result.rows.map((r) => perFlowLine(r, result.sequences, 'model'));
      assert.equal(lines.length, dataRows(file), `${file}: lines vs data rows`);
      const scoreOf = new Map<string, number>();
      lines.forEach((text, i) => {
        const seq = result.sequences[result.rows[i]?.sequence ?? -1];
        const asModel = JSON.parse(modelLines[i] as string) as Record<string, unknown>;
        if (seq) {
          // The default verdict is the service's; --verdict model changes nothing but the verdict.
          assert.equal(JSON.parse(text).verdict, serviceVerdict(seq), `${file}:${i} service verdict`);
          assert.equal(asModel['verdict'], seq.finding.verdict, `${file}:${i} model verdict`);
          assert.deepEqual({ ...asModel, verdict: null }, { ...JSON.parse(text), verdict: null });
          if (JSON.parse(text).verdict !== asModel['verdict'])
            differ[asModel['verdict'] === 'benign' ? 'flagged' : 'suppressed']++;
        } else assert.equal(modelLines[i], text);
        const o = JSON.parse(text) as Record<string, unknown>;
        assert.equal(o['row'], i, `${file}: row order`);
        if (o['error'] !== undefined) {
          assert.deepEqual(Object.keys(o), ['row', 'sequence_id', 'score', 'verdict', 'tactic', 'error']);
          assert.equal(o['sequence_id'], null);
          return;
        }
        assert.deepEqual(Object.keys(o), ['row', 'sequence_id', 'score', 'verdict', 'tactic']);
        assert.match(o['sequence_id'] as string, UUID, `${file}:${i}`);
        const score = o['score'] as number;
        assert.ok(typeof score === 'number' && score >= 0 && score <= 1, `${file}:${i} score ${score}`);
        assert.ok(o['verdict'] === 'malicious' || o['verdict'] === 'benign');
        assert.ok(o['tactic'] === null || /^TA\d{4}$/.test(o['tactic'] as string));
        if (asModel['verdict'] === 'benign') {
          // A benign model verdict names a tactic only when a rule's flag added it: an inbound scan (TA0043)
          // or a fan-out scan (TA0007), both flagged as scan, reflection (TA0040), or credential
          // guessing (TA0006, flagged as brute force).
          const flags = result.sequences[result.rows[i]?.sequence ?? -1]?.flags ?? [];
          const ruleTactic = {
            TA0043: 'scan',
            TA0007: 'scan',
            TA0040: 'reflection',
            TA0006: 'brute_force',
          }[o['tactic'] as string];
          if (o['tactic'] !== null) assert.ok(ruleTactic && flags.includes(ruleTactic), `${file}:${i}`);
        }
        const prev = scoreOf.get(o['sequence_id'] as string);
        if (prev !== undefined) assert.equal(score, prev, 'the flows of one sequence share its score');
        scoreOf.set(o['sequence_id'] as string, score);
      });
      assert.equal(result.stats.rows, lines.length);
    }
    // The verdicts part in these files: flags the model let through (a built-in rule's suppression
    // of an alert is in the mDNS test below).
    assert.ok(differ.flagged > 0, JSON.stringify(differ));
  });

  it('never uses label or attack columns: scores are identical with them altered or removed', async () => {
    const src = sharedPath('testdata/labeled/iot23/CTU-Malware-Capture-20-1-labeled.csv');
    const rows = readFileSync(src, 'utf8')
      .split(/\r?\n/)
      .filter((l) => l !== '');
    const header = splitCsvLine(rows[0] as string);
    const li = header.indexOf('label');
    const di = header.indexOf('detailed-label');
    assert.ok(li > 0 && di > 0);
    const body = rows.slice(1).map((r) => splitCsvLine(r));
    const flipped = [
      header,
      ...body.map((f) =>
        f.map((v, i) =>
          i === li
            ? v === 'Malicious'
              ? 'Benign'
              : 'Malicious'
            : i === di
              ? 'PartOfAHorizontalPortScan'
              : v,
        ),
      ),
    ];
    const dropped = [header, ...body].map((f) => f.filter((_, i) => i !== li && i !== di));
    const write = async (name: string, table: string[][]) => {
      const p = join(tmp, name);
      await writeFile(p, `${table.map((f) => f.join(',')).join('\n')}\n`);
      return p;
    };
    // A Tempo CSV with label and attack columns, derived from the same flows.
    const tempo = (labels: 'keep' | 'swap' | 'none') => {
      const h = [
        'timestamp',
        'flow_dur',
        'src_ip',
        'dest_ip',
        'src_port',
        'dest_port',
        'fwd_bytes',
        'bwd_bytes',
        'total_fwd_pkts',
        'total_bwd_pkts',
        'protocol',
      ];
      const col = (n: string) => header.indexOf(n);
      const out = [labels === 'none' ? h : [...h, 'label', 'attack']];
      for (const f of body) {
        const num = (n: string) => (f[col(n)] === '' || f[col(n)] === '-' ? '0' : (f[col(n)] as string));
        const proto = { tcp: '6', udp: '17', icmp: '1' }[f[col('proto')] as string] ?? '0';
        const base = [
          f[col('ts')] as string,
          num('duration'),
          f[col('id.orig_h')] as string,
          f[col('id.resp_h')] as string,
          num('id.orig_p'),
          num('id.resp_p'),
          num('orig_bytes'),
          num('resp_bytes'),
          num('orig_pkts'),
          num('resp_pkts'),
          proto,
        ];
        const mal = f[li] === 'Malicious';
        if (labels === 'none') out.push(base);
        else
          out.push([
            ...base,
            String(Number(labels === 'swap' ? !mal : mal)),
            labels === 'swap' ? 'DDoS' : mal ? 'C&C' : 'benign',
          ]);
      }
      return out;
    };
    const variants = {
      original: src,
      flipped: await write('flipped.csv', flipped),
      dropped: await write('dropped.csv', dropped),
      tempo: await write('tempo.csv', tempo('keep')),
      tempoSwapped: await write('tempo-swapped.csv', tempo('swap')),
      tempoNone: await write('tempo-none.csv', tempo('none')),
    };
    const lines: Record<string, string[]> = {};
    for (const [name, path] of Object.entries(variants)) {
      const r = await scoreFlowFile(path, detector);
      lines[name] = r.rows.map((row) => perFlowLine(row, r.sequences));
      assert.equal(lines[name]?.length, body.length, name);
    }
    assert.deepEqual(lines['flipped'], lines['original']);
    assert.deepEqual(lines['dropped'], lines['original']);
    assert.deepEqual(lines['tempoSwapped'], lines['tempo']);
    assert.deepEqual(lines['tempoNone'], lines['tempo']);
  });

  it('the CLI prints exactly one line per row on stdout, a rejected row included', async () => {
    const src = readFileSync(
      sharedPath('testdata/labeled/iot23/CTU-Honeypot-Capture-7-1-labeled.csv'),
      'utf8',
    )
      .split('\n')
      .filter((l) => l !== '');
    // Row 3 gets an impossible port: the importer rejects it, the output still has its line.
    const bad = splitCsvLine(src[4] as string);
    bad[3] = '70000';
    const file = join(tmp, 'with-bad-row.csv');
    await writeFile(file, `${[...src.slice(0, 4), bad.join(','), ...src.slice(5)].join('\n')}\n`);
    const { stdout, stderr } = await run(
      'pnpm',
      ['--silent', 'tidewatch', 'score', '--per-flow', '--format', 'zeek-csv', file],
      {
        cwd: REPO_ROOT,
        maxBuffer: 1 << 26,
      },
    );
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.length, src.length - 1);
    for (const [i, l] of lines.entries()) assert.equal((JSON.parse(l) as { row: number }).row, i);
    const rejected = JSON.parse(lines[3] as string) as Record<string, unknown>;
    assert.equal(rejected['sequence_id'], null);
    assert.equal(rejected['score'], null);
    assert.match(rejected['error'] as string, /with-bad-row\.csv:5: .*70000/);
    assert.match(stderr, /130 rows \(129 imported, 1 rejected\)/);
    assert.match(stderr, /\ntidewatch: first rejected row: .*with-bad-row\.csv:5: .*70000/);
    assert.match(stderr, /\d+ sequences \(\d+ raised, \d+ of them by the model's verdict\)/);
  });

  it('--flag-thresholds sets a flag threshold per sub-score, as TIDEWATCH_INFERENCE_FLAG_THRESHOLDS does', async () => {
    // IoT-23 21-1: devices' lookups to their gateway score beacon 0.80-0.89 (builtin:infrastructure-rhythm
    // suppresses them, but the flag itself is the Detector's).
    const file = sharedPath('testdata/labeled/iot23/CTU-Malware-Capture-21-1-labeled.csv');
    const beacons = async (extra: string[]) =>
      (await scoreFile(parseScoreArgs([...extra, file]))).result.sequences.filter((x) =>
        x.flags.includes('beacon'),
      );
    const at08 = await beacons([]);
    assert.ok(at08.length >= 10, `${at08.length} beacon flags at 0.8`);
    const at09 = await beacons(['--flag-thresholds', 'beacon=0.9']);
    const over = at08.filter((x) => x.finding.explanation.subscores.beacon >= 0.9);
    assert.ok(over.length < at08.length);
    assert.deepEqual(
      at09.map((x) => x.finding.sequence_id),
      over.map((x) => x.finding.sequence_id),
    );
    assert.throws(() => parseScoreArgs(['--flag-thresholds', 'beacon', file]), {
      message: '--flag-thresholds: "beacon" is not name=number (e.g. beacon=0.9)',
    });
    await assert.rejects(
      scoreFile(parseScoreArgs(['--flag-thresholds', 'beacons=0.9', file])),
      (e: unknown) => {
        return (
          e instanceof UsageError &&
          /^--flag-thresholds \{"beacons":0.9\}: expected numbers 0-1/.test(e.message)
        );
      },
    );
  });

  it('a missing or unreadable file is one line naming it on stderr and exit 1, no stack trace', async () => {
    const empty = join(tmp, 'empty.csv');
    await writeFile(empty, '');
    const missing = join(tmp, 'no-such-file.csv');
    for (const [file, message] of [
      [missing, `tidewatch: ENOENT: no such file or directory, open '${missing}'`],
      [empty, `tidewatch: ${empty}: cannot tell the format from its first line; pass --format`],
    ] as const) {
      const failed = await run('pnpm', ['--silent', 'tidewatch', 'score', '--per-flow', file], {
        cwd: REPO_ROOT,
      }).then(
        () => assert.fail(`${file}: expected a failure`),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      assert.equal(failed.code, 1, file);
      assert.equal(failed.stdout, '');
      assert.equal(failed.stderr, `${message}\n`);
    }
  });

  it('--verdict picks whose decision a line states; anything else is a usage error', async () => {
    assert.equal(parseScoreArgs(['--per-flow', 'f.csv']).verdict, 'service');
    assert.equal(parseScoreArgs(['--per-flow', '--verdict', 'model', 'f.csv']).verdict, 'model');
    assert.throws(
      () => parseScoreArgs(['--per-flow', '--verdict', 'rules', 'f.csv']),
      (e: unknown) =>
        e instanceof UsageError && /unknown --verdict 'rules' \(known: service, model\)/.test(e.message),
    );
  });

  it('evaluate scores what the service raises: the verdict or a sub-score at the flag threshold', async () => {
    const file = sharedPath('testdata/labeled/ctu50_normal-43_day1/conn.log.labeled');
    const result = await scoreFlowFile(file, detector);
    const { perSequence, alerts } = evaluateOffline(result);
    const raised = result.sequences.map((s) => serviceVerdict(s) === 'malicious');
    let tp = 0;
    let fp = 0;
    for (const [i, s] of result.sequences.entries()) {
      if (raised[i] && s.finding.label === 1) tp++;
      if (raised[i] && s.finding.label === 0) fp++;
    }
    assert.equal(alerts.perSequence.tp, tp);
    assert.equal(alerts.perSequence.fp, fp);
    // ctu50-normal-43-day1's sub-score flags raise benign sequences the model lets through (EVALUATION.md).
    assert.ok(alerts.perSequence.fp > perSequence.fp, `${alerts.perSequence.fp} > ${perSequence.fp}`);
    assert.equal(
      alerts.perSequence.tp + alerts.perSequence.fn,
      perSequence.tp + perSequence.fn,
      'the same labelled sequences',
    );
  });

  it('evaluate leaves out what a built-in rule suppresses, as the service does (mDNS inside a fan-out)', async () => {
    // One host's unanswered mDNS queries: to 30 hosts and to the mDNS group 224.0.0.251, all benign.
    // The 31 destinations make every sequence a scan flag; the group's is the one the rule suppresses.
    const rows = [
      'timestamp,flow_dur,src_ip,dest_ip,src_port,dest_port,fwd_bytes,bwd_bytes,total_fwd_pkts,total_bwd_pkts,label,protocol',
    ];
    const t0 = 1_700_000_000;
    for (let k = 1; k <= 30; k++) rows.push(`${t0 + k},0,10.0.0.5,10.0.1.${k},5353,5353,120,0,1,0,0,17`);
    rows.push(`${t0 + 31},0,10.0.0.5,224.0.0.251,5353,5353,120,0,1,0,0,17`);
    const dir = await mkdtemp(join(tmpdir(), 'tw-evaluate-'));
    try {
      const file = join(dir, 'mdns.csv');
      await writeFile(file, `${rows.join('\n')}\n`);
      const result = await scoreFlowFile(file, detector);
      assert.equal(result.sequences.length, 31);
      assert.ok(result.sequences.every((s) => s.alert && s.finding.explanation.subscores.scan >= 0.8));
      const withRules = evaluateOffline(result).alerts.perSequence;
      const without = evaluateOffline(result, []).alerts.perSequence;
      assert.deepEqual([withRules.fp, withRules.tn], [30, 1]);
      assert.deepEqual([without.fp, without.tn], [31, 0]);
      // score --per-flow states the same: the 30 hosts' rows malicious, the group's benign; the
      // group's Finding is recorded as the service records it.
      const verdicts = result.rows.map((r) => JSON.parse(perFlowLine(r, result.sequences)).verdict);
      assert.deepEqual(verdicts, [...Array(30).fill('malicious'), 'benign']);
      assert.deepEqual(
        result.sequences.map((s) => [s.finding.dst_ip, s.finding.status, s.finding.suppressed_by]),
        [
          ...Array.from({ length: 30 }, (_, k) => [`10.0.1.${k + 1}`, 'new', null]),
          ['224.0.0.251', 'suppressed', 'builtin:local-discovery'],
        ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a busy server's sampled sFlow replies are not a silent fan-out (subscores.v5); v4 and unsampled are", async () => {
    // 60 clients of a web server, seen through 1-in-1000 sFlow: each sampled reply met no sampled
    // request, so it is a one-flow sequence from the server with nothing back, toward 60 hosts.
    const records = (rate: number): string =>
      Array.from({ length: 60 }, (_, k) =>
        JSON.stringify({
          exporter: '192.0.2.1',
          observation_domain: 0,
          source_format: 'sflow5',
          start_ms: 1_700_000_000_000 + 1_000 * k,
          end_ms: 1_700_000_000_000 + 1_000 * k,
          protocol: 6,
          src_ip: '203.0.113.80',
          dst_ip: `10.0.2.${k + 1}`,
          src_port: 8080,
          dst_port: 40_000 + k,
          fwd_bytes: 1_500,
          fwd_pkts: 1,
          bwd_bytes: 0,
          bwd_pkts: 0,
          tcp_flags: 0x10,
          sampling_rate: rate,
        }),
      ).join('\n');
    const dir = await mkdtemp(join(tmpdir(), 'tw-sflow-'));
    try {
      const sampled = join(dir, 'sflow.jsonl');
      const unsampled = join(dir, 'netflow.jsonl');
      await writeFile(sampled, `${records(1_000)}\n`);
      await writeFile(unsampled, `${records(1)}\n`);
      const scanFlags = async (file: string, d: Detector) =>
        (await scoreFlowFile(file, d, { format: 'flows' })).sequences.filter((s) => s.flags.includes('scan'))
          .length;
      const v4 = new Detector(host, { subScores: 'v4' });
      const result = await scoreFlowFile(sampled, detector, { format: 'flows' });
      assert.equal(result.sequences.length, 60);
      assert.ok(result.sequences.every((s) => s.finding.explanation.subscores.scan === 0));
      assert.equal(await scanFlags(sampled, detector), 0);
      assert.equal(await scanFlags(sampled, v4), 60);
      assert.equal(await scanFlags(unsampled, detector), 60);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('one TCP session exported per active timeout raises nothing: the model and sub-scores read connections', async () => {
    // Idle sessions as a router exports them: a record per active timeout, one port pair each, 20
    // minutes (four windows). Records alone looked like a rhythm and like repeated logins.
    const session = (
      timeoutMs: number,
      dstPort: number,
      srcPort: number,
      bytes: number,
      protocol = 6,
    ): string[] =>
      Array.from({ length: 1_200_000 / timeoutMs }, (_, k) =>
        JSON.stringify({
          exporter: '192.0.2.1',
          observation_domain: 0,
          source_format: 'netflow9',
          start_ms: 1_794_999_900_000 + timeoutMs * k,
          end_ms: 1_794_999_900_000 + timeoutMs * (k + 1) - 100,
          protocol,
          src_ip: '10.1.2.3',
          dst_ip: '10.9.8.7',
          src_port: srcPort,
          dst_port: dstPort,
          fwd_bytes: bytes + (k % 2) * 36,
          fwd_pkts: 3,
          bwd_bytes: bytes,
          bwd_pkts: 3,
          tcp_flags: protocol !== 6 ? 0 : k === 0 ? 0x1a : 0x18,
          sampling_rate: 1,
        }),
      );
    const dir = await mkdtemp(join(tmpdir(), 'tw-timeout-'));
    try {
      const postgres = join(dir, 'postgres-30s.jsonl');
      const ssh = join(dir, 'ssh-60s.jsonl');
      await writeFile(postgres, `${session(30_000, 5432, 51_515, 120).join('\n')}\n`);
      await writeFile(ssh, `${session(60_000, 22, 51_514, 156).join('\n')}\n`);
      // A WireGuard tunnel (UDP): its records tile, 100 ms apart, so they are one stream.
      const wireguard = join(dir, 'wireguard-30s.jsonl');
      await writeFile(wireguard, `${session(30_000, 51_820, 51_820, 592, 17).join('\n')}\n`);
      const raised = async (file: string, d: Detector) =>
        (await scoreFlowFile(file, d, { format: 'flows' })).sequences.filter((x) => x.alert).length;
      const records = new Detector(host, { modelInput: 'records', subScores: 'v5' });
      assert.equal((await scoreFlowFile(postgres, detector, { format: 'flows' })).sequences.length, 4);
      assert.equal(await raised(postgres, detector), 0);
      assert.equal(await raised(ssh, detector), 0);
      assert.equal(await raised(wireguard, detector), 0);
      assert.equal(await raised(wireguard, records), 4);
      // Before: the model called the PostgreSQL session malicious and v5 flagged SSH brute force.
      const before = await scoreFlowFile(postgres, records, { format: 'flows' });
      assert.ok(before.sequences.every((x) => x.finding.verdict === 'malicious'));
      assert.equal(await raised(ssh, new Detector(host, { subScores: 'v5' })), 4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('firewall events that count bytes, not packets (NSEL) are answered connections, not silent scans', async () => {
    // Cisco ASA / FTD NSEL teardowns: initiator and responder bytes, no packet counts. 30 clients of
    // one HTTPS server, then one client browsing 30 servers; every connection answered with ~40 kB.
    const record = (src: string, dst: string, startMs: number, srcPort: number, bwdBytes: number) =>
      JSON.stringify({
        exporter: '192.0.2.254',
        observation_domain: 0,
        source_format: 'netflow9',
        start_ms: startMs,
        end_ms: startMs + 4_000,
        protocol: 6,
        src_ip: src,
        dst_ip: dst,
        src_port: srcPort,
        dst_port: 443,
        fwd_bytes: 1_800,
        fwd_pkts: 0,
        bwd_bytes: bwdBytes,
        bwd_pkts: 0,
        tcp_flags: 0,
        sampling_rate: 1,
      });
    const t0 = 1_794_999_900_000;
    const rows = [
      ...Array.from({ length: 30 }, (_, c) =>
        record(`10.2.0.${c + 1}`, '203.0.113.10', t0 + 5_000 * c, 50_000 + c, 48_000),
      ),
      ...Array.from({ length: 30 }, (_, d) =>
        record('10.2.1.50', `198.51.100.${d + 1}`, t0 + 3_000 * d, 40_000 + d, 30_000),
      ),
    ];
    const dir = await mkdtemp(join(tmpdir(), 'tw-nsel-'));
    try {
      const file = join(dir, 'nsel.jsonl');
      await writeFile(file, `${rows.join('\n')}\n`);
      const flagged = async (d: Detector) =>
        (await scoreFlowFile(file, d, { format: 'flows' })).sequences.filter((x) => x.flags.includes('scan'))
          .length;
      assert.equal(await flagged(detector), 0);
      assert.equal(await flagged(new Detector(host, { subScores: 'v5' })), 60);
      // The CLI reproduces a service configured either way (--sub-scores, --model-input).
      const cli = async (...extra: string[]) =>
        (await scoreFile(parseScoreArgs(['--format', 'flows', ...extra, file]))).result.sequences.filter(
          (x) => x.flags.includes('scan'),
        ).length;
      assert.equal(await cli(), 0);
      assert.equal(await cli('--sub-scores', 'v5', '--model-input', 'records'), 60);
      await assert.rejects(
        cli('--sub-scores', 'v9'),
        new UsageError('--sub-scores "v9": expected one of v1, v2, v3, v4, v5, v6, v7'),
      );
      await assert.rejects(
        cli('--model-input', 'flows'),
        new UsageError('--model-input "flows": expected connections or records'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exporter events that counted no traffic (NAT event logging, NSEL flow-created) are in no sequence', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-events-'));
    try {
      // A real NAT event log (akvorado's nat.pcap, NetFlow v9 natEvent records, no counters) through
      // `tidewatch decode`: every row is such an event, so nothing is sequenced and each row says why.
      const decoded = join(dir, 'nat.jsonl');
      const { stdout } = await run(
        'pnpm',
        ['--silent', 'tidewatch', 'decode', sharedPath('testdata/flows/ak-nf9-nat-events/nat.pcap')],
        { cwd: REPO_ROOT, maxBuffer: 1 << 24 },
      );
      await writeFile(decoded, stdout);
      const nat = await scoreFlowFile(decoded, detector, { format: 'flows' });
      assert.equal(nat.stats.imported, 9);
      assert.equal(nat.stats.notFlows, 9);
      assert.equal(nat.sequences.length, 0);
      const cli = await run('pnpm', ['--silent', 'tidewatch', 'score', '--format', 'flows', decoded], {
        cwd: REPO_ROOT,
      });
      assert.equal(cli.stdout, '');
      assert.match(
        cli.stderr,
        /9 rows \(9 imported, 0 rejected\), 9 not flows \(exporter events, IPv6 link control: in no sequence\), 0 sequences/,
      );
      assert.deepEqual(JSON.parse(perFlowLine(nat.rows[0] as RowOutcome, nat.sequences)), {
        row: 0,
        sequence_id: null,
        score: null,
        verdict: null,
        tactic: null,
        error: NOT_A_FLOW.event,
      });

      // A NAT gateway logging one client's 40 HTTPS connections (NAT44 session create 4 / delete 5),
      // a firewall's NSEL for 30 more (flow created 1 with nothing counted, teardown 2 with the
      // counts: bytes only, as NSEL counts), and a denied sweep of 30 ports (denied 3: still a scan).
      const t0 = 1_794_999_900_000;
      const record = (o: {
        src: string;
        dst: string;
        startMs: number;
        srcPort: number;
        dstPort: number;
        fwdBytes?: number;
        bwdBytes?: number;
        extra: Record<string, string>;
      }) =>
        JSON.stringify({
          exporter: '192.0.2.254',
          observation_domain: 0,
          source_format: 'netflow9',
          start_ms: o.startMs,
          end_ms: o.startMs,
          protocol: 6,
          src_ip: o.src,
          dst_ip: o.dst,
          src_port: o.srcPort,
          dst_port: o.dstPort,
          fwd_bytes: o.fwdBytes ?? 0,
          fwd_pkts: 0,
          bwd_bytes: o.bwdBytes ?? 0,
          bwd_pkts: 0,
          tcp_flags: 0,
          sampling_rate: 1,
          extra: o.extra,
        });
      const rows: string[] = [];
      for (let d = 0; d < 40; d++) {
        const c = { src: '10.3.0.5', dst: `198.51.100.${d + 1}`, srcPort: 40_000 + d, dstPort: 443 };
        rows.push(record({ ...c, startMs: t0 + 5_000 * d, extra: { natEvent: '4' } }));
        rows.push(record({ ...c, startMs: t0 + 5_000 * d + 30_000, extra: { natEvent: '5' } }));
      }
      for (let d = 0; d < 30; d++) {
        const c = { src: '10.3.0.6', dst: `203.0.113.${d + 1}`, srcPort: 41_000 + d, dstPort: 443 };
        rows.push(record({ ...c, startMs: t0 + 4_000 * d, extra: { firewallEvent: '1' } }));
        rows.push(
          record({
            ...c,
            startMs: t0 + 4_000 * d,
            fwdBytes: 1_800,
            bwdBytes: 30_000,
            extra: { firewallEvent: '2' },
          }),
        );
      }
      for (let p = 0; p < 30; p++)
        rows.push(
          record({
            src: '10.3.0.7',
            dst: '192.0.2.80',
            startMs: t0 + 1_000 * p,
            srcPort: 52_000,
            dstPort: 20 + p,
            extra: { ciscoAsaFwEvent: '3' },
          }),
        );
      const file = join(dir, 'events.jsonl');
      await writeFile(file, `${rows.join('\n')}\n`);
      const result = await scoreFlowFile(file, detector, { format: 'flows' });
      assert.equal(result.stats.imported, 170);
      const bySource = new Map<string, typeof result.sequences>();
      for (const x of result.sequences)
        bySource.set(x.finding.src_ip, [...(bySource.get(x.finding.src_ip) ?? []), x]);
      assert.equal(bySource.get('10.3.0.5'), undefined);
      const nsel = bySource.get('10.3.0.6') ?? [];
      assert.equal(nsel.length, 30);
      for (const x of nsel) {
        assert.equal(x.finding.connections, 1);
        assert.equal(x.finding.bwd_bytes, 30_000);
        assert.deepEqual(x.flags, []);
      }
      const denied = bySource.get('10.3.0.7') ?? [];
      assert.equal(denied.length, 1);
      assert.ok(denied[0]?.flags.includes('scan'));
      const unsequenced = result.rows.filter((r) => r.error === NOT_A_FLOW.event).length;
      assert.equal(unsequenced, 80 + 30);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a firewall connection's update and teardown are one flow: Cisco ASA's NSEL export (ls-nf9-cisco-asa-2)", async () => {
    // The ASA sends a flow-created record (nothing counted), a flow update with the traffic of the
    // last interval and the teardown with the connection's totals, here the same bytes twice.
    const sample = sharedPath('testdata/flows/ls-nf9-cisco-asa-2');
    const { stdout } = await run(
      'pnpm',
      [
        '--silent',
        'tidewatch',
        'decode',
        ...['tpl_26x', 'tpl_27x', 'data'].map((p) => join(sample, `netflow9_test_cisco_asa_2_${p}.dat`)),
      ],
      { cwd: REPO_ROOT, maxBuffer: 1 << 24 },
    );
    const records = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as FlowRecord);
    assert.equal(records.length, 19);
    // Independently of the sequencer: per conversation, each connection counted once (its
    // teardown, else its updates summed), lasting from its creation to its last event.
    const expected = new Map<string, { connections: number; fwd: number; bwd: number }>();
    const byConnection = new Map<string, FlowRecord[]>();
    for (const r of records) {
      const event = r.extra?.['firewallEvent'];
      if (event !== '2' && event !== '5') continue;
      const id = r.extra?.['flowId'] as string;
      byConnection.set(id, [...(byConnection.get(id) ?? []), r]);
    }
    for (const list of byConnection.values()) {
      const teardown = list.find((r) => r.extra?.['firewallEvent'] === '2');
      const counted = teardown ? [teardown] : list;
      const first = list[0] as FlowRecord;
      const key = `${first.src_ip}>${first.dst_ip}`;
      const e = expected.get(key) ?? { connections: 0, fwd: 0, bwd: 0 };
      e.connections++;
      for (const r of counted) {
        e.fwd += r.fwd_bytes;
        e.bwd += r.bwd_bytes;
      }
      expected.set(key, e);
    }
    assert.equal(byConnection.size, 8);
    const updates = records.filter((r) => r.extra?.['firewallEvent'] === '5').length;
    assert.ok(updates >= 6, `${updates} updates`); // the double count this guards against
    for (const r of records)
      if (r.extra?.['firewallEvent'] === '2')
        assert.equal(
          r.end_ms,
          Number(r.extra?.['observationTimeMilliseconds']),
          'teardown ends at its event',
        );

    const dir = await mkdtemp(join(tmpdir(), 'tw-asa-'));
    try {
      const file = join(dir, 'asa.jsonl');
      await writeFile(file, stdout);
      const result = await scoreFlowFile(file, detector, { format: 'flows' });
      const got = new Map<string, { connections: number; fwd: number; bwd: number }>();
      for (const x of result.sequences) {
        const key = `${x.finding.src_ip}>${x.finding.dst_ip}`;
        const g = got.get(key) ?? { connections: 0, fwd: 0, bwd: 0 };
        g.connections += x.finding.connections;
        g.fwd += x.finding.fwd_bytes;
        g.bwd += x.finding.bwd_bytes;
        got.set(key, g);
      }
      assert.deepEqual(got, expected);
      const created = records.filter((r) => r.extra?.['firewallEvent'] === '1').length;
      assert.equal(result.rows.filter((r) => r.error === NOT_A_FLOW.event).length, created);
      const folded = result.rows.filter((r) =>
        r.error?.startsWith('flow was merged into another row'),
      ).length;
      assert.equal(folded, records.length - created - byConnection.size);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('pings through a Cisco ASA are answered exchanges: its ICMP connections each way are stitched (ls-nf9-cisco-asa-1)', async () => {
    // Without ICMP inspection the ASA passes an echo request and its reply as two connections, the
    // ICMP identifier in a port and the type in NF_F_ICMP_TYPE.
    const sample = sharedPath('testdata/flows/ls-nf9-cisco-asa-1');
    const { stdout } = await run(
      'pnpm',
      [
        '--silent',
        'tidewatch',
        'decode',
        ...['tpl', 'data'].map((p) => join(sample, `netflow9_test_cisco_asa_1_${p}.dat`)),
      ],
      { cwd: REPO_ROOT, maxBuffer: 1 << 24 },
    );
    const records = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as FlowRecord);
    // Independently: a request (type 8) whose reply (type 0) came back between the same two hosts
    // with the identifier in the mirrored port.
    const requests = records.filter((r) => r.protocol === 1 && r.icmp_type === 8);
    const answered = requests.filter((q) =>
      records.some(
        (r) =>
          r.icmp_type === 0 && r.src_ip === q.dst_ip && r.dst_ip === q.src_ip && r.dst_port === q.src_port,
      ),
    );
    assert.equal(requests.length, 6);
    assert.equal(answered.length, 6);
    const dir = await mkdtemp(join(tmpdir(), 'tw-asa1-'));
    try {
      const file = join(dir, 'asa1.jsonl');
      await writeFile(file, stdout);
      const result = await scoreFlowFile(file, detector, { format: 'flows' });
      const exchanges = result.sequences.flatMap((x) =>
        x.finding.protocols.includes(1) ? [[x.finding.src_ip, x.finding.dst_ip, x.finding.bwd_bytes]] : [],
      );
      for (const q of answered)
        assert.ok(
          exchanges.some(([src, dst, bwd]) => src === q.src_ip && dst === q.dst_ip && (bwd as number) > 0),
          `${q.src_ip} -> ${q.dst_ip} answered`,
        );
      // Each answered pair is one flow; the rest (a reply whose request came before the capture, a
      // port unreachable) one each.
      const flows = result.sequences.reduce((n, x) => n + x.finding.connections, 0);
      assert.equal(flows, records.length - answered.length);
      assert.equal(result.sequences.filter((x) => x.flags.includes('scan')).length, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('IPv6 neighbour discovery is not a conversation: a router resolving 30 neighbours raises nothing', async () => {
    // NetFlow v9 uniflows of a LAN: the router's neighbour solicitations to solicited-node groups, each
    // neighbour's advertisement back (its own record: another conversation), an MLDv2 report, and one
    // ping the router sends and gets answered. Before rule 0's link_control, every advertisement was a
    // neighbour probing the router: 30 malicious Reconnaissance findings at score 1.0.
    const t0 = 1_794_999_900_000;
    const record = (src: string, dst: string, t: number, type: number) =>
      JSON.stringify({
        exporter: '192.0.2.254',
        observation_domain: 0,
        source_format: 'netflow9',
        start_ms: t0 + t,
        end_ms: t0 + t,
        protocol: 58,
        src_ip: src,
        dst_ip: dst,
        src_port: 0,
        dst_port: type * 256,
        fwd_bytes: 72,
        fwd_pkts: 1,
        bwd_bytes: 0,
        bwd_pkts: 0,
        tcp_flags: 0,
        sampling_rate: 1,
        icmp_type: type,
        icmp_code: 0,
      });
    const rows: string[] = [];
    for (let i = 0; i < 30; i++) {
      const host = `2001:db8::${(i + 16).toString(16)}`;
      rows.push(record('2001:db8::1', `ff02::1:ff00:${(i + 16).toString(16)}`, 2_000 * i, 135));
      rows.push(record(host, '2001:db8::1', 2_000 * i + 1, 136));
    }
    rows.push(record('fe80::5', 'ff02::16', 100, 143));
    rows.push(record('2001:db8::1', '2001:db8::10', 70_000, 128));
    rows.push(record('2001:db8::10', '2001:db8::1', 70_001, 129));
    const dir = await mkdtemp(join(tmpdir(), 'tw-nd-'));
    try {
      const file = join(dir, 'nd.jsonl');
      await writeFile(file, `${rows.join('\n')}\n`);
      const result = await scoreFlowFile(file, detector, { format: 'flows' });
      assert.equal(result.stats.imported, 63);
      assert.equal(result.stats.notFlows, 61);
      assert.deepEqual(
        result.sequences.map((x) => [x.finding.src_ip, x.finding.dst_ip, x.finding.connections]),
        [['2001:db8::1', '2001:db8::10', 1]],
      );
      assert.equal(result.sequences[0]?.finding.bwd_pkts, 1);
      assert.equal(result.rows.filter((r) => r.error === NOT_A_FLOW.link_control).length, 61);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a host answering many others with ICMP errors is no ICMP sweep (subscores.v7); v6 raised each', async () => {
    // NetFlow v9: a firewall's port unreachable to 40 hosts and time exceeded to 30 tracerouting hosts, and
    // the same as Zeek logs it (type as the originator's port, code as the responder's).
    const t0 = 1_794_999_900_000;
    const record = (dst: string, t: number, srcPort: number, dstPort: number, format: string) =>
      JSON.stringify({
        exporter: '192.0.2.254',
        observation_domain: 0,
        source_format: format,
        start_ms: t0 + t,
        end_ms: t0 + t,
        protocol: 1,
        src_ip: '192.0.2.1',
        dst_ip: dst,
        src_port: srcPort,
        dst_port: dstPort,
        fwd_bytes: 56,
        fwd_pkts: 1,
        bwd_bytes: 0,
        bwd_pkts: 0,
        tcp_flags: 0,
        sampling_rate: 1,
      });
    const rows = [
      ...Array.from({ length: 40 }, (_, i) =>
        record(`198.51.100.${i + 1}`, 3_000 * i, 0, 3 * 256 + 3, 'netflow9'),
      ),
      ...Array.from({ length: 30 }, (_, i) => record(`203.0.113.${i + 1}`, 4_000 * i, 11, 0, 'zeek_conn')),
    ];
    const dir = await mkdtemp(join(tmpdir(), 'tw-icmp-errors-'));
    try {
      const file = join(dir, 'errors.jsonl');
      await writeFile(file, `${rows.join('\n')}\n`);
      const scans = async (d: Detector) =>
        (await scoreFlowFile(file, d, { format: 'flows' })).sequences.filter((x) => x.flags.includes('scan'))
          .length;
      assert.equal(await scans(detector), 0);
      assert.equal(await scans(new Detector(host, { subScores: 'v6' })), 70);
      // An echo sweep is still one: the same host pinging the 40 instead.
      const pings = rows.slice(0, 40).map((l) => l.replace('"dst_port":771', `"dst_port":${8 * 256}`));
      await writeFile(file, `${pings.join('\n')}\n`);
      assert.equal(await scans(detector), 40);
      // IPFIX with icmpTypeIPv4 / icmpCodeIPv4 and sFlow's decoded header: ports 0, the type in its own
      // field. The sequencer reads it as NetFlow's port, so port unreachable is no sweep there either.
      const own = rows
        .slice(0, 40)
        .map((l) => l.replace('"dst_port":771', '"dst_port":0,"icmp_type":3,"icmp_code":3'));
      for (const format of ['ipfix', 'sflow5']) {
        await writeFile(file, `${own.map((l) => l.replace('netflow9', format)).join('\n')}\n`);
        const result = await scoreFlowFile(file, detector, { format: 'flows' });
        assert.equal(result.sequences.length, 40, format);
        assert.equal(result.sequences.filter((x) => x.flags.includes('scan')).length, 0, format);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('argus flows with total packets only (CTU-13 binetflow) are answered when bytes came back', async () => {
    // TotPkts without a split: the importer counts them forward, so bwd_pkts is 0 beside ~22 kB back.
    const lines = [
      'StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label',
    ];
    for (let d = 0; d < 30; d++)
      lines.push(
        `2011/08/10 09:46:${String(d).padStart(2, '0')}.000000,1.5,tcp,147.32.84.165,${40_000 + d},   ->,74.125.${d}.10,443,SRPA_SPA,0,0,20,24000,1800,flow=Background-TCP-Established`,
      );
    const dir = await mkdtemp(join(tmpdir(), 'tw-argus-'));
    try {
      const file = join(dir, 'capture.binetflow');
      await writeFile(file, `${lines.join('\n')}\n`);
      const scans = async (d: Detector) =>
        (await scoreFlowFile(file, d, { format: 'argus' })).sequences.filter((x) => x.flags.includes('scan'))
          .length;
      assert.equal(await scans(detector), 0);
      assert.equal(await scans(new Detector(host, { subScores: 'v5' })), 30);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('cloud flow logs log each direction apart: the two records of a connection are one biflow', async () => {
    // AWS VPC flow logs (default v2 format): a client of 30 HTTPS servers, each connection logged
    // once per direction in one capture window. Unstitched, each was an unanswered look and a
    // server's one-way reply: a fan-out scan and 30 reply-shaped sequences.
    const t0 = 1_794_999_900;
    const lines = [
      'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status',
    ];
    for (let d = 0; d < 30; d++) {
      const dst = `10.0.9.${d + 1}`;
      lines.push(
        `2 123456789012 eni-0a1b 10.0.1.5 ${dst} ${40_000 + d} 443 6 12 1800 ${t0 + 5 * d} ${t0 + 5 * d + 4} ACCEPT OK`,
      );
      lines.push(
        `2 123456789012 eni-0a1b ${dst} 10.0.1.5 443 ${40_000 + d} 6 20 24000 ${t0 + 5 * d} ${t0 + 5 * d + 4} ACCEPT OK`,
      );
    }
    const dir = await mkdtemp(join(tmpdir(), 'tw-aws-'));
    try {
      const file = join(dir, 'vpc.log');
      await writeFile(file, `${lines.join('\n')}\n`);
      const result = await scoreFlowFile(file, detector, { format: 'aws' });
      assert.equal(result.stats.imported, 60);
      assert.equal(result.sequences.length, 30);
      for (const x of result.sequences) {
        assert.equal(x.finding.src_ip, '10.0.1.5');
        assert.equal(x.finding.bwd_bytes, 24_000);
        assert.deepEqual(x.flags, []);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('evaluate reports per-flow and per-sequence metrics with confusion counts', async () => {
    const file = sharedPath('testdata/labeled/iot23/CTU-Malware-Capture-20-1-labeled.csv');
    const { stdout } = await run('pnpm', ['--silent', 'tidewatch', 'evaluate', '--data', file, '--json'], {
      cwd: REPO_ROOT,
    });
    const report = JSON.parse(stdout) as {
      rows: number;
      per_flow: Record<string, number | null>;
      per_sequence: Record<string, number | null>;
      alerts_per_sequence: Record<string, number | null>;
    };
    assert.equal(report.rows, 3209);
    assert.ok((report.alerts_per_sequence['tp'] as number) >= (report.per_sequence['tp'] as number));
    const pf = report.per_flow;
    assert.equal((pf['tp'] as number) + (pf['fn'] as number), 16, 'README: 16 malicious rows');
    assert.equal(
      (pf['tp'] as number) +
        (pf['fp'] as number) +
        (pf['tn'] as number) +
        (pf['fn'] as number) +
        (pf['excluded'] as number),
      3209,
    );
    for (const m of [pf, report.per_sequence]) {
      for (const k of ['accuracy', 'precision', 'recall', 'f1', 'fpr']) {
        const v = m[k];
        assert.ok(v === null || (typeof v === 'number' && v >= 0 && v <= 1), `${k}=${v}`);
      }
      const fp = m['fp'] as number;
      const tn = m['tn'] as number;
      if (fp + tn > 0) assert.equal(m['fpr'], fp / (fp + tn));
    }
    // The text report names whose decision each block is, and which one score --per-flow states.
    const text = (
      await run('pnpm', ['--silent', 'tidewatch', 'evaluate', '--data', file], { cwd: REPO_ROOT })
    ).stdout;
    const blocks = text.split('\n').filter((l) => l.endsWith(':'));
    assert.deepEqual(blocks, [
      'model verdict, per flow:',
      'model verdict, per sequence:',
      "service alerts (verdict or sub-score flag: score --per-flow's verdict), per flow:",
      'service alerts, per sequence:',
    ]);
    const sa = report.alerts_per_sequence;
    assert.match(text, new RegExp(`TP ${sa['tp']} {2}FP ${sa['fp']} {2}TN ${sa['tn']} {2}FN ${sa['fn']}`));
  });
});
