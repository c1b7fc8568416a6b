import { isIP } from 'node:net';
import { type ColumnIndex, csvHeader, splitCsvLine } from '../csv.ts';
import {
  baseFlow,
  countField,
  ipField,
  portField,
  protocolNumber,
  secondsToUs,
  tcpFlagsFromLetters,
  timesFromUs,
  timestampToUs,
} from '../fields.ts';
import { type LineParser, type LineResult, type ParserContext, RowError } from '../types.ts';

const REQUIRED = ['ts', 'td', 'sa', 'da', 'sp', 'dp', 'pr', 'ipkt', 'ibyt'];

function optionalNumber(v: string): number | null {
  return /^\d+$/.test(v) ? Number(v) : null;
}

/**
 * `nfdump -o csv` output (1.6 and 1.7): header `ts,te,td,sa,da,sp,dp,pr,flg,...`, then a trailer
 * after a `Summary` line which is not data. nfdump prints `ts` in the local time zone: run it with
 * TZ=UTC (we read the time as UTC). `ipkt/ibyt` are forward, `opkt/obyt` backward (NSEL biflows).
 */
export class NfdumpCsvParser implements LineParser {
  #cols: ColumnIndex | undefined;
  #trailer = false;

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (this.#trailer) return { kind: 'trailer' };
    const t = text.trim();
    if (t === '') return { kind: 'comment' };
    if (t === 'Summary' || t === 'No matching flows') {
      this.#trailer = true;
      return { kind: 'trailer' };
    }
    const fields = splitCsvLine(text);
    if (!this.#cols) {
      this.#cols = csvHeader(fields, REQUIRED, 'nfdump CSV header lacks');
      return { kind: 'header' };
    }
    const c = this.#cols;
    if (fields.length < c.names.length)
      throw new RowError(`expected ${c.names.length} columns, found ${fields.length}`);
    const get = (n: string) => c.get(fields, n);
    const src_ip = ipField(get('sa'), 'sa');
    const protocol = protocolNumber(get('pr'), isIP(src_ip) === 6);
    const router = get('ra');
    const exporter = router !== '' && isIP(router) !== 0 && router !== '0.0.0.0' ? router : this.ctx.exporter;
    const icmp = protocol === 1 || protocol === 58;
    // nfdump encodes ICMP type.code in dp as type*256+code, shown as "8.0" by some versions.
    const icmpDotted = /^(\d+)\.(\d+)$/.exec(get('dp'));
    const dp = icmpDotted ? Number(icmpDotted[1]) * 256 + Number(icmpDotted[2]) : portField(get('dp'), 'dp');
    const extra: Record<string, string> = {};
    const engine = get('eng');
    if (engine !== '' && engine !== '0/0') extra['engine'] = engine;
    return {
      kind: 'flow',
      flow: {
        ...baseFlow('nfdump_csv', exporter),
        ...timesFromUs(timestampToUs(get('ts'), 'ts'), secondsToUs(get('td'), 'td')),
        protocol,
        src_ip,
        dst_ip: ipField(get('da'), 'da'),
        src_port: portField(get('sp'), 'sp'),
        dst_port: dp,
        fwd_pkts: countField(get('ipkt'), 'ipkt'),
        fwd_bytes: countField(get('ibyt'), 'ibyt'),
        bwd_pkts: countField(get('opkt'), 'opkt'),
        bwd_bytes: countField(get('obyt'), 'obyt'),
        tcp_flags: protocol === 6 ? tcpFlagsFromLetters(get('flg')) : 0,
        in_if: optionalNumber(get('in')),
        out_if: optionalNumber(get('out')),
        src_as: optionalNumber(get('sas')),
        dst_as: optionalNumber(get('das')),
        vlan: optionalNumber(get('svln')) || null,
        icmp_type: icmp ? (icmpDotted ? Number(icmpDotted[1]) : dp >> 8) : null,
        icmp_code: icmp ? (icmpDotted ? Number(icmpDotted[2]) : dp & 0xff) : null,
        extra,
      },
    };
  }
}
