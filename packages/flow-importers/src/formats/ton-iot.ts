import { type ColumnIndex, csvHeader, splitCsvLine } from '../csv.ts';
import { binaryLabel } from '../fields.ts';
import { type LineParser, type LineResult, type ParserContext, RowError } from '../types.ts';
import { zeekRecord } from './zeek.ts';

/** ToN_IoT's network columns and the Zeek conn.log fields they were renamed from. */
const ZEEK_NAMES: Record<string, string> = {
  ts: 'ts',
  'id.orig_h': 'src_ip',
  'id.orig_p': 'src_port',
  'id.resp_h': 'dst_ip',
  'id.resp_p': 'dst_port',
  proto: 'proto',
  service: 'service',
  duration: 'duration',
  orig_bytes: 'src_bytes',
  resp_bytes: 'dst_bytes',
  conn_state: 'conn_state',
  orig_pkts: 'src_pkts',
  resp_pkts: 'dst_pkts',
  orig_ip_bytes: 'src_ip_bytes',
  resp_ip_bytes: 'dst_ip_bytes',
};

const REQUIRED = ['ts', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'proto', 'src_bytes', 'dst_bytes'];

/** A number pandas may have written with an exponent (1.1e-05) as a plain decimal. */
function plainDecimal(v: string): string {
  if (!/e/i.test(v)) return v;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n.toFixed(6) : v;
}

/**
 * The ToN_IoT network dataset (UNSW Canberra; `Train_Test_Network.csv`, `Network_dataset_*.csv`):
 * Zeek conn.log records with renamed columns (src_ip, src_bytes, src_pkts …) plus DNS / SSL / HTTP
 * fields, `label` 0/1 and `type` (normal, scanning, dos, ddos, injection, password, xss,
 * ransomware, backdoor, mitm). Read exactly as Zeek (payload bytes, source_format zeek_conn); the
 * attack is `type` on a malicious row.
 */
export class TonIotCsvParser implements LineParser {
  #cols: ColumnIndex | undefined;

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    const fields = splitCsvLine(text);
    if (!this.#cols) {
      this.#cols = csvHeader(fields, REQUIRED, 'ToN_IoT network CSV header lacks');
      return { kind: 'header' };
    }
    const c = this.#cols;
    if (fields.length !== c.names.length)
      throw new RowError(`expected ${c.names.length} columns, found ${fields.length}`);
    const get = (zeekName: string): string => {
      const name = ZEEK_NAMES[zeekName];
      if (name === undefined) return '';
      const v = c.get(fields, name);
      return v === '-' ? '' : plainDecimal(v);
    };
    const flow = zeekRecord(get, this.ctx.exporter);
    const label = binaryLabel(c.get(fields, 'label'));
    const type = c.get(fields, 'type');
    return {
      kind: 'flow',
      flow: { ...flow, label, attack: label === 1 && type !== '' && type !== '-' ? type : null },
    };
  }
}
