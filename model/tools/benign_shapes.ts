// What the service raises on benign traffic shapes that real exporters and networks produce and the labelled
// captures never show: each shape's records go through buildSequences and the Detector with its defaults (the
// streaming path after the bus), and an alert counts as raised unless a built-in rule records it as suppressed.
// Usage: node --import tsx model/tools/benign_shapes.ts [MODEL_VERSION] [--write]
//   --write: model/versions/<version>/SHAPES.md (the table and what each shape is)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FlowRecord } from '../../packages/contracts/src/index.ts';
import {
  Detector,
  ModelHost,
  ModelRepository,
  raisedBy,
} from '../../packages/detector/src/index.ts';
import { buildSequences, notAConversationFlow } from '../../packages/sequencing/src/index.ts';
import { matchBuiltinRule } from '../../packages/suppression/src/index.ts';

const T0 = 1_794_999_900_000;

function record(over: Partial<FlowRecord>): FlowRecord {
  return {
    exporter: '192.0.2.254',
    observation_domain: 0,
    source_format: 'netflow9',
    start_ms: T0,
    end_ms: T0,
    protocol: 6,
    src_ip: '10.0.0.1',
    dst_ip: '10.0.0.2',
    src_port: 40_000,
    dst_port: 443,
    fwd_bytes: 0,
    fwd_pkts: 0,
    bwd_bytes: 0,
    bwd_pkts: 0,
    tcp_flags: 0,
    sampling_rate: 1,
    label: null,
    attack: null,
    extra: {},
    ...over,
  };
}

/** One direction of an answered TCP connection as a biflow (IPFIX RFC 5103), `ms` after T0. */
function tcp(src: string, dst: string, srcPort: number, dstPort: number, ms: number, up: number, down: number) {
  return record({
    source_format: 'ipfix',
    start_ms: T0 + ms,
    end_ms: T0 + ms + 40,
    src_ip: src,
    dst_ip: dst,
    src_port: srcPort,
    dst_port: dstPort,
    fwd_bytes: up,
    fwd_pkts: Math.max(1, Math.ceil(up / 1_000)),
    bwd_bytes: down,
    bwd_pkts: Math.max(1, Math.ceil(down / 1_000)),
    tcp_flags: 0x1b,
    extra: { reverseTcpControlBits: '27' },
  });
}

function icmp(src: string, dst: string, ms: number, type: number, code = 0, protocol = 1, bytes = 56) {
  return record({
    start_ms: T0 + ms,
    end_ms: T0 + ms,
    protocol,
    src_ip: src,
    dst_ip: dst,
    src_port: 0,
    dst_port: type * 256 + code,
    fwd_bytes: bytes,
    fwd_pkts: 1,
    icmp_type: type,
    icmp_code: code,
  });
}

interface Shape {
  name: string;
  what: string;
  records(): FlowRecord[];
}

