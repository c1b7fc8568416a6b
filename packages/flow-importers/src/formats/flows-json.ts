import { isIP } from 'node:net';
import { type FlowRecord, SOURCE_FORMATS, type SourceFormat } from '@tidewatch/contracts';
import { FileFormatError, type LineParser, type LineResult, RowError } from '../types.ts';

const UINT32 = 0xffffffff;

/** Optional numeric fields of a flow record and their largest value (null or absent: not exported). */
const OPTIONAL_NUMBERS: readonly [keyof FlowRecord, number][] = [
  ['in_if', UINT32],
  ['out_if', UINT32],
  ['src_as', UINT32],
  ['dst_as', UINT32],
  ['vlan', 4095],
  ['icmp_type', 255],
  ['icmp_code', 255],
];

function integer(rec: Record<string, unknown>, name: string, max: number): number {
  const v = rec[name];
  if (v === undefined) throw new RowError(`${name} is missing`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
    throw new RowError(`${name} ${JSON.stringify(v)} is not an integer in 0..${max}`);
  return v;
}

/** An address as text; '' is what decode prints for a record without one (e.g. Cisco WLC's MAC-only records). */
function address(rec: Record<string, unknown>, name: string): string {
  const v = rec[name];
  if (typeof v !== 'string' || (v !== '' && isIP(v) === 0))
    throw new RowError(`${name} ${JSON.stringify(v)} is not an IPv4 or IPv6 address`);
  return v;
}

/**
 * Flow records as JSON lines, one object a line: what `tidewatch decode` prints and `flows.v1`
 * carries (DESIGN.md field names), so a decoded capture can be scored or, with `label` (0/1) and
 * `attack` added, evaluated. Every field is checked; the record keeps its own exporter.
 */
export class FlowsJsonParser implements LineParser {
  #first = true;

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch (e) {
      if (this.#first) throw new FileFormatError(`not flow records as JSON lines: ${(e as Error).message}`);
      throw new RowError(`not JSON: ${(e as Error).message}`);
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec))
      throw new RowError('a flow record must be a JSON object');
    if (this.#first && !('source_format' in rec && 'src_ip' in rec))
      throw new FileFormatError('the first line is not a flow record (no source_format/src_ip)');
    this.#first = false;
    return { kind: 'flow', flow: flowRecord(rec as Record<string, unknown>) };
  }
}

/** A checked FlowRecord from a parsed JSON object (RowError naming the first bad field). */
export function flowRecord(rec: Record<string, unknown>): FlowRecord {
  const exporter = rec['exporter'];
  if (typeof exporter !== 'string' || exporter === '' || exporter.length > 256)
    throw new RowError(`exporter ${JSON.stringify(exporter)} is not a non-empty string`);
  const sourceFormat = rec['source_format'];
  if (!(SOURCE_FORMATS as readonly unknown[]).includes(sourceFormat))
    throw new RowError(
      `source_format ${JSON.stringify(sourceFormat)} is not one of ${SOURCE_FORMATS.join(', ')}`,
    );
  const flow: FlowRecord = {
    exporter,
    observation_domain: integer(rec, 'observation_domain', UINT32),
    source_format: sourceFormat as SourceFormat,
    start_ms: integer(rec, 'start_ms', Number.MAX_SAFE_INTEGER),
    end_ms: integer(rec, 'end_ms', Number.MAX_SAFE_INTEGER),
    protocol: integer(rec, 'protocol', 255),
    src_ip: address(rec, 'src_ip'),
    dst_ip: address(rec, 'dst_ip'),
    src_port: integer(rec, 'src_port', 65535),
    dst_port: integer(rec, 'dst_port', 65535),
    fwd_bytes: integer(rec, 'fwd_bytes', Number.MAX_SAFE_INTEGER),
    fwd_pkts: integer(rec, 'fwd_pkts', Number.MAX_SAFE_INTEGER),
    bwd_bytes: integer(rec, 'bwd_bytes', Number.MAX_SAFE_INTEGER),
    bwd_pkts: integer(rec, 'bwd_pkts', Number.MAX_SAFE_INTEGER),
    tcp_flags: integer(rec, 'tcp_flags', 0xffff),
    sampling_rate: integer(rec, 'sampling_rate', UINT32),
  };
  for (const [name, max] of OPTIONAL_NUMBERS) {
    const v = rec[name];
    if (v === undefined) continue;
    (flow as unknown as Record<string, number | null>)[name] = v === null ? null : integer(rec, name, max);
  }
  // label and attack stay absent when the line has none (as decode prints them), null when it says null.
  const label = rec['label'];
  if (label !== undefined) {
    if (label !== 0 && label !== 1 && label !== null)
      throw new RowError(`label ${JSON.stringify(label)} is not 0, 1 or null`);
    flow.label = label;
  }
  const attack = rec['attack'];
  if (attack !== undefined) {
    if (typeof attack !== 'string' && attack !== null)
      throw new RowError(`attack ${JSON.stringify(attack)} is not a string or null`);
    flow.attack = attack;
  }
  const extra = rec['extra'];
  if (extra !== undefined && extra !== null) {
    if (typeof extra !== 'object' || Array.isArray(extra))
      throw new RowError('extra is not an object of strings');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(extra)) {
      if (typeof v !== 'string') throw new RowError(`extra.${k} ${JSON.stringify(v)} is not a string`);
      out[k] = v;
    }
    flow.extra = out;
  }
  return flow;
}
