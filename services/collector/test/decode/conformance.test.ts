import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { hasShared, needsShared, sharedPath } from '@tidewatch/testing';
import { decodeFlowFiles } from '../../src/capture/flow-files.ts';
import { describeElement, FlowDecoder } from '../../src/decode/index.ts';

/**
 * One test per vendor sample in ../shared/testdata/flows: decode the packets in replay order and
 * assert the values the anchor collector asserts, mapped from its field names to ours.
 */

// biome-ignore lint/suspicious/noExplicitAny: expected.json is free-form anchor data
type Json = any;

const ROOT = hasShared() ? sharedPath('testdata', 'flows') : '';
const SAMPLES = ROOT
  ? readdirSync(ROOT)
      .filter((d) => !d.endsWith('.md'))
      .sort()
  : [];
const RAW_RECEIVED_AT = Date.UTC(2024, 0, 1);

interface Decoded {
  records: FlowRecord[];
  /** Emit order as the logstash anchor counts it: flow records and options records interleaved. */
  events: ({ kind: 'flow'; record: FlowRecord } | { kind: 'options'; values: Record<string, unknown> })[];
  decoder: FlowDecoder;
}

async function decodeSample(dir: string, files: string[]): Promise<Decoded> {
  const records: FlowRecord[] = [];
  const events: Decoded['events'] = [];
  const decoder = new FlowDecoder({
    onOptionsRecord: (e) => events.push({ kind: 'options', values: e.values }),
  });
  await decodeFlowFiles(
    files.map((f) => join(dir, f)),
    (r) => {
      records.push(r);
      events.push({ kind: 'flow', record: r });
    },
    { decoder, receivedAtMs: RAW_RECEIVED_AT },
  );
  return { records, events, decoder };
}

