import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FlowRecord } from '@tidewatch/contracts';
import { needsShared, sharedPath } from '@tidewatch/testing';
import { type ImportFormat, readFlowFile } from '../src/index.ts';

const labeled = (...p: string[]) => sharedPath('testdata', 'labeled', ...p);

interface FileResult {
  format: ImportFormat | undefined;
  stats: { rows: number; imported: number; rejected: number; skipped: number };
  flows: FlowRecord[];
  errors: string[];
  /** `label:attack` → count */
  classes: Record<string, number>;
}

async function importAll(path: string): Promise<FileResult> {
  const reader = readFlowFile(path);
  const flows: FlowRecord[] = [];
  const errors: string[] = [];
  const classes: Record<string, number> = {};
  let expectedRow = 0;
  for await (const r of reader) {
    assert.equal(r.row, expectedRow++, 'rows come out numbered 0, 1, 2... in input order');
    if (r.flow) {
      flows.push(r.flow);
      const k = `${r.flow.label}:${r.flow.attack}`;
      classes[k] = (classes[k] ?? 0) + 1;
    } else errors.push(r.error);
  }
  return { format: reader.format, stats: { ...reader.stats }, flows, errors, classes };
}

function assertAccounted(r: FileResult, rows: number): void {
  assert.equal(r.stats.rows, rows);
  assert.equal(r.stats.rows, r.stats.imported + r.stats.rejected);
  assert.equal(r.flows.length, r.stats.imported);
  assert.equal(r.errors.length, r.stats.rejected);
  assert.deepEqual(r.errors, []);
}

/** Sums class counts by label only (the README's totals). */
function byLabel(classes: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(classes)) {
    const label = k.split(':')[0]!;
    out[label] = (out[label] ?? 0) + n;
  }
  return out;
}

