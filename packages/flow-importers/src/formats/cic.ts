import { ColumnIndex, splitCsvLine } from '../csv.ts';
import {
  baseFlow,
  countField,
  ipField,
  portField,
  protocolNumber,
  timesFromUs,
  timestampToUs,
} from '../fields.ts';
import { FileFormatError, type LineParser, type LineResult, type ParserContext, RowError } from '../types.ts';

const REQUIRED = [
  'Src IP',
  'Src Port',
  'Dst IP',
  'Dst Port',
  'Protocol',
  'Timestamp',
  'Flow Duration',
  'Total Fwd Packet',
  'Total Bwd packets',
  'Total Length of Fwd Packet',
  'Total Length of Bwd Packet',
  'Label',
];

const FLAG_COUNTS: [string, number][] = [
  ['FIN Flag Count', 0x01],
  ['SYN Flag Count', 0x02],
  ['RST Flag Count', 0x04],
  ['PSH Flag Count', 0x08],
  ['ACK Flag Count', 0x10],
  ['URG Flag Count', 0x20],
  ['ECE Flag Count', 0x40],
  ['CWR Flag Count', 0x80],
];

/**
 * CIC-IDS2017 CSVs as re-extracted by Engelen et al. (CNS2022): `Flow Duration` in µs, `Timestamp`
 * in UTC, `Label` BENIGN → 0 and anything else → 1 with the attack name kept in `attack`.
 * The original CIC column spellings (leading spaces, "Total Backward Packets") are accepted too.
 */
export class CicCsvParser implements LineParser {
  #cols: ColumnIndex | undefined;
  #alias = new Map<string, string>();

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    const fields = splitCsvLine(text);
    if (!this.#cols) {
      const cols = new ColumnIndex(fields.map((f) => f.trim()));
      const aliases: Record<string, string[]> = {
        'Src IP': ['Src IP', 'Source IP'],
        'Src Port': ['Src Port', 'Source Port'],
        'Dst IP': ['Dst IP', 'Destination IP'],
        'Dst Port': ['Dst Port', 'Destination Port'],
        'Total Fwd Packet': ['Total Fwd Packet', 'Total Fwd Packets'],
        'Total Bwd packets': ['Total Bwd packets', 'Total Backward Packets'],
        'Total Length of Fwd Packet': ['Total Length of Fwd Packet', 'Total Length of Fwd Packets'],
        'Total Length of Bwd Packet': ['Total Length of Bwd Packet', 'Total Length of Bwd Packets'],
      };
      const missing: string[] = [];
      for (const name of REQUIRED) {
        const found = cols.pick(...(aliases[name] ?? [name]));
        if (found === undefined) missing.push(name);
        else this.#alias.set(name, found);
      }
      if (missing.length > 0) throw new FileFormatError(`CIC CSV header lacks ${missing.join(', ')}`);
      this.#cols = cols;
      return { kind: 'header' };
    }
    const c = this.#cols;
    if (fields.length !== c.names.length)
      throw new RowError(`expected ${c.names.length} columns, found ${fields.length}`);
    const get = (n: string) => c.get(fields, this.#alias.get(n) ?? n);
    const durText = get('Flow Duration');
    if (!/^-?\d+(\.\d+)?$/.test(durText))
      throw new RowError(`Flow Duration '${durText}' is not a number of µs`);
    const durUs = Number(durText);
    if (durUs < 0) throw new RowError(`Flow Duration ${durText} µs is negative`);
    const protocol = protocolNumber(get('Protocol'));
    const label = get('Label');
    if (label === '') throw new RowError('Label is empty');
    let tcp_flags = 0;
    for (const [name, bit] of FLAG_COUNTS) {
      const v = c.get(fields, name);
      if (v !== '' && v !== '0' && Number(v) > 0) tcp_flags |= bit;
    }
    const icmp = protocol === 1 || protocol === 58;
    const icmpType = c.get(fields, 'ICMP Type');
    const icmpCode = c.get(fields, 'ICMP Code');
    const extra: Record<string, string> = {};
    const flowId = c.get(fields, 'Flow ID');
    if (flowId !== '') extra['flow_id'] = flowId;
    const attempted = c.get(fields, 'Attempted Category');
    if (attempted !== '' && attempted !== '-1') extra['attempted_category'] = attempted;
    return {
      kind: 'flow',
      flow: {
        ...baseFlow('cic_csv', this.ctx.exporter),
        ...timesFromUs(timestampToUs(get('Timestamp'), 'Timestamp'), Math.round(durUs)),
        protocol,
        src_ip: ipField(get('Src IP'), 'Src IP'),
        dst_ip: ipField(get('Dst IP'), 'Dst IP'),
        src_port: portField(get('Src Port'), 'Src Port'),
        dst_port: portField(get('Dst Port'), 'Dst Port'),
        fwd_pkts: countField(get('Total Fwd Packet'), 'Total Fwd Packet'),
        bwd_pkts: countField(get('Total Bwd packets'), 'Total Bwd packets'),
        fwd_bytes: countField(get('Total Length of Fwd Packet'), 'Total Length of Fwd Packet'),
        bwd_bytes: countField(get('Total Length of Bwd Packet'), 'Total Length of Bwd Packet'),
        tcp_flags: protocol === 6 ? tcp_flags : 0,
        icmp_type: icmp && /^\d+$/.test(icmpType) ? Number(icmpType) : null,
        icmp_code: icmp && /^\d+$/.test(icmpCode) ? Number(icmpCode) : null,
        label: label.toUpperCase() === 'BENIGN' ? 0 : 1,
        attack: label,
        extra,
      },
    };
  }
}
