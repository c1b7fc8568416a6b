import { isIP } from 'node:net';
import { ColumnIndex, splitCsvLine } from '../csv.ts';
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
import { FileFormatError, type LineParser, type LineResult, type ParserContext, RowError } from '../types.ts';

/**
 * The 49 columns of UNSW-NB15's record files (`UNSW-NB15_1.csv` … `_4.csv`, which have no header;
 * NUSW-NB15_features.csv names them), lower-cased; 44 is "ct_src_ ltm" in that list.
 */
export const UNSW_NB15_COLUMNS = [
  'srcip',
  'sport',
  'dstip',
  'dsport',
  'proto',
  'state',
  'dur',
  'sbytes',
  'dbytes',
  'sttl',
  'dttl',
  'sloss',
  'dloss',
  'service',
  'sload',
  'dload',
  'spkts',
  'dpkts',
  'swin',
  'dwin',
  'stcpb',
  'dtcpb',
  'smeansz',
  'dmeansz',
  'trans_depth',
  'res_bdy_len',
  'sjit',
  'djit',
  'stime',
  'ltime',
  'sintpkt',
  'dintpkt',
  'tcprtt',
  'synack',
  'ackdat',
  'is_sm_ips_ports',
  'ct_state_ttl',
  'ct_flw_http_mthd',
  'is_ftp_login',
  'ct_ftp_cmd',
  'ct_srv_src',
  'ct_srv_dst',
  'ct_dst_ltm',
  'ct_src_ltm',
  'ct_src_dport_ltm',
  'ct_dst_sport_ltm',
  'ct_dst_src_ltm',
  'attack_cat',
  'label',
];

const REQUIRED = [
  'srcip',
  'sport',
  'dstip',
  'dsport',
  'proto',
  'dur',
  'sbytes',
  'dbytes',
  'spkts',
  'dpkts',
  'stime',
];

/** Whether a line is a headerless UNSW-NB15 record (49 fields, addresses in the first and third). */
export function looksLikeUnswNb15Record(fields: string[]): boolean {
  return (
    fields.length === UNSW_NB15_COLUMNS.length &&
    isIP((fields[0] ?? '').trim()) !== 0 &&
    isIP((fields[2] ?? '').trim()) !== 0
  );
}

/**
 * UNSW-NB15 record files (UNSW Canberra, Argus and Bro features of the 2015 testbed), with the
 * header of NUSW-NB15_features.csv's names or, as published, without one. Argus biflows: `sbytes`
 * / `dbytes` are each direction's bytes, `spkts` / `dpkts` its packets, `stime` the start (epoch
 * seconds) and `dur` the duration; ports may be hex (0x…) or '-'. `label` 0/1; the attack is
 * `attack_cat` (trimmed: the files pad some names) on a malicious row. Protocols Argus names that
 * IP has no number for (arp, unas, any…) are rejected rows.
 */
export class UnswNb15Parser implements LineParser {
  #cols: ColumnIndex | undefined;

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    const fields = splitCsvLine(text);
    if (!this.#cols) {
      if ((fields[0] ?? '').trim().toLowerCase() === 'srcip') {
        const cols = new ColumnIndex(fields.map((f) => f.trim().toLowerCase().replace(/\s+/g, '')));
        const missing = cols.missing(REQUIRED);
        if (missing.length > 0) throw new FileFormatError(`UNSW-NB15 header lacks ${missing.join(', ')}`);
        this.#cols = cols;
        return { kind: 'header' };
      }
      if (fields.length !== UNSW_NB15_COLUMNS.length)
        throw new FileFormatError(
          `UNSW-NB15 records without a header have ${UNSW_NB15_COLUMNS.length} columns, found ${fields.length}`,
        );
      this.#cols = new ColumnIndex(UNSW_NB15_COLUMNS);
    }
    const c = this.#cols;
    if (fields.length !== c.names.length)
      throw new RowError(`expected ${c.names.length} columns, found ${fields.length}`);
    const get = (n: string) => c.get(fields, n);
    const src_ip = ipField(get('srcip'), 'srcip');
    const protocol = protocolNumber(get('proto'), isIP(src_ip) === 6);
    const label = binaryLabel(get('label'));
    const category = get('attack_cat');
    const extra: Record<string, string> = {};
    for (const name of ['state', 'service']) {
      const v = get(name);
      if (v !== '' && v !== '-') extra[name] = v;
    }
    return {
      kind: 'flow',
      flow: {
        ...baseFlow('argus', this.ctx.exporter),
        ...timesFromUs(timestampToUs(get('stime'), 'stime'), secondsToUs(get('dur'), 'dur')),
        protocol,
        src_ip,
        dst_ip: ipField(get('dstip'), 'dstip'),
        src_port: portField(get('sport'), 'sport'),
        dst_port: portField(get('dsport'), 'dsport'),
        fwd_bytes: countField(get('sbytes'), 'sbytes'),
        bwd_bytes: countField(get('dbytes'), 'dbytes'),
        fwd_pkts: countField(get('spkts'), 'spkts'),
        bwd_pkts: countField(get('dpkts'), 'dpkts'),
        label,
        attack: label === 1 && category !== '' && category !== '-' ? category : null,
        extra,
      },
    };
  }
}
