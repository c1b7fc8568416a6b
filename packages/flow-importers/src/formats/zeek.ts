import { isIP } from 'node:net';
import type { FlowRecord } from '@tidewatch/contracts';
import { ColumnIndex, csvHeader, splitCsvLine } from '../csv.ts';
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

const REQUIRED = ['ts', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto'];

/** Zeek `history` letters to TCP flags (upper case = originator, lower case = responder). */
const HISTORY_FLAGS: Record<string, number> = { s: 0x02, h: 0x12, a: 0x10, d: 0x18, f: 0x01, r: 0x04 };

function tcpFlagsFromHistory(history: string): number {
  let flags = 0;
  for (const c of history.toLowerCase()) flags |= HISTORY_FLAGS[c] ?? 0;
  return flags;
}

/** Zeek/IoT-23/CTU label: Malicious → 1, Benign → 0, Background/Unknown (or none) → null. */
export function zeekLabel(value: string | undefined): number | null {
  const v = (value ?? '').trim().toLowerCase();
  if (v.startsWith('malicious')) return 1;
  if (v.startsWith('benign')) return 0;
  return null;
}

function isUnset(v: string | undefined): boolean {
  return v === undefined || v === '' || v === '-' || v === '(empty)';
}

/** Normalises one conn.log record, given as field name → text ('' for unset). */
export function zeekRecord(get: (name: string) => string, exporter: string): FlowRecord {
  const src_ip = ipField(get('id.orig_h'), 'id.orig_h');
  const dst_ip = ipField(get('id.resp_h'), 'id.resp_h');
  const protocol = protocolNumber(get('proto'), isIP(src_ip) === 6);
  const startUs = timestampToUs(get('ts'), 'ts');
  const durUs = secondsToUs(get('duration'), 'duration');
  const src_port = portField(get('id.orig_p'), 'id.orig_p');
  const dst_port = portField(get('id.resp_p'), 'id.resp_p');
  const detailed = get('detailed-label') || get('detailedlabel');
  const extra: Record<string, string> = {};
  for (const name of ['uid', 'service', 'conn_state', 'history', 'orig_ip_bytes', 'resp_ip_bytes']) {
    const v = get(name);
    if (v !== '') extra[name] = v;
  }
  const icmp = protocol === 1 || protocol === 58;
  return {
    ...baseFlow('zeek_conn', exporter),
    ...timesFromUs(startUs, durUs),
    protocol,
    src_ip,
    dst_ip,
    src_port,
    dst_port,
    fwd_bytes: countField(get('orig_bytes'), 'orig_bytes'),
    bwd_bytes: countField(get('resp_bytes'), 'resp_bytes'),
    fwd_pkts: countField(get('orig_pkts'), 'orig_pkts'),
    bwd_pkts: countField(get('resp_pkts'), 'resp_pkts'),
    tcp_flags: protocol === 6 ? tcpFlagsFromHistory(get('history')) : 0,
    icmp_type: icmp ? src_port : null,
    icmp_code: icmp ? dst_port : null,
    label: zeekLabel(get('label')),
    attack: detailed === '' ? null : detailed,
    extra,
  };
}

/**
 * Zeek conn.log as TSV (with its `#fields` header) or as JSON lines, one parser for both. The
 * IoT-23 files have 21 tab-separated fields: the last holds `tunnel_parents   label
 * detailed-label` joined by three spaces, in the header and in every row.
 */
export class ZeekConnParser implements LineParser {
  #names: string[] | undefined;
  /** Index of the IoT-23 merged field and how many names it holds. */
  #merged: { at: number; width: number } | undefined;
  #separator = '\t';
  #unset = '-';
  #empty = '(empty)';

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    if (text.startsWith('#')) return this.#directive(text);
    if (text.trimStart().startsWith('{')) return { kind: 'flow', flow: this.#json(text) };
    if (!this.#names) throw new RowError('data before the #fields header');
    let fields = text.split(this.#separator);
    if (this.#merged) {
      const { at, width } = this.#merged;
      const parts = (fields[at] ?? '').split(/ {3}|\t/);
      if (parts.length !== width)
        throw new RowError(`field ${at + 1} should hold ${width} values joined by 3 spaces: '${fields[at]}'`);
      fields = [...fields.slice(0, at), ...parts, ...fields.slice(at + 1)];
    }
    const names = this.#names;
    if (fields.length !== names.length)
      throw new RowError(`expected ${names.length} fields, found ${fields.length}`);
    const byName = new Map<string, string>();
    names.forEach((n, i) => {
      const v = (fields[i] ?? '').trim();
      byName.set(n, v === this.#unset || v === this.#empty ? '' : v);
    });
    const get = (n: string) => byName.get(n) ?? '';
    return { kind: 'flow', flow: zeekRecord(get, this.ctx.exporter) };
  }

  #directive(text: string): LineResult {
    const [key, ...rest] = text.split('\t');
    const value = rest.join('\t');
    if (key === '#separator') {
      const v = text.slice('#separator'.length).trim();
      this.#separator = v.replace(/\\x([0-9a-f]{2})/gi, (_, h: string) =>
        String.fromCharCode(Number.parseInt(h, 16)),
      );
    } else if (key === '#unset_field') this.#unset = value;
    else if (key === '#empty_field') this.#empty = value;
    else if (key === '#fields') {
      const raw = rest;
      const names: string[] = [];
      this.#merged = undefined;
      raw.forEach((f, i) => {
        const parts = f.trim().split(/\s+/);
        if (parts.length > 1) this.#merged = { at: i, width: parts.length };
        names.push(...parts);
      });
      const cols = new ColumnIndex(names);
      const missing = cols.missing(REQUIRED);
      if (missing.length > 0) throw new FileFormatError(`#fields lacks ${missing.join(', ')}`);
      this.#names = names;
      return { kind: 'header' };
    }
    return { kind: 'comment' };
  }

  #json(text: string): FlowRecord {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new RowError(`invalid JSON: ${(e as Error).message}`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      throw new RowError('JSON line is not an object');
    const rec = obj as Record<string, unknown>;
    const get = (n: string): string => {
      const v = rec[n];
      if (v === undefined || v === null) return '';
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
    };
    const missing = REQUIRED.filter((n) => rec[n] === undefined);
    if (missing.length > 0) throw new RowError(`conn record lacks ${missing.join(', ')}`);
    // JSON numbers lose trailing zeros and may use exponents (1.2e-05): normalise to plain decimals.
    const plain = (n: string): string => {
      const v = rec[n];
      return typeof v === 'number' ? v.toFixed(6) : get(n);
    };
    return zeekRecord((n) => (n === 'ts' || n === 'duration' ? plain(n) : get(n)), this.ctx.exporter);
  }
}

/** The aucad IoT-23 CSV variant: comma-separated, Zeek header names, unset values empty. */
export class ZeekCsvParser implements LineParser {
  #cols: ColumnIndex | undefined;

  constructor(private readonly ctx: ParserContext) {}

  parse(text: string): LineResult {
    if (text.trim() === '') return { kind: 'comment' };
    const fields = splitCsvLine(text);
    if (!this.#cols) {
      this.#cols = csvHeader(fields, REQUIRED, 'Zeek CSV header lacks');
      return { kind: 'header' };
    }
    const c = this.#cols;
    if (fields.length !== c.names.length)
      throw new RowError(`expected ${c.names.length} columns, found ${fields.length}`);
    const get = (n: string): string => {
      const v = c.get(fields, n);
      return isUnset(v) ? '' : v;
    };
    return { kind: 'flow', flow: zeekRecord(get, this.ctx.exporter) };
  }
}
