import { isIP } from 'node:net';
import type { FlowRecord } from '@tidewatch/contracts';
import { baseFlow, countField, ipField, portField, protocolNumber, timestampToUs } from '../fields.ts';
import { type LineParser, type LineResult, type ParserContext, RowError } from '../types.ts';

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * One GCP VPC flow log entry: a Cloud Logging LogEntry with `jsonPayload` (or the payload itself),
 * holding `connection {src_ip, src_port, dest_ip, dest_port, protocol}`, `bytes_sent`,
 * `packets_sent` (int64 as strings), `start_time`/`end_time` (RFC 3339). Unidirectional (bwd = 0).
 */
export function gcpRecord(entry: unknown, exporter: string): FlowRecord {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new RowError('log entry is not a JSON object');
  const e = entry as Record<string, unknown>;
  const payload = (
    typeof e['jsonPayload'] === 'object' && e['jsonPayload'] !== null ? e['jsonPayload'] : e
  ) as Record<string, unknown>;
  const conn = payload['connection'];
  if (typeof conn !== 'object' || conn === null) throw new RowError('jsonPayload.connection is missing');
  const c = conn as Record<string, unknown>;
  const src_ip = ipField(str(c['src_ip']), 'connection.src_ip');
  const protocol = protocolNumber(str(c['protocol']), isIP(src_ip) === 6);
  const startText = str(payload['start_time']);
  const endText = str(payload['end_time']);
  if (startText === '') throw new RowError('jsonPayload.start_time is missing');
  const start_ms = Math.floor(timestampToUs(startText, 'start_time') / 1000);
  const end_ms = endText === '' ? start_ms : Math.floor(timestampToUs(endText, 'end_time') / 1000);
  const extra: Record<string, string> = {};
  for (const key of ['reporter', 'rtt_msec']) {
    const v = str(payload[key]);
    if (v !== '') extra[key] = v;
  }
  for (const side of ['src_instance', 'dest_instance', 'src_vpc', 'dest_vpc'] as const) {
    const o = payload[side];
    if (typeof o === 'object' && o !== null) {
      const name = (o as Record<string, unknown>)['vm_name'] ?? (o as Record<string, unknown>)['vpc_name'];
      if (name !== undefined) extra[side] = str(name);
    }
  }
  const resource = e['resource'] as { labels?: Record<string, unknown> } | undefined;
  const subnet = resource?.labels?.['subnetwork_name'];
  return {
    ...baseFlow('gcp_vpc', subnet !== undefined ? `gcp:${str(subnet)}` : exporter),
    start_ms,
    end_ms,
    protocol,
    src_ip,
    dst_ip: ipField(str(c['dest_ip']), 'connection.dest_ip'),
    src_port: portField(str(c['src_port']), 'connection.src_port'),
    dst_port: portField(str(c['dest_port']), 'connection.dest_port'),
    fwd_bytes: countField(str(payload['bytes_sent']), 'bytes_sent'),
    fwd_pkts: countField(str(payload['packets_sent']), 'packets_sent'),
    extra,
  };
}

/** GCP VPC flow logs as JSON lines (one LogEntry a line). A JSON array file is read by the reader. */
export class GcpVpcParser implements LineParser {
  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch (e) {
      throw new RowError(`invalid JSON: ${(e as Error).message}`);
    }
    return { kind: 'flow', flow: gcpRecord(entry, this.ctx.exporter) };
  }
}
