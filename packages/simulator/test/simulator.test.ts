import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ATTACK_SCENARIOS, ExportEncoder, TrafficSimulator, udpPcap } from '../src/index.ts';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env['CI'] === 'true')
      throw new Error('tshark is required in CI (scripts/system-deps.sh installs it)');
    return false;
  }
}

describe('TrafficSimulator', () => {
  it('is deterministic for a seed and interval', () => {
    const a = new TrafficSimulator({ seed: 7 }).generate(T0, T0 + 600_000);
    const b = new TrafficSimulator({ seed: 7 }).generate(T0, T0 + 600_000);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, new TrafficSimulator({ seed: 8 }).generate(T0, T0 + 600_000));
  });

  it('produces every attack scenario with ground truth and a benign majority, sorted by start', () => {
    const flows = new TrafficSimulator({ seed: 3 }).generate(T0, T0 + 3_600_000);
    const attacks = new Set(flows.filter((f) => f.label === 1).map((f) => f.attack));
    assert.deepEqual([...attacks].sort(), Object.keys(ATTACK_SCENARIOS).sort());
    for (const f of flows) {
      assert.equal(f.label === 1, f.tactic !== null);
      assert.ok(f.end_ms >= f.start_ms && f.start_ms >= T0 && f.start_ms < T0 + 3_600_000);
    }
    const benign = flows.filter((f) => f.label === 0).length;
    assert.ok(benign > flows.length * 0.6, `benign share ${benign}/${flows.length}`);
    for (let i = 1; i < flows.length; i++) assert.ok(flows[i - 1]!.start_ms <= flows[i]!.start_ms);
  });
});

describe('ExportEncoder', () => {
  for (const protocol of ['netflow9', 'ipfix'] as const) {
    it(`emits ${protocol} that tshark decodes to the same flows`, {
      skip: hasTshark() ? false : 'tshark not installed',
    }, () => {
      const flows = new TrafficSimulator({ seed: 5, attacks: ['vertical_scan'] })
        .generate(T0, T0 + 60_000)
        .slice(0, 300);
      const encoder = new ExportEncoder({ protocol, templateEvery: 1000 });
      const datagrams = encoder.encode(flows, T0 + 120_000);
      for (const d of datagrams) assert.ok(d.length <= 1400, `datagram of ${d.length} bytes`);
      const dir = mkdtempSync(join(tmpdir(), 'tw-sim-'));
      const pcap = join(dir, 'export.pcap');
      writeFileSync(
        pcap,
        udpPcap(
          datagrams.map((payload) => ({ payload, timestampMs: T0 + 120_000 })),
          { dstPort: 2055 },
        ),
      );
      const fields = [
        'cflow.srcaddr',
        'cflow.dstaddr',
        'cflow.srcport',
        'cflow.dstport',
        'cflow.protocol',
        'cflow.octets',
        'cflow.packets',
      ];
      const out = execFileSync(
        'tshark',
        [
          '-r',
          pcap,
          '-d',
          'udp.port==2055,cflow',
          '-T',
          'fields',
          '-E',
          'occurrence=a',
          '-E',
          'aggregator=;',
          ...fields.flatMap((f) => ['-e', f]),
        ],
        { encoding: 'utf8' },
      );
      const decoded: string[] = [];
      for (const line of out.trim().split('\n')) {
        const cols = line.split('\t').map((c) => c.split(';'));
        for (let i = 0; i < (cols[0]?.length ?? 0); i++) decoded.push(cols.map((c) => c[i]).join(','));
      }
      const expected: string[] = [];
      for (const f of flows) {
        expected.push(
          [f.src_ip, f.dst_ip, f.src_port, f.dst_port, f.protocol, f.fwd_bytes, f.fwd_pkts].join(','),
        );
        if (f.bwd_pkts > 0)
          expected.push(
            [f.dst_ip, f.src_ip, f.dst_port, f.src_port, f.protocol, f.bwd_bytes, f.bwd_pkts].join(','),
          );
      }
      assert.deepEqual(decoded, expected);
    });
  }
});