const SHAPES: Shape[] = [
  {
    name: 'nat-event-log',
    what: "a NAT gateway's event log (NAT44 session create / delete, no counters) of one client's 40 HTTPS connections",
    records: () =>
      Array.from({ length: 40 }, (_, d) =>
        ['4', '5'].map((ev, k) =>
          record({
            start_ms: T0 + 5_000 * d + 30_000 * k,
            end_ms: T0 + 5_000 * d + 30_000 * k,
            src_ip: '10.3.0.5',
            dst_ip: `198.51.100.${d + 1}`,
            src_port: 40_000 + d,
            extra: { natEvent: ev },
          }),
        ),
      ).flat(),
  },
  {
    name: 'nsel-create-teardown',
    what: 'Cisco ASA NSEL: flow created (nothing counted) and teardown (bytes, no packets) of 30 HTTPS connections',
    records: () =>
      Array.from({ length: 30 }, (_, d) => {
        const c = { src_ip: '10.3.0.6', dst_ip: `203.0.113.${d + 1}`, src_port: 41_000 + d, start_ms: T0 + 4_000 * d };
        return [
          record({ ...c, end_ms: c.start_ms, extra: { firewallEvent: '1' } }),
          record({ ...c, end_ms: c.start_ms, fwd_bytes: 1_800, bwd_bytes: 30_000, extra: { firewallEvent: '2' } }),
        ];
      }).flat(),
  },
  {
    name: 'nsel-update-teardown',
    what:
      'Cisco ASA NSEL with flow updates: created, update at teardown and teardown (the same bytes, as the ' +
      'ls-nf9-cisco-asa-2 sample sends them) of 30 HTTPS connections, plus one 4-minute download with timer updates',
    records: () => {
      const out: FlowRecord[] = [];
      for (let d = 0; d < 30; d++) {
        const c = { src_ip: '10.3.0.8', dst_ip: `203.0.113.${d + 1}`, src_port: 42_000 + d, start_ms: T0 + 4_000 * d };
        const id = String(7_000 + d);
        out.push(record({ ...c, end_ms: c.start_ms, extra: { flowId: id, firewallEvent: '1' } }));
        for (const ev of ['5', '2'])
          out.push(
            record({ ...c, end_ms: c.start_ms + 900, fwd_bytes: 1_800, bwd_bytes: 30_000, extra: { flowId: id, firewallEvent: ev } }),
          );
      }
      const long = { src_ip: '10.3.0.8', dst_ip: '198.51.100.80', src_port: 43_000, start_ms: T0 + 1_000 };
      for (let k = 1; k <= 4; k++)
        out.push(
          record({ ...long, end_ms: long.start_ms + 60_000 * k, fwd_bytes: 20_000, bwd_bytes: 2_000_000, extra: { flowId: '9000', firewallEvent: '5' } }),
        );
      out.push(
        record({ ...long, end_ms: long.start_ms + 240_500, fwd_bytes: 80_000, bwd_bytes: 8_000_000, extra: { flowId: '9000', firewallEvent: '2' } }),
      );
      return out;
    },
  },
  {
    name: 'ipv6-neighbour-discovery',
    what: "a router resolving 30 neighbours: solicitations to solicited-node groups, each advertisement its own record",
    records: () =>
      Array.from({ length: 30 }, (_, i) => [
        icmp('2001:db8::1', `ff02::1:ff00:${(i + 16).toString(16)}`, 2_000 * i, 135, 0, 58, 72),
        icmp(`2001:db8::${(i + 16).toString(16)}`, '2001:db8::1', 2_000 * i + 1, 136, 0, 58, 72),
      ]).flat(),
  },
  {
    name: 'ssh-session-per-60s',
    what: 'one idle SSH session exported as a record per 60 s active timeout, 20 minutes',
    records: () => Array.from({ length: 20 }, (_, k) => tcp('10.0.0.5', '10.0.1.9', 51_514, 22, 60_000 * k, 900, 1_100)),
  },
  {
    name: 'wireguard-per-30s',
    what: 'a WireGuard tunnel (UDP 51820) cut every 30 s by the exporter, 20 minutes',
    records: () =>
      Array.from({ length: 40 }, (_, k) =>
        record({
          source_format: 'ipfix',
          protocol: 17,
          start_ms: T0 + 30_000 * k,
          end_ms: T0 + 30_000 * k + 29_900,
          src_ip: '10.0.0.7',
          dst_ip: '198.51.100.99',
          src_port: 51_820,
          dst_port: 51_820,
          fwd_bytes: 40_000,
          fwd_pkts: 120,
          bwd_bytes: 90_000,
          bwd_pkts: 140,
        }),
      ),
  },
  {
    name: 'aws-vpc-each-direction',
    what: 'AWS VPC flow logs of a client of 30 HTTPS servers, each direction of a connection its own record',
    records: () =>
      Array.from({ length: 30 }, (_, d) => {
        const base = { source_format: 'aws_vpc' as const, start_ms: T0 + 5_000 * d, end_ms: T0 + 5_000 * d + 4_000 };
        return [
          record({ ...base, src_ip: '10.0.1.5', dst_ip: `10.0.9.${d + 1}`, src_port: 40_000 + d, fwd_bytes: 1_800, fwd_pkts: 12 }),
          record({ ...base, src_ip: `10.0.9.${d + 1}`, dst_ip: '10.0.1.5', src_port: 443, dst_port: 40_000 + d, fwd_bytes: 24_000, fwd_pkts: 20 }),
        ];
      }).flat(),
  },
  {
    name: 'icmp-error-sender',
    what: 'a firewall answering 40 hosts with port unreachable and 30 tracerouting hosts with time exceeded',
    records: () => [
      ...Array.from({ length: 40 }, (_, i) => icmp('192.0.2.1', `198.51.100.${i + 1}`, 3_000 * i, 3, 3)),
      ...Array.from({ length: 30 }, (_, i) => icmp('192.0.2.1', `203.0.113.${i + 1}`, 4_000 * i, 11, 0)),
    ],
  },
  {
    name: 'recursive-resolver',
    what: 'a DNS resolver querying 200 authoritative servers (1-3 queries each), 1 server in 20 never answering',
    records: () => {
      const out: FlowRecord[] = [];
      let q = 0;
      for (let i = 0; i < 200; i++)
        for (let k = 0; k <= i % 3; k++, q++) {
          const answered = i % 20 !== 7;
          out.push(
            record({
              protocol: 17,
              start_ms: T0 + ((q * 7_919) % 290_000),
              end_ms: T0 + ((q * 7_919) % 290_000) + 30,
              src_ip: '10.0.0.53',
              dst_ip: `${(i % 200) + 11}.${(i * 7) % 250}.${(i * 13) % 250}.${(i % 250) + 1}`,
              src_port: 20_000 + q,
              dst_port: 53,
              fwd_bytes: 80,
              fwd_pkts: 1,
              bwd_bytes: answered ? 300 : 0,
              bwd_pkts: answered ? 1 : 0,
              source_format: 'ipfix',
            }),
          );
        }
      return out;
    },
  },
  {
    name: 'ntp-pool-retries',
    what:
      'a device whose clock cannot sync: NTP requests to 24 public pool servers in 5 minutes (1-3 each), 1 in 6 answered',
    records: () => {
      const out: FlowRecord[] = [];
      let q = 0;
      for (let i = 0; i < 24; i++)
        for (let k = 0; k <= i % 3; k++, q++) {
          const answered = i % 6 === 0;
          out.push(
            record({
              protocol: 17,
              start_ms: T0 + 11_000 * i + 64_000 * k,
              end_ms: T0 + 11_000 * i + 64_000 * k + (answered ? 40 : 0),
              src_ip: '10.0.0.77',
              dst_ip: `${(i * 37) % 200 + 20}.${(i * 11) % 250}.${(i * 29) % 250}.${i + 1}`,
              src_port: 123,
              dst_port: 123,
              fwd_bytes: 76,
              fwd_pkts: 1,
              bwd_bytes: answered ? 76 : 0,
              bwd_pkts: answered ? 1 : 0,
            }),
          );
        }
      return out;
    },
  },
  {
    name: 'monitoring-poller',
    what: 'Prometheus scraping 50 node exporters (TCP 9100) every 15 s for 10 minutes, a connection each time',
    records: () =>
      Array.from({ length: 40 }, (_, k) =>
        Array.from({ length: 50 }, (_, i) =>
          tcp('10.0.0.5', `10.0.1.${i + 10}`, 30_000 + ((k * 50 + i) % 30_000), 9100, 15_000 * k + 37 * i, 600, 22_000),
        ),
      ).flat(),
  },
  {
    name: 'broadcast-ping',
    what: 'one ping to a subnet broadcast address answered by 30 hosts (each reply its own record)',
    records: () => [
      icmp('192.168.1.10', '192.168.1.255', 0, 8, 0, 1, 84),
      ...Array.from({ length: 30 }, (_, i) => icmp(`192.168.1.${i + 20}`, '192.168.1.10', 1 + i, 0, 0, 1, 84)),
    ],
  },
];

