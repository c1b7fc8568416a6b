import { isIP } from 'node:net';
import { ColumnIndex } from '../csv.ts';
import { baseFlow, countField, ipField, portField, protocolNumber } from '../fields.ts';
import { FileFormatError, type LineParser, type LineResult, type ParserContext, RowError } from '../types.ts';

/** The default (version 2) field order, used when a file has no header line. */
export const AWS_V2_FIELDS = [
  'version',
  'account-id',
  'interface-id',
  'srcaddr',
  'dstaddr',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
  'action',
  'log-status',
];

const REQUIRED = ['srcaddr', 'dstaddr', 'srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end'];
const EXTRA_FIELDS = [
  'account-id',
  'interface-id',
  'action',
  'vpc-id',
  'subnet-id',
  'instance-id',
  'type',
  'pkt-srcaddr',
  'pkt-dstaddr',
  'region',
  'az-id',
  'flow-direction',
  'traffic-path',
  'pkt-src-aws-service',
  'pkt-dst-aws-service',
];

/**
 * AWS VPC flow logs, versions 2-5: space-separated, with a header line of field names (custom
 * formats) or, without one, the default v2 order. NODATA/SKIPDATA rows carry no flow: they are
 * counted as skipped, not as rows. Records are unidirectional (bwd = 0); `start`/`end` are epoch
 * seconds, so times have 1 s resolution. The exporter is the interface id.
 */
export class AwsVpcParser implements LineParser {
  #cols: ColumnIndex | undefined;

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    const t = text.trim();
    if (t === '' || t.startsWith('#')) return { kind: 'comment' };
    const fields = t.split(/\s+/);
    if (!this.#cols) {
      if (fields.includes('srcaddr') || fields.includes('version')) {
        const cols = new ColumnIndex(fields.map((f) => f.replace(/^\$\{|\}$/g, '')));
        const missing = cols.missing(REQUIRED);
        if (missing.length > 0) throw new FileFormatError(`VPC flow log header lacks ${missing.join(', ')}`);
        this.#cols = cols;
        return { kind: 'header' };
      }
      if (fields.length !== AWS_V2_FIELDS.length)
        throw new FileFormatError(
          `VPC flow log without a header must have the 14 default v2 fields, found ${fields.length}`,
        );
      this.#cols = new ColumnIndex(AWS_V2_FIELDS);
    }
    const c = this.#cols;
    if (fields.length !== c.names.length)
      throw new RowError(`expected ${c.names.length} space-separated fields, found ${fields.length}`);
    const get = (n: string) => c.get(fields, n);
    const status = get('log-status');
    if (status === 'NODATA' || status === 'SKIPDATA') return { kind: 'skip', reason: status };
    const src_ip = ipField(get('srcaddr'), 'srcaddr');
    const protocol = protocolNumber(get('protocol'), isIP(src_ip) === 6);
    const start = countField(get('start'), 'start');
    const end = countField(get('end'), 'end');
    if (end < start) throw new RowError(`end ${end} is before start ${start}`);
    const extra: Record<string, string> = {};
    for (const name of EXTRA_FIELDS) {
      const v = get(name);
      if (v !== '' && v !== '-') extra[name] = v;
    }
    const iface = get('interface-id');
    const flags = get('tcp-flags');
    return {
      kind: 'flow',
      flow: {
        ...baseFlow('aws_vpc', iface !== '' && iface !== '-' ? iface : this.ctx.exporter),
        start_ms: start * 1000,
        end_ms: end * 1000,
        protocol,
        src_ip,
        dst_ip: ipField(get('dstaddr'), 'dstaddr'),
        src_port: portField(get('srcport'), 'srcport'),
        dst_port: portField(get('dstport'), 'dstport'),
        fwd_pkts: countField(get('packets'), 'packets'),
        fwd_bytes: countField(get('bytes'), 'bytes'),
        tcp_flags: flags !== '' && flags !== '-' ? countField(flags, 'tcp-flags', 255) : 0,
        extra,
      },
    };
  }
}