function unmap(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

// ---------- logstash-codec-netflow (ls-*) ----------

const LS_CORE: Record<string, (r: FlowRecord) => unknown> = {
  ipv4_src_addr: (r) => r.src_ip,
  ipv6_src_addr: (r) => r.src_ip,
  sourceIPv4Address: (r) => r.src_ip,
  sourceIPv6Address: (r) => r.src_ip,
  ipv4_dst_addr: (r) => r.dst_ip,
  ipv6_dst_addr: (r) => r.dst_ip,
  destinationIPv4Address: (r) => r.dst_ip,
  destinationIPv6Address: (r) => r.dst_ip,
  l4_src_port: (r) => r.src_port,
  sourceTransportPort: (r) => r.src_port,
  l4_dst_port: (r) => r.dst_port,
  destinationTransportPort: (r) => r.dst_port,
  protocol: (r) => r.protocol,
  protocolIdentifier: (r) => r.protocol,
  in_bytes: (r) => r.fwd_bytes,
  octetDeltaCount: (r) => r.fwd_bytes,
  in_pkts: (r) => r.fwd_pkts,
  packetDeltaCount: (r) => r.fwd_pkts,
  input_snmp: (r) => r.in_if,
  ingressInterface: (r) => r.in_if,
  output_snmp: (r) => r.out_if,
  egressInterface: (r) => r.out_if,
  src_as: (r) => r.src_as,
  dst_as: (r) => r.dst_as,
  tcp_flags: (r) => r.tcp_flags,
  tcpControlBits: (r) => r.tcp_flags,
  flowStartMilliseconds: (r) => r.start_ms,
  flowEndMilliseconds: (r) => r.end_ms,
  flowStartSeconds: (r) => Math.floor(r.start_ms / 1000),
  flowEndSeconds: (r) => Math.floor(r.end_ms / 1000),
};

/** Fields that describe the packet, not the flow record, or that the anchor renders its own way. */
const LS_HEADER_FIELDS = new Set([
  'version',
  'flow_seq_num',
  'flowset_id',
  'engine_type',
  'engine_id',
  'sampling_algorithm',
  'sampling_interval',
  'flow_records',
]);

const LS_OPTION_NAMES: Record<string, string> = {
  scope_system: 'scope1',
  sampling_algorithm: 'samplingAlgorithm',
  sampling_interval: 'samplingInterval',
  flow_sampler_id: 'samplerId',
};

function lsTime(value: string, _version: number): number {
  return Date.parse(value);
}

function checkLsField(
  sample: string,
  index: number,
  r: FlowRecord,
  field: string,
  value: unknown,
  version: number,
  nameMap: Json,
): 'checked' | 'skipped' {
  const where = `${sample} record ${index} field ${field}`;
  if (LS_HEADER_FIELDS.has(field)) return 'skipped';
  if (field === 'first_switched' || field === 'last_switched') {
    const ours = field === 'first_switched' ? r.start_ms : r.end_ms;
    const anchor = lsTime(value as string, version);
    // The anchor does not handle the 32-bit sysUptime wrap (a flow that started just before the
    // exporter's uptime counter restarted); we do, so the two differ by exactly 2^32 ms there.
    if (Math.abs(anchor - ours) === 2 ** 32) return 'checked';
    // It also forgets the borrow when the sub-second part goes negative, rendering one second
    // late; RFC 3954 / Cisco v5 arithmetic is what we assert, the anchor is off by exactly 1 s.
    assert.ok(anchor === ours || anchor === ours + 1000, `${where}: ours ${ours}, anchor ${anchor}`);
    return 'checked';
  }
  const core = LS_CORE[field];
  if (core && typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value)) {
    const ours = core(r) as number;
    const ms = Date.parse(value);
    assert.equal(field.endsWith('Seconds') ? ours * 1000 : ours, ms, where);
    return 'checked';
  }
  if (core) {
    const ours = core(r);
    assert.equal(typeof value === 'string' ? String(ours) : (ours ?? 0), value, where);
    return 'checked';
  }
  // Everything else lives in `extra` under the name our element dictionary gives it, or went
  // into a record field.
  const m = nameMap?.[field];
  const id: number | undefined = m?.iana_id ?? m?.netflow_v9_field_type ?? m?.ie;
  if (id === undefined) return 'skipped';
  const name = describeElement(id, m?.pen ?? 0, 4).name;
  const ours = r.extra?.[name] ?? LS_DERIVED[name]?.(r);
  if (ours === undefined) return 'skipped';
  if (typeof value === 'number') {
    assert.equal(Number(ours), value, `${where} (${name})`);
    return 'checked';
  }
  if (field === 'forwarding_status' && typeof value === 'object') {
    // RFC 7270: status in the top two bits, reason code below
    const fs = value as { status: number; reason: number };
    assert.equal(Number(ours), (fs.status << 6) | fs.reason, `${where} (${name})`);
    return 'checked';
  }
  if (typeof value === 'string') {
    // The anchor renders application ids as "engine..selector[..]" and ACL ids as dashed hex words.
    if (/^\d+(\.\.\d+)+$/.test(value)) {
      assert.equal(String(ours), lsApplicationIdHex(value, String(ours).length), `${where} (${name})`);
      return 'checked';
    }
    if (/^[0-9a-f]{8}(-[0-9a-f]{8})+$/.test(value)) {
      assert.equal(String(ours), value.replaceAll('-', ''), `${where} (${name})`);
      return 'checked';
    }
    // nProbe's DPI sample is mis-framed by the anchor itself (binary shown as text)
    if ([...value].some((c) => c.charCodeAt(0) < 0x20)) return 'skipped';
    assert.equal(String(ours).toLowerCase(), value.toLowerCase(), `${where} (${name})`);
    return 'checked';
  }
  return 'skipped';
}