interface Row {
  shape: Shape;
  records: number;
  notFlows: number;
  sequences: number;
  raised: number;
  suppressed: number;
  malicious: number;
  flags: Map<string, number>;
  tactics: Map<string, number>;
}

const args = process.argv.slice(2);
const write = args.includes('--write');
const version = args.find((a) => !a.startsWith('--'));
const host = await ModelHost.open(new ModelRepository(), version, { intraOpThreads: 1 });
const rows: Row[] = [];
let modelVersion = '';
try {
  const detector = new Detector(host);
  for (const shape of SHAPES) {
    const records = shape.records();
    const scored = await detector.score(buildSequences(records));
    const row: Row = {
      shape,
      records: records.length,
      notFlows: records.filter((r) => notAConversationFlow(r) !== undefined).length,
      sequences: scored.length,
      raised: 0,
      suppressed: 0,
      malicious: 0,
      flags: new Map(),
      tactics: new Map(),
    };
    for (const s of scored) {
      modelVersion = s.finding.model_version;
      if (!s.alert) continue;
      if (matchBuiltinRule(s.finding, raisedBy(s))) {
        row.suppressed++;
        continue;
      }
      row.raised++;
      if (s.finding.verdict === 'malicious') row.malicious++;
      for (const f of s.flags) row.flags.set(f, (row.flags.get(f) ?? 0) + 1);
      const tactic = s.finding.tactics[0]?.id ?? 'none';
      row.tactics.set(tactic, (row.tactics.get(tactic) ?? 0) + 1);
    }
    rows.push(row);
  }
} finally {
  await host.close();
}

const counts = (m: Map<string, number>) =>
  [...m.entries()]
    .sort()
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '–';
const table = [
  '| shape | records | not flows (rule 0) | sequences | raised | of them the model\'s verdict | flags | first tactic | suppressed by a built-in rule |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.shape.name} | ${r.records} | ${r.notFlows} | ${r.sequences} | ${r.raised} | ${r.malicious} | ${counts(r.flags)} | ${counts(r.tactics)} | ${r.suppressed} |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);
if (write) {
  const doc = [
    `# Benign shapes: what ${modelVersion} and the detector's defaults raise`,
    '',
    'Generated by `node --import tsx model/tools/benign_shapes.ts --write`. Each shape is benign traffic as a real',
    'exporter or network produces it and the labelled captures never show; its records go through buildSequences',
    'and the Detector with its defaults (the streaming path after the bus). An alert (malicious verdict or a',
    'sub-score at the flag threshold) counts as raised unless a built-in rule records it as suppressed. Every',
    'raised finding here is a false positive.',
    '',
    table,
    '',
    ...SHAPES.map((s) => `- **${s.name}**: ${s.what}.`),
    '',
  ].join('\n');
  const path = join(import.meta.dirname, '..', 'versions', modelVersion, 'SHAPES.md');
  writeFileSync(path, doc);
  process.stdout.write(`${path}\n`);
}
