import { isIP } from 'node:net';
import { ColumnIndex, splitCsvLine } from '../csv.ts';
import {
  baseFlow,
  countField,
  ipField,
  portField,
  protocolNumber,
  secondsToUs,
  timesFromUs,
  timestampToUs,
} from '../fields.ts';
import { FileFormatError, type LineParser, type LineResult, type ParserContext, RowError } from '../types.ts';

const REQUIRED = ['StartTime', 'Dur', 'Proto', 'SrcAddr', 'DstAddr', 'Sport', 'Dport'];

/** CTU-13 style label text: flow=From-Botnet-… → 1, …Normal… → 0, Background → unlabelled. */
export function argusLabel(value: string): number | null {
  const v = value.toLowerCase();
  if (v === '') return null;
  if (/^[01]$/.test(v)) return Number(v);
  if (v.includes('botnet') || v.includes('malicious') || v.includes('attack') || v.includes('malware'))
    return 1;
  if (v.includes('normal') || v.includes('benign')) return 0;
  return null;
}

/**
 * Argus client CSV (`ra -c , -s stime dur proto saddr sport dir daddr dport ...`) and the CTU-13
 * `.binetflow` files. Packets and bytes are split by direction from SrcPkts/DstPkts and
 * SrcBytes/DstBytes when present, else from the totals (TotPkts without SrcPkts all count as
 * forward; `extra.pkts_direction = unknown` says so).
 */
export class ArgusCsvParser implements LineParser {
  #cols: ColumnIndex | undefined;
  #separator = ',';

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    if (!this.#cols) {
      if (text.includes('\t')) this.#separator = '\t';
      const cols = new ColumnIndex(splitCsvLine(text, this.#separator).map((f) => f.trim()));
      const missing = cols.missing(REQUIRED);
      if (missing.length > 0) throw new FileFormatError(`Argus CSV header lacks ${missing.join(', ')}`);
      this.#cols = cols;
      return { kind: 'header' };
    }
    const c = this.#cols;
    const fields = splitCsvLine(text, this.#separator);
    if (fields.length < c.names.length)
      throw new RowError(`expected ${c.names.length} columns, found ${fields.length}`);
    const get = (n: string) => c.get(fields, n);
    const src_ip = ipField(get('SrcAddr'), 'SrcAddr');
    const dst_ip = ipField(get('DstAddr'), 'DstAddr');
    const protocol = protocolNumber(get('Proto'), isIP(src_ip) === 6);
    const totPkts = countField(get('TotPkts'), 'TotPkts');
    const totBytes = countField(get('TotBytes'), 'TotBytes');
    const extra: Record<string, string> = {};
    let fwd_pkts: number;
    let bwd_pkts: number;
    if (c.has('SrcPkts')) {
      fwd_pkts = countField(get('SrcPkts'), 'SrcPkts');
      bwd_pkts = c.has('DstPkts') ? countField(get('DstPkts'), 'DstPkts') : Math.max(0, totPkts - fwd_pkts);
    } else {
      fwd_pkts = totPkts;
      bwd_pkts = 0;
      extra['pkts_direction'] = 'unknown';
    }
    let fwd_bytes: number;
    let bwd_bytes: number;
    if (c.has('SrcBytes')) {
      fwd_bytes = countField(get('SrcBytes'), 'SrcBytes');
      bwd_bytes = c.has('DstBytes')
        ? countField(get('DstBytes'), 'DstBytes')
        : Math.max(0, totBytes - fwd_bytes);
    } else {
      fwd_bytes = totBytes;
      bwd_bytes = 0;
      extra['bytes_direction'] = 'unknown';
    }
    for (const [col, key] of [
      ['Dir', 'dir'],
      ['State', 'state'],
    ] as const) {
      const v = get(col);
      if (v !== '') extra[key] = v;
    }
    const icmp = protocol === 1 || protocol === 58;
    const sport = portField(get('Sport'), 'Sport');
    const dport = portField(get('Dport'), 'Dport');
    const labelText = get('Label');
    return {
      kind: 'flow',
      flow: {
        ...baseFlow('argus', this.ctx.exporter),
        ...timesFromUs(timestampToUs(get('StartTime'), 'StartTime'), secondsToUs(get('Dur'), 'Dur')),
        protocol,
        src_ip,
        dst_ip,
        src_port: sport,
        dst_port: dport,
        fwd_pkts,
        bwd_pkts,
        fwd_bytes,
        bwd_bytes,
        // Argus puts ICMP type and code in the destination "port" (0xTTCC).
        icmp_type: icmp ? dport >> 8 : null,
        icmp_code: icmp ? dport & 0xff : null,
        label: argusLabel(labelText),
        attack: labelText === '' ? null : labelText,
        extra,
      },
    };
  }
}