/** Hex of an RFC 6759 applicationId rendered by the anchor as "engine..selector[..part]". */
function lsApplicationIdHex(value: string, hexLength: number): string {
  const [engine, ...rest] = value.split('..').map(Number);
  const restHex = hexLength - 2;
  const each = restHex / rest.length;
  return (
    (engine as number).toString(16).padStart(2, '0') +
    rest.map((n) => n.toString(16).padStart(each, '0')).join('')
  );
}

/** Elements that our decoder folds into record fields instead of `extra`. */
const LS_DERIVED: Record<string, (r: FlowRecord) => unknown> = {
  octetTotalCount: (r) => r.fwd_bytes,
  packetTotalCount: (r) => r.fwd_pkts,
  initiatorOctets: (r) => r.fwd_bytes,
  responderOctets: (r) => r.bwd_bytes,
  icmpTypeIPv4: (r) => r.icmp_type,
  icmpCodeIPv4: (r) => r.icmp_code,
  icmpTypeIPv6: (r) => r.icmp_type,
  icmpCodeIPv6: (r) => r.icmp_code,
  icmpTypeCodeIPv4: (r) => ((r.icmp_type ?? 0) << 8) | (r.icmp_code ?? 0),
  icmpTypeCodeIPv6: (r) => ((r.icmp_type ?? 0) << 8) | (r.icmp_code ?? 0),
  vlanId: (r) => r.vlan ?? 0,
  dot1qVlanId: (r) => r.vlan ?? 0,
  flowStartMilliseconds: (r) => r.start_ms,
  flowEndMilliseconds: (r) => r.end_ms,
};

async function runLogstash(sample: string, dir: string, e: Json): Promise<void> {
  const files: string[] = e.input.packets.map((p: Json) => p.file);
  const { events, decoder } = await decodeSample(dir, files);
  const exp = e.expected;
  const packets: Json[] = e.structure.packets;
  const split = packets.some((p) => p.embedded_datagrams);
  // Files glued from several datagrams: the anchor reads only the first; we frame each one.
  // Where the anchor asserts no count, the suite's independent parse gives it.
  const expectedCount =
    split || exp.record_count == null
      ? packets.reduce((n, p) => n + (p.records_if_split_by_helper ?? p.records_decoded_by_helper ?? 0), 0)
      : exp.record_count;
  assert.equal(events.length, expectedCount, `${sample}: events (flow + options records)`);
  const snapshot = decoder.snapshot();
  const version: number = packets[0]?.version ?? 0;
  let checked = 0;
  const nameMap = e.field_name_map?.fields;
  const all = [
    ...(exp.full_records ?? []).flatMap((fr: Json) =>
      Object.entries(fr.fields).map(([field, value]) => ({ index: fr.index, field, value })),
    ),
    ...(exp.field_checks ?? []),
  ];
  for (const { index, field, value } of all) {
    const ev = events[index];
    assert.ok(ev, `${sample}: no event at index ${index}`);
    if (ev.kind === 'options') {
      const m = nameMap?.[field];
      const name = LS_OPTION_NAMES[field] ?? m?.iana_name;
      const ours = name ? ev.values[name] : undefined;
      if (
        (typeof value === 'number' || (typeof value === 'string' && /^[A-Za-z ]+$/.test(value))) &&
        ours !== undefined
      ) {
        assert.equal(ours, value, `${sample} options record ${index} ${field}`);
        checked++;
      }
      continue;
    }
    if (checkLsField(sample, index, ev.record, field, value, version, nameMap) === 'checked') checked++;
    else if (process.env.TW_DEBUG_SKIPS)
      console.log('SKIP', sample, field, JSON.stringify(value), JSON.stringify(ev.record.extra));
  }
  if (all.length > 0) assert.ok(checked > 0, `${sample}: no anchor value could be compared`);
  const malformed = sample.includes('invalid') || packets.some((p) => (p.trailing_bytes ?? 0) !== 0);
  if (!malformed)
    assert.equal(snapshot.totals.errors, 0, `${sample}: ${JSON.stringify(snapshot.errorsByReason)}`);
}

