import { isIP } from 'node:net';
import { type ColumnIndex, csvHeader, splitCsvLine } from '../csv.ts';
import { baseFlow, binaryLabel, countField, ipField, portField, protocolNumber } from '../fields.ts';
import { FileFormatError, type LineParser, type LineResult, type ParserContext, RowError } from '../types.ts';

const REQUIRED = [
  'IPV4_SRC_ADDR',
  'L4_SRC_PORT',
  'IPV4_DST_ADDR',
  'L4_DST_PORT',
  'PROTOCOL',
  'IN_BYTES',
  'IN_PKTS',
  'OUT_BYTES',
  'OUT_PKTS',
];

/**
 * Flows exported by ntop's nProbe with its NetFlow field names, as in the University of
 * Queensland's NetFlow datasets (NF-UNSW-NB15, NF-ToN-IoT, NF-BoT-IoT, NF-CSE-CIC-IDS2018, v3):
 * biflows whose IN_* count source → destination and OUT_* the way back, FLOW_START_MILLISECONDS /
 * FLOW_END_MILLISECONDS (or FLOW_DURATION_MILLISECONDS) their times, TCP_FLAGS both sides' flags,
 * ICMP_TYPE type * 256 + code; `Label` 0/1 and `Attack` (Benign or the attack's name). The v1 / v2
 * releases carry no flow times, so their flows cannot be placed in windows: the file is refused.
 */
export class NprobeCsvParser implements LineParser {
  #cols: ColumnIndex | undefined;

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    const fields = splitCsvLine(text);
    if (!this.#cols) {
      const cols = csvHeader(fields, REQUIRED, 'nProbe CSV header lacks');
      if (!cols.has('FLOW_START_MILLISECONDS'))
        throw new FileFormatError(
          'nProbe CSV without FLOW_START_MILLISECONDS: the flows carry no times (the NF-* v1 and v2 ' +
            'datasets), so they cannot be placed in time windows; use a release with flow times (v3)',
        );
      this.#cols = cols;
      return { kind: 'header' };
    }
    const c = this.#cols;
    if (fields.length !== c.names.length)
      throw new RowError(`expected ${c.names.length} columns, found ${fields.length}`);
    const get = (n: string) => c.get(fields, n);
    const src_ip = ipField(get('IPV4_SRC_ADDR'), 'IPV4_SRC_ADDR');
    const protocol = protocolNumber(get('PROTOCOL'), isIP(src_ip) === 6);
    const start = countField(get('FLOW_START_MILLISECONDS'), 'FLOW_START_MILLISECONDS');
    let end = c.has('FLOW_END_MILLISECONDS')
      ? countField(get('FLOW_END_MILLISECONDS'), 'FLOW_END_MILLISECONDS')
      : start + countField(get('FLOW_DURATION_MILLISECONDS'), 'FLOW_DURATION_MILLISECONDS');
    if (end === 0) end = start;
    if (end < start)
      throw new RowError(`FLOW_END_MILLISECONDS ${end} is before FLOW_START_MILLISECONDS ${start}`);
    const icmp = protocol === 1 || protocol === 58;
    const typeCode = icmp && c.has('ICMP_TYPE') ? countField(get('ICMP_TYPE'), 'ICMP_TYPE', 65535) : -1;
    const label = c.has('Label') ? binaryLabel(get('Label'), 'Label') : null;
    const attack = get('Attack');
    const extra: Record<string, string> = {};
    const l7 = get('L7_PROTO');
    if (l7 !== '') extra['l7_proto'] = l7;
    return {
      kind: 'flow',
      flow: {
        ...baseFlow('nprobe_csv', this.ctx.exporter),
        start_ms: start,
        end_ms: end,
        protocol,
        src_ip,
        dst_ip: ipField(get('IPV4_DST_ADDR'), 'IPV4_DST_ADDR'),
        src_port: portField(get('L4_SRC_PORT'), 'L4_SRC_PORT'),
        dst_port: portField(get('L4_DST_PORT'), 'L4_DST_PORT'),
        fwd_bytes: countField(get('IN_BYTES'), 'IN_BYTES'),
        fwd_pkts: countField(get('IN_PKTS'), 'IN_PKTS'),
        bwd_bytes: countField(get('OUT_BYTES'), 'OUT_BYTES'),
        bwd_pkts: countField(get('OUT_PKTS'), 'OUT_PKTS'),
        tcp_flags: protocol === 6 ? countField(get('TCP_FLAGS'), 'TCP_FLAGS') & 0xff : 0,
        icmp_type: typeCode >= 0 ? typeCode >> 8 : null,
        icmp_code: typeCode >= 0 ? typeCode & 0xff : null,
        label,
        attack: label === 1 && attack !== '' ? attack : null,
        extra,
      },
    };
  }
}
