import { isIP } from 'node:net';
import { type ColumnIndex, csvHeader, splitCsvLine } from '../csv.ts';
import {
  baseFlow,
  binaryLabel,
  countField,
  ipField,
  portField,
  protocolNumber,
  secondsToUs,
  timesFromUs,
  timestampToUs,
} from '../fields.ts';
import { type LineParser, type LineResult, type ParserContext, RowError } from '../types.ts';

const REQUIRED = [
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
];

/**
 * Tempo CSV (DESIGN.md): `timestamp, flow_dur, src_ip, dest_ip, src_port, dest_port, fwd_bytes,
 * bwd_bytes, total_fwd_pkts, total_bwd_pkts[, label][, protocol][, attack][, tcp_flags]`. Without a
 * protocol column the protocol is 0 ("not in the source"); nothing is guessed from ports. tcp_flags
 * is the OR of the flow's TCP flags (0-255, decimal or 0x hex; empty or absent: 0, unknown).
 */
export class TempoCsvParser implements LineParser {
  #cols: ColumnIndex | undefined;

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    const fields = splitCsvLine(text);
    if (!this.#cols) {
      this.#cols = csvHeader(fields, REQUIRED, 'Tempo CSV header lacks column(s)');
      return { kind: 'header' };
    }
    const c = this.#cols;
    if (fields.length < c.names.length)
      throw new RowError(`expected ${c.names.length} columns, found ${fields.length}`);
    const src_ip = ipField(c.get(fields, 'src_ip'), 'src_ip');
    const dst_ip = ipField(c.get(fields, 'dest_ip'), 'dest_ip');
    const startUs = timestampToUs(c.get(fields, 'timestamp'));
    const durUs = secondsToUs(c.get(fields, 'flow_dur'), 'flow_dur');
    const proto = c.get(fields, 'protocol');
    const attack = c.get(fields, 'attack');
    return {
      kind: 'flow',
      flow: {
        ...baseFlow('tempo_csv', this.ctx.exporter),
        ...timesFromUs(startUs, durUs),
        protocol: proto === '' ? 0 : protocolNumber(proto, isIP(src_ip) === 6),
        src_ip,
        dst_ip,
        src_port: portField(c.get(fields, 'src_port'), 'src_port'),
        dst_port: portField(c.get(fields, 'dest_port'), 'dest_port'),
        fwd_bytes: countField(c.get(fields, 'fwd_bytes'), 'fwd_bytes'),
        bwd_bytes: countField(c.get(fields, 'bwd_bytes'), 'bwd_bytes'),
        fwd_pkts: countField(c.get(fields, 'total_fwd_pkts'), 'total_fwd_pkts'),
        bwd_pkts: countField(c.get(fields, 'total_bwd_pkts'), 'total_bwd_pkts'),
        label: binaryLabel(c.get(fields, 'label')),
        attack: attack === '' ? null : attack,
        tcp_flags: countField(c.get(fields, 'tcp_flags'), 'tcp_flags', 255),
      },
    };
  }
}