// ---------- akvorado (ak-*) ----------

const AK_MAP: Record<string, (r: FlowRecord) => unknown> = {
  SrcAddr: (r) => r.src_ip,
  DstAddr: (r) => r.dst_ip,
  // akvorado counts sFlow bytes at the IP layer; we keep the frame length and the IP length in extra
  Bytes: (r) => (r.source_format === 'sflow5' ? Number(r.extra?.ipTotalLength) : r.fwd_bytes),
  Packets: (r) => r.fwd_pkts,
  Proto: (r) => r.protocol,
  SrcPort: (r) => r.src_port,
  DstPort: (r) => r.dst_port,
  InIf: (r) => r.in_if ?? 0,
  OutIf: (r) => r.out_if ?? 0,
  SamplingRate: (r) => r.sampling_rate,
  TCPFlags: (r) => r.tcp_flags,
  SrcAS: (r) => r.src_as ?? 0,
  DstAS: (r) => r.dst_as ?? 0,
  SrcVlan: (r) => r.vlan ?? 0,
  ICMPv4Type: (r) => r.icmp_type ?? 0,
  ICMPv6Type: (r) => r.icmp_type ?? 0,
  EType: (r) => (r.src_ip.includes(':') ? 34525 : 2048),
};

function akExpected(field: string, value: unknown): unknown {
  if (field === 'SrcAddr' || field === 'DstAddr') return unmap(value as string);
  if (field === 'SamplingRate' && value === 0) return 1; // unknown rate: 1 in our contract
  return value;
}

/** akvorado splits an RFC 5103 biflow into two flows; the reverse one is the record seen backwards. */
function reverseView(r: FlowRecord): FlowRecord {
  return {
    ...r,
    src_ip: r.dst_ip,
    dst_ip: r.src_ip,
    src_port: r.dst_port,
    dst_port: r.src_port,
    in_if: r.out_if,
    out_if: r.in_if,
    fwd_bytes: r.bwd_bytes,
    fwd_pkts: r.bwd_pkts,
    bwd_bytes: r.fwd_bytes,
    bwd_pkts: r.fwd_pkts,
  };
}

function akMatches(r: FlowRecord, flow: Json): boolean {
  for (const [field, value] of Object.entries(flow)) {
    const get = AK_MAP[field];
    if (get && get(r) !== akExpected(field, value)) return false;
  }
  return true;
}

async function runAkvorado(sample: string, dir: string, e: Json): Promise<void> {
  for (const sc of e.expected.scenarios as Json[]) {
    const name = `${sample}/${sc.anchor_test}`;
    const { records } = await decodeSample(dir, sc.pcaps_in_order);
    const options: string[] = sc.anchor_decoder_options ?? [];
    if (options.some((o) => o.includes('Decapsulation'))) {
      // The anchor was told to strip a tunnel (VXLAN) that we report as the outer flow.
      assert.equal(records.length, sc.record_count, `${name}: flow count`);
      continue;
    }
    const views = records.flatMap((r) => (r.bwd_pkts > 0 || r.bwd_bytes > 0 ? [r, reverseView(r)] : [r]));
    const flows: Json[] = sc.flows ?? [];
    if (sc.record_count !== undefined) assert.equal(views.length, sc.record_count, `${name}: flow count`);
    const left = [...views];
    for (const [i, flow] of flows.entries()) {
      const k = left.findIndex((r) => akMatches(r, flow));
      assert.ok(
        k >= 0,
        `${name}: expected flow ${i} ${JSON.stringify(flow)} not decoded; ours: ${JSON.stringify(left.map((r) => Object.fromEntries(Object.keys(AK_MAP).map((f) => [f, AK_MAP[f]?.(r)]))))}`,
      );
      left.splice(k, 1);
    }
  }
}

// ---------- pmacct (pm-*) ----------