describe('labelled data sets import with the README class counts', needsShared(), () => {
  it('flowprep parquet: 101,094 rows, label 0 = 81,171 / 1 = 19,923, no protocol column', async () => {
    const r = await importAll(labeled('cic-ids2017_deeptempo-flowprep', 'cic2017_sample.parquet'));
    assert.equal(r.format, 'parquet');
    assertAccounted(r, 101_094);
    assert.deepEqual(r.classes, { '0:benign': 81_171, '1:attack': 19_923 });
    assert.deepEqual(r.flows[0], {
      exporter: 'file:cic2017_sample.parquet',
      observation_domain: 0,
      source_format: 'parquet',
      start_ms: Date.UTC(2017, 2, 7, 8, 55, 58),
      end_ms: Date.UTC(2017, 2, 7, 8, 55, 58),
      protocol: 0,
      src_ip: '8.254.250.126',
      dst_ip: '192.168.10.5',
      src_port: 80,
      dst_port: 49188,
      fwd_bytes: 12,
      fwd_pkts: 2,
      bwd_bytes: 0,
      bwd_pkts: 0,
      tcp_flags: 0,
      sampling_rate: 1,
      label: 0,
      attack: 'benign',
    });
    assert.ok(r.flows.every((f) => f.protocol === 0));
  });

  it('CIC-IDS2017 improved (CNS2022): 16 files, 43,419 rows, every class count', async () => {
    const expected: Record<string, number> = {
      BENIGN_5000: 5000,
      DDoS_5000: 5000,
      DoS_Hulk_5000: 5000,
      DoS_GoldenEye_5000: 5000,
      Portscan_5000: 5000,
      'Infiltration_-_Portscan_5000': 5000,
      'FTP-Patator_3972': 3972,
      DoS_Slowloris_3859: 3859,
      'SSH-Patator_2961': 2961,
      DoS_Slowhttptest_1740: 1740,
      Botnet_736: 736,
      'Web_Attack_-_Brute_Force_73': 73,
      Infiltration_36: 36,
      'Web_Attack_-_XSS_18': 18,
      'Web_Attack_-_SQL_Injection_13': 13,
      Heartbleed_11: 11,
    };
    let total = 0;
    for (const [name, rows] of Object.entries(expected)) {
      const r = await importAll(labeled('cic-ids2017_improved_cns2022', `${name}.csv`));
      assert.equal(r.format, 'cic');
      assertAccounted(r, rows);
      const attack = name.replace(/_\d+$/, '').replace(/_/g, ' ');
      assert.deepEqual(r.classes, { [`${attack === 'BENIGN' ? 0 : 1}:${attack}`]: rows }, name);
      total += rows;
    }
    assert.equal(total, 43_419);
  });

  it('CIC Heartbleed row 0: µs duration, UTC timestamp, flags from the flag counts', async () => {
    const r = await importAll(labeled('cic-ids2017_improved_cns2022', 'Heartbleed_11.csv'));
    const start = Date.UTC(2017, 6, 5, 18, 12, 15) * 1000 + 650_811;
    const f = r.flows[0]!;
    assert.equal(f.start_ms, Math.floor(start / 1000));
    assert.equal(f.end_ms, Math.floor((start + 119_302_728) / 1000));
    assert.equal(f.src_ip, '172.16.0.1');
    assert.equal(f.src_port, 45022);
    assert.equal(f.dst_ip, '192.168.10.51');
    assert.equal(f.dst_port, 444);
    assert.equal(f.protocol, 6);
    assert.deepEqual([f.fwd_pkts, f.bwd_pkts, f.fwd_bytes, f.bwd_bytes], [2685, 1729, 8299, 7_556_917]);
    assert.equal(f.tcp_flags, 0x02 | 0x08 | 0x10);
    assert.equal(f.label, 1);
    assert.equal(f.attack, 'Heartbleed');
    assert.equal(f.source_format, 'cic_csv');
  });

  it('CTU-50 conn.log.labeled: label/detailedlabel counts, Background unlabelled', async () => {
    const cases: [string, number, Record<string, number>][] = [
      [
        'ctu50_normal-40_day1',
        5663,
        {
          '1:External-Attack-to-Device': 4201,
          '0:Microsoft': 652,
          '0:ESET': 604,
          '0:Dropbox': 135,
          '0:Cert-Validation': 11,
          'null:null': 60,
        },
      ],
      [
        'ctu50_normal-42_day2',
        5347,
        {
          '1:External-Attack-to-Device': 3373,
          '0:null': 1689,
          '0:Microsoft': 245,
          '0:Cert-Validation': 3,
          'null:null': 37,
        },
      ],
      [
        'ctu50_normal-43_day1',
        9048,
        {
          '1:External-Attack-to-Device': 3951,
          '0:null': 4652,
          '0:Microsoft': 111,
          '0:Cert-Validation': 8,
          'null:null': 326,
        },
      ],
    ];
    for (const [dir, rows, classes] of cases) {
      const r = await importAll(labeled(dir, 'conn.log.labeled'));
      assert.equal(r.format, 'zeek');
      assertAccounted(r, rows);
      assert.deepEqual(r.classes, classes, dir);
    }
  });

  it('CTU-50 day 1 row 0: Zeek TSV values, history → TCP flags, extra fields', async () => {
    const r = await importAll(labeled('ctu50_normal-40_day1', 'conn.log.labeled'));
    const f = r.flows[0]!;
    assert.equal(f.start_ms, 1_655_071_198_444);
    assert.equal(f.end_ms, Math.floor((1_655_071_198_444_458 + 1_135_424) / 1000));
    assert.deepEqual(
      [f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.protocol],
      ['147.32.81.167', 62771, '40.74.108.123', 443, 6],
    );
    assert.deepEqual([f.fwd_bytes, f.bwd_bytes, f.fwd_pkts, f.bwd_pkts], [1596, 4039, 14, 16]);
    // ShADdaFf: SYN, SYN-ACK, ACK, data (PSH+ACK), FIN
    assert.equal(f.tcp_flags, 0x02 | 0x10 | 0x08 | 0x01);
    assert.equal(f.label, 0);
    assert.equal(f.attack, 'Microsoft');
    assert.equal(f.extra?.['conn_state'], 'SF');
    assert.equal(f.extra?.['service'], 'ssl');
  });

  it('MCFP Botnet-4: relative timestamps kept, Benign 19,460 / Malicious 3,453, ICMPv6', async () => {
    const r = await importAll(labeled('ctu-malware-capture-botnet-4', 'conn.log.labeled'));
    assertAccounted(r, 22_913);
    assert.deepEqual(byLabel(r.classes), { '0': 19_460, '1': 3_453 });
    const f = r.flows[0]!;
    assert.deepEqual(
      [f.start_ms, f.end_ms, f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.protocol],
      [16_810, 24_818, '10.0.2.19', 53951, '8.8.8.8', 53, 17],
    );
    assert.deepEqual([f.fwd_bytes, f.bwd_bytes, f.fwd_pkts, f.bwd_pkts], [102, 0, 3, 0]);
    assert.equal(f.attack, null);
    const icmp6 = r.flows[2]!;
    assert.deepEqual(
      [
        icmp6.src_ip,
        icmp6.dst_ip,
        icmp6.protocol,
        icmp6.icmp_type,
        icmp6.icmp_code,
        icmp6.end_ms - icmp6.start_ms,
      ],
      ['::', 'ff02::1:ffce:e387', 58, 135, 136, 0],
    );
    const malicious = r.flows.filter((x) => x.label === 1);
    const byProto = (p: number, state: string) =>
      malicious.filter((x) => x.protocol === p && x.extra?.['conn_state'] === state).length;
    assert.equal(byProto(17, 'S0'), 2862);
    assert.equal(byProto(6, 'S0'), 259);
    assert.equal(byProto(17, 'SF'), 24);
    assert.equal(malicious.filter((x) => x.protocol === 1 || x.protocol === 58).length, 308);
  });

  it('IoT-23 21-field .conn.log.labeled (label joined by 3 spaces, CRLF)', async () => {
    const r = await importAll(labeled('iot23', 'CTU-IoT-Malware-Capture-42-1.conn.log.labeled'));
    assertAccounted(r, 4426);
    assert.deepEqual(r.classes, { '0:null': 4420, '1:FileDownload': 3, '1:C&C-FileDownload': 3 });
    const f = r.flows[0]!;
    assert.deepEqual(
      [f.start_ms, f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.protocol, f.label, f.attack],
      [1_547_127_288_026, '192.168.1.197', 58312, '104.24.96.120', 80, 6, 1, 'FileDownload'],
    );
    assert.deepEqual([f.fwd_bytes, f.bwd_bytes, f.fwd_pkts, f.bwd_pkts], [83, 67212, 54, 50]);
    const honeypot = await importAll(labeled('iot23', 'CTU-Honeypot-Capture-4-1.conn.log.labeled'));
    assertAccounted(honeypot, 452);
    assert.deepEqual(honeypot.classes, { '0:null': 452 });
  });

  it('aucad IoT-23 CSVs: empty = unset, class counts', async () => {
    const cases: [string, number, Record<string, number>][] = [
      ['CTU-Malware-Capture-20-1-labeled.csv', 3209, { '0:null': 3193, '1:C&C-Torii': 16 }],
      ['CTU-Malware-Capture-21-1-labeled.csv', 3286, { '0:null': 3272, '1:C&C-Torii': 14 }],
      ['CTU-Honeypot-Capture-5-1-labeled.csv', 1374, { '0:null': 1374 }],
      ['CTU-Honeypot-Capture-7-1-labeled.csv', 130, { '0:null': 130 }],
    ];
    for (const [file, rows, classes] of cases) {
      const r = await importAll(labeled('iot23', file));
      assert.equal(r.format, 'zeek-csv');
      assertAccounted(r, rows);
      assert.deepEqual(r.classes, classes, file);
    }
    const r = await importAll(labeled('iot23', 'CTU-Honeypot-Capture-5-1-labeled.csv'));
    const f = r.flows[1]!;
    assert.deepEqual(
      [
        f.src_ip,
        f.src_port,
        f.dst_ip,
        f.dst_port,
        f.protocol,
        f.end_ms - f.start_ms,
        f.fwd_bytes,
        f.fwd_pkts,
      ],
      ['192.168.2.1', 5353, '224.0.0.251', 5353, 17, 0, 0, 1],
    );
    assert.equal(f.start_ms, 1_537_522_897_732);
  });

  it('Stratosphere nmap capture (Zeek JSON lines): 4,504 unlabelled flows, 8 DNS to 8.8.8.8', async () => {
    const r = await importAll(labeled('stratosphere_nmap-portscan', 'conn.log'));
    assert.equal(r.format, 'zeek');
    assertAccounted(r, 4504);
    assert.deepEqual(r.classes, { 'null:null': 4504 });
    assert.equal(r.flows.filter((f) => f.dst_ip === '8.8.8.8' && f.dst_port === 53).length, 8);
    const scan = r.flows.filter((f) => !(f.dst_ip === '8.8.8.8' && f.dst_port === 53));
    assert.equal(new Set(scan.map((f) => f.dst_ip)).size, 182);
    assert.equal(new Set(scan.map((f) => f.dst_port)).size, 105);
    const protos: Record<number, number> = {};
    for (const f of r.flows) protos[f.protocol] = (protos[f.protocol] ?? 0) + 1;
    assert.deepEqual(protos, { 1: 383, 6: 4062, 17: 59 });
    const f = r.flows[0]!;
    assert.deepEqual(
      [f.start_ms, f.end_ms, f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.bwd_bytes, f.fwd_pkts, f.bwd_pkts],
      [1_664_462_456_755, 1_664_462_456_767, '172.16.1.11', 40042, '8.8.8.8', 53, 111, 0, 1],
    );
  });
});
