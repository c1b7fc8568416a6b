import type { FlowRecord } from '@tidewatch/contracts';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { baseFlow, binaryLabel, ipField, protocolNumber, timestampToUs } from '../fields.ts';
import { FileFormatError, RowError } from '../types.ts';

const REQUIRED = ['timestamp', 'src_ip', 'dest_ip', 'src_port', 'dest_port'];
const CHUNK_ROWS = 20_000;

function toMs(v: unknown): number {
  if (v instanceof Date) {
    const t = v.getTime();
    if (Number.isNaN(t)) throw new RowError('timestamp is not a valid date');
    return t;
  }
  if (typeof v === 'bigint') return Number(v / 1_000_000n);
  if (typeof v === 'number' || typeof v === 'string') return Math.floor(timestampToUs(String(v)) / 1000);
  throw new RowError(`timestamp ${String(v)} is not a date`);
}

function count(v: unknown, name: string): number {
  if (v === null || v === undefined) return 0;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
    throw new RowError(`${name} ${String(v)} is not a non-negative integer`);
  return n;
}

function port(v: unknown, name: string): number {
  const n = count(v, name);
  if (n > 65535) throw new RowError(`${name} ${n} is out of range (max 65535)`);
  return n;
}

export function parquetRecord(r: Record<string, unknown>, exporter: string): FlowRecord {
  const start_ms = toMs(r['timestamp']);
  const dur = r['flow_dur'];
  const durMs = dur === null || dur === undefined ? 0 : Number(dur) * 1000;
  if (!Number.isFinite(durMs) || durMs < 0) throw new RowError(`flow_dur ${String(dur)} is not a duration`);
  const proto = r['protocol'];
  const attack = r['attack'];
  return {
    ...baseFlow('parquet', exporter),
    start_ms,
    end_ms: start_ms + Math.round(durMs),
    // flowprep's parquet has no protocol column: 0 means "not in the source" (nothing is guessed).
    protocol: proto === null || proto === undefined ? 0 : protocolNumber(String(proto)),
    src_ip: ipField(String(r['src_ip'] ?? ''), 'src_ip'),
    dst_ip: ipField(String(r['dest_ip'] ?? ''), 'dest_ip'),
    src_port: port(r['src_port'], 'src_port'),
    dst_port: port(r['dest_port'], 'dest_port'),
    fwd_bytes: count(r['fwd_bytes'], 'fwd_bytes'),
    bwd_bytes: count(r['bwd_bytes'], 'bwd_bytes'),
    fwd_pkts: count(r['total_fwd_pkts'], 'total_fwd_pkts'),
    bwd_pkts: count(r['total_bwd_pkts'], 'total_bwd_pkts'),
    label: r['label'] === null || r['label'] === undefined ? null : binaryLabel(String(r['label'])),
    attack: attack === null || attack === undefined || attack === '' ? null : String(attack),
  };
}

/** Rows of a Tempo-schema parquet file (flowprep), in chunks so memory stays bounded. */
export async function* readParquetRows(path: string): AsyncGenerator<Record<string, unknown>> {
  const file = await asyncBufferFromFile(path);
  const meta = await parquetMetadataAsync(file);
  const names = new Set(meta.schema.slice(1).map((s) => s.name));
  const missing = REQUIRED.filter((n) => !names.has(n));
  if (missing.length > 0) throw new FileFormatError(`parquet schema lacks column(s) ${missing.join(', ')}`);
  const total = Number(meta.num_rows);
  for (let start = 0; start < total; start += CHUNK_ROWS) {
    const rows = await parquetReadObjects({
      file,
      metadata: meta,
      compressors,
      rowStart: start,
      rowEnd: Math.min(total, start + CHUNK_ROWS),
    });
    yield* rows as Record<string, unknown>[];
  }
}