/** pmacct prints protocol names as in /etc/protocols. */
const PROTO: Record<string, number> = {
  tcp: 6,
  udp: 17,
  icmp: 1,
  igmp: 2,
  gre: 47,
  esp: 50,
  'ipv6-icmp': 58,
  ospf: 89,
  pim: 103,
  vrrp: 112,
  sctp: 132,
};

function pmKey(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  proto: number,
  inIf: number,
  outIf: number,
): string {
  return `${src}|${dst}|${sport}|${dport}|${proto}|${inIf}|${outIf}`;
}

async function runPmacct(sample: string, dir: string, e: Json): Promise<void> {
  const files: string[] = e.input.packets.map((p: Json) => p.file);
  const { records } = await decodeSample(dir, files);
  const exp = e.expected;
  const scale = exp.renormalize_by_sampling === true;
  const sum = (m: Map<string, [number, number]>, k: string, bytes: number, pkts: number) => {
    const v = m.get(k) ?? [0, 0];
    m.set(k, [v[0] + bytes, v[1] + pkts]);
  };
  const expected = new Map<string, [number, number]>();
  for (const a of exp.aggregates as Json[]) {
    const proto = typeof a.ip_proto === 'number' ? a.ip_proto : (PROTO[a.ip_proto] ?? Number(a.ip_proto));
    sum(
      expected,
      pmKey(a.ip_src, a.ip_dst, a.port_src ?? 0, a.port_dst ?? 0, proto, a.iface_in ?? 0, a.iface_out ?? 0),
      a.bytes,
      a.packets,
    );
  }
  const ours = new Map<string, [number, number]>();
  for (const r of records) {
    const f = scale ? r.sampling_rate : 1;
    sum(
      ours,
      pmKey(r.src_ip, r.dst_ip, r.src_port, r.dst_port, r.protocol, r.in_if ?? 0, r.out_if ?? 0),
      r.fwd_bytes * f,
      r.fwd_pkts * f,
    );
  }
  assert.deepEqual(
    [...ours.entries()].sort().map(([k, v]) => `${k} ${v.join('/')}`),
    [...expected.entries()].sort().map(([k, v]) => `${k} ${v.join('/')}`),
    `${sample}: aggregates by (src, dst, ports, proto, interfaces)`,
  );
}

describe('flow sample conformance', { skip: needsShared().skip }, () => {
  test('finds the samples', () => {
    assert.ok(SAMPLES.length >= 50, `only ${SAMPLES.length} samples in ${ROOT}`);
  });

  test('every decoded sample record round-trips through the flows.v1 Avro codec', async () => {
    const { flows } = await createCodecs();
    let n = 0;
    for (const sample of SAMPLES) {
      const dir = join(ROOT, sample);
      const files = readdirSync(dir).filter((f) => f !== 'expected.json');
      const { records } = await decodeSample(dir, files);
      for (const r of records) {
        const back = flows.decode(flows.encode(r));
        assert.deepEqual(
          [
            back.src_ip,
            back.dst_ip,
            back.start_ms,
            back.end_ms,
            back.fwd_bytes,
            back.bwd_bytes,
            back.sampling_rate,
            back.extra ?? {},
          ],
          [
            r.src_ip,
            r.dst_ip,
            r.start_ms,
            r.end_ms,
            r.fwd_bytes,
            r.bwd_bytes,
            r.sampling_rate,
            r.extra ?? {},
          ],
          sample,
        );
        n++;
      }
    }
    assert.ok(n > 600, `${n} records`);
  });
  for (const sample of SAMPLES) {
    test(sample, async () => {
      const dir = join(ROOT, sample);
      const e = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
      if (sample.startsWith('ls-')) await runLogstash(sample, dir, e);
      else if (sample.startsWith('ak-')) await runAkvorado(sample, dir, e);
      else if (sample.startsWith('pm-')) await runPmacct(sample, dir, e);
      else assert.fail(`${sample}: unknown anchor prefix`);
    });
  }
});
