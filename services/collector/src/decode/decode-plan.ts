import type { FlowRecord } from '@tidewatch/contracts';
import { describeElement, type IeType, PEN } from './information-elements.ts';
import { hex, ipv4, ipv6, mac, ntpToMs, signedText, u16, u32, uint, uintText, utf8 } from './wire.ts';

/** One field of a template as announced on the wire. */
export interface TemplateField {
  id: number;
  pen: number; // 0 for IANA / NetFlow v9 types
  length: number; // 65535 = variable length (IPFIX)
}

export const VARIABLE_LENGTH = 65535;

/**
 * Per-record values that are not FlowRecord fields themselves but decide some of them (times,
 * sampling, ICMP, sampled frame). One instance is reused for every record.
 */
export class RecordScratch {
  firstUptime = Number.NaN;
  lastUptime = Number.NaN;
  startMs = Number.NaN;
  endMs = Number.NaN;
  startDeltaUs = Number.NaN;
  endDeltaUs = Number.NaN;
  durationMs = Number.NaN;
  /** observationTime* (IEs 322-325): when the record's event or packet was seen (NSEL's event time). */
  observedMs = Number.NaN;
  systemInitMs = Number.NaN;
  samplerId = -1;
  samplingInterval = 0;
  samplingSpace = 0;
  icmpTypeCode = -1;
  icmpType = -1;
  icmpCode = -1;
  totalBytes = -1;
  totalPkts = -1;
  revTotalBytes = -1;
  revTotalPkts = -1;
  initiatorBytes = -1;
  responderBytes = -1;
  initiatorPkts = -1;
  responderPkts = -1;
  altSrcPort = -1;
  altDstPort = -1;
  frameSize = -1;
  frameBuf: Uint8Array | null = null;
  frameOff = 0;
  frameLen = 0;
  frameIsIp = false;
  hasSrc = false;
  hasDst = false;

  reset(): void {
    this.firstUptime = Number.NaN;
    this.lastUptime = Number.NaN;
    this.startMs = Number.NaN;
    this.endMs = Number.NaN;
    this.startDeltaUs = Number.NaN;
    this.endDeltaUs = Number.NaN;
    this.durationMs = Number.NaN;
    this.observedMs = Number.NaN;
    this.systemInitMs = Number.NaN;
    this.samplerId = -1;
    this.samplingInterval = 0;
    this.samplingSpace = 0;
    this.icmpTypeCode = -1;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.totalBytes = -1;
    this.totalPkts = -1;
    this.revTotalBytes = -1;
    this.revTotalPkts = -1;
    this.initiatorBytes = -1;
    this.responderBytes = -1;
    this.initiatorPkts = -1;
    this.responderPkts = -1;
    this.altSrcPort = -1;
    this.altDstPort = -1;
    this.frameSize = -1;
    this.frameBuf = null;
    this.frameLen = 0;
    this.frameIsIp = false;
    this.hasSrc = false;
    this.hasDst = false;
  }
}

export type FieldReader = (b: Uint8Array, o: number, len: number, r: FlowRecord, s: RecordScratch) => void;

/** A template compiled once into the readers its records need, in wire order. */
export interface DecodePlan {
  readers: (FieldReader | null)[];
  lengths: number[];
  /** Record length when no field is variable, else -1. */
  fixedLength: number;
  /** Smallest possible record (variable fields count 1 byte); 0 means the template cannot frame records. */
  minLength: number;
  /**
   * For fixed-length templates: one straight-line function generated from the template that
   * reads every field at its constant offset (the common elements inline, the rest through
   * `readers`), so a record costs one call instead of one call per field.
   */
  fixed: ((b: Uint8Array, o: number, r: FlowRecord, s: RecordScratch) => void) | null;
}

/**
 * Elements that set derived record fields but whose raw value is worth keeping in `extra` too:
 * the sampler id, the duration, the observation time (an NSEL event's time), and in IPFIX the
 * sysUpTime stamps (absolute only when a systemInitTimeMilliseconds is known).
 */
const ALSO_EXTRA = new Set([48, 302, 161, 162, 85, 86, 180, 181, 182, 183, 322, 323, 324, 325]);
const ALSO_EXTRA_IPFIX = new Set([21, 22]);

export function compilePlan(fields: TemplateField[], ipfix = false, extras = true): DecodePlan {
  const readers: (FieldReader | null)[] = [];
  const lengths: number[] = [];
  let fixed = 0;
  let min = 0;
  let variable = false;
  const seen = new Set<string>();
  const plainExtra: boolean[] = [];
  for (const f of fields) {
    const key = `${f.pen}:${f.id}`;
    // A repeated element (several MPLS labels, two VLAN ids) maps its first occurrence to the
    // record; later ones go to `extra` with an index so nothing is lost.
    const repeat = seen.has(key);
    seen.add(key);
    let reader = repeat ? (extras ? extraReader(f, true) : null) : fieldReader(f, extras);
    plainExtra.push(extras && !repeat && f.length > 0 && isPlainExtra(f));
    if (
      !repeat &&
      f.pen === 0 &&
      reader !== null &&
      (ALSO_EXTRA.has(f.id) || (ipfix && ALSO_EXTRA_IPFIX.has(f.id)))
    ) {
      const main = reader;
      const keep = extraReader(f, false) as FieldReader;
      reader = (b, o, l, r, s) => {
        main(b, o, l, r, s);
        keep(b, o, l, r, s);
      };
    }
    readers.push(reader);
    lengths.push(f.length);
    if (f.length === VARIABLE_LENGTH) {
      variable = true;
      min += 1;
    } else {
      fixed += f.length;
      min += f.length;
    }
  }
  const plan: DecodePlan = {
    readers,
    lengths,
    fixedLength: variable ? -1 : fixed,
    minLength: min,
    fixed: null,
  };
  if (!variable) plan.fixed = generateFixed(fields, readers, extras, plainExtra);
  return plan;
}

const DECIMAL: string[] = Array.from({ length: 256 }, (_, i) => String(i));

/** Big-endian read of `len` bytes at `o + off` as JavaScript source (offsets are integers we computed). */
function readExpr(off: number, len: number): string {
  const at = (k: number) => `b[o + ${off + k}]`;
  switch (len) {
    case 1:
      return at(0);
    case 2:
      return `((${at(0)} << 8) | ${at(1)})`;
    case 4:
      return `(${at(0)} * 16777216 + ((${at(1)} << 16) | (${at(2)} << 8) | ${at(3)}))`;
    case 8:
      return `((${at(0)} * 16777216 + ((${at(1)} << 16) | (${at(2)} << 8) | ${at(3)})) * 4294967296 + (${at(4)} * 16777216 + ((${at(5)} << 16) | (${at(6)} << 8) | ${at(7)})))`;
    default:
      return `U(b, o + ${off}, ${len})`;
  }
}

/** Statements for the elements that map straight onto record or scratch fields; V is the value. */
const INLINE: Record<number, string> = {
  1: 'r.fwd_bytes = V;',
  2: 'r.fwd_pkts = V;',
  4: 'r.protocol = V;',
  6: 'r.tcp_flags = V;',
  7: 'r.src_port = V;',
  11: 'r.dst_port = V;',
  10: 'r.in_if = V;',
  14: 'r.out_if = V;',
  16: 'r.src_as = V;',
  17: 'r.dst_as = V;',
  21: 's.lastUptime = V;',
  22: 's.firstUptime = V;',
  150: 's.startMs = V * 1000;',
  151: 's.endMs = V * 1000;',
  152: 's.startMs = V;',
  153: 's.endMs = V;',
};

/** A field that only goes to `extra` under its own name (no record field, no special rendering). */
function isPlainExtra(f: TemplateField): boolean {
  if (f.pen === 0) return ianaReader(f) === undefined && !MPLS_LABEL_IDS.has(f.id);
  if (f.pen === PEN.reverse) return reverseReader(f) === undefined;
  return true;
}

function generateFixed(
  fields: TemplateField[],
  readers: (FieldReader | null)[],
  extras: boolean,
  plainExtra: boolean[],
): DecodePlan['fixed'] {
  const lines: string[] = [];
  // `extra` of the unmapped elements as one object literal: one hidden class per template
  const entries: string[] = [];
  const renderers: ((b: Uint8Array, o: number, len: number) => string)[] = [];
  {
    let off = 0;
    fields.forEach((f, i) => {
      if (plainExtra[i]) {
        const { type, name } = describeElement(f.id, f.pen, f.length);
        renderers[i] = (b, o, len) => renderValue(type, b, o, len);
        let value = `T[${i}](b, o + ${off}, ${f.length})`;
        if (type === 'u' && f.length === 1) value = `D[b[o + ${off}]]`;
        else if (type === 'u' && (f.length === 2 || f.length === 4))
          value = `String(${readExpr(off, f.length)})`;
        else if (type === 'ip4' && f.length === 4) value = `IP4(b, o + ${off})`;
        entries.push(`${JSON.stringify(name)}: ${value}`);
      }
      off += f.length;
    });
  }
  if (entries.length > 0) lines.push(`r.extra = { ${entries.join(', ')} };`);
  const seen = new Set<number>();
  let off = 0;
  fields.forEach((f, i) => {
    const len = f.length;
    const first = f.pen === 0 && !seen.has(f.id);
    if (f.pen === 0) seen.add(f.id);
    const inline = first && len > 0 && len <= 8 ? INLINE[f.id] : undefined;
    if (inline !== undefined && readers[i] !== null && !(extras && ALSO_EXTRA.has(f.id))) {
      lines.push(inline.replace('V', readExpr(off, len)));
    } else if (first && len === 4 && (f.id === 8 || f.id === 12)) {
      const side = f.id === 8 ? 'Src' : 'Dst';
      const field = f.id === 8 ? 'src_ip' : 'dst_ip';
      lines.push(
        `if (!s.has${side} || ${readExpr(off, 4)} !== 0) { r.${field} = IP4(b, o + ${off}); s.has${side} = true; }`,
      );
    } else if (plainExtra[i]) {
      // already in the extra literal
    } else if (readers[i] !== null) lines.push(`X[${i}](b, o + ${off}, ${len}, r, s);`);
    off += len;
  });
  // Only integers computed above and fixed snippets reach the generated source.
  const factory = new Function(
    'X',
    'U',
    'IP4',
    'T',
    'D',
    `return function decodeRecord(b, o, r, s) {\n${lines.join('\n')}\n};`,
  );
  return factory(readers, uint, ipv4, renderers, DECIMAL) as DecodePlan['fixed'];
}

function fieldReader(f: TemplateField, extras: boolean): FieldReader | null {
  if (f.length === 0) return null;
  const other = () => (extras ? extraReader(f, false) : null);
  if (f.pen === 0) return ianaReader(f) ?? other();
  if (f.pen === PEN.reverse) return reverseReader(f) ?? other();
  return other();
}

function zero16(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 16; i++) if (b[o + i] !== 0) return false;
  return true;
}

function ianaReader(f: TemplateField): FieldReader | null | undefined {
  const len = f.length;
  const isAddr4 = len === 4;
  const isAddr6 = len === 16;
  switch (f.id) {
    case 1:
      return (b, o, l, r) => {
        r.fwd_bytes = uint(b, o, l);
      };
    case 2:
      return (b, o, l, r) => {
        r.fwd_pkts = uint(b, o, l);
      };
    case 85:
      return (b, o, l, _r, s) => {
        s.totalBytes = uint(b, o, l);
      };
    case 86:
      return (b, o, l, _r, s) => {
        s.totalPkts = uint(b, o, l);
      };
    case 231:
      return (b, o, l, _r, s) => {
        s.initiatorBytes = uint(b, o, l);
      };
    case 232:
      return (b, o, l, _r, s) => {
        s.responderBytes = uint(b, o, l);
      };
    case 298:
      return (b, o, l, _r, s) => {
        s.initiatorPkts = uint(b, o, l);
      };
    case 299:
      return (b, o, l, _r, s) => {
        s.responderPkts = uint(b, o, l);
      };
    case 4:
      return (b, o, l, r) => {
        r.protocol = uint(b, o, l);
      };
    case 6:
      return (b, o, l, r) => {
        r.tcp_flags = uint(b, o, l);
      };
    case 7:
      return (b, o, l, r) => {
        r.src_port = uint(b, o, l);
      };
    case 11:
      return (b, o, l, r) => {
        r.dst_port = uint(b, o, l);
      };
    case 180:
    case 182:
      return (b, o, l, _r, s) => {
        s.altSrcPort = uint(b, o, l);
      };
    case 181:
    case 183:
      return (b, o, l, _r, s) => {
        s.altDstPort = uint(b, o, l);
      };
    case 8:
      if (!isAddr4) return undefined;
      // a template may carry both families with the unused one zeroed: the real address wins
      return (b, o, _l, r, s) => {
        if (s.hasSrc && u32(b, o) === 0) return;
        r.src_ip = ipv4(b, o);
        s.hasSrc = true;
      };
    case 12:
      if (!isAddr4) return undefined;
      return (b, o, _l, r, s) => {
        if (s.hasDst && u32(b, o) === 0) return;
        r.dst_ip = ipv4(b, o);
        s.hasDst = true;
      };
    case 27:
      if (!isAddr6) return undefined;
      return (b, o, _l, r, s) => {
        if (s.hasSrc && zero16(b, o)) return;
        r.src_ip = ipv6(b, o);
        s.hasSrc = true;
      };
    case 28:
      if (!isAddr6) return undefined;
      return (b, o, _l, r, s) => {
        if (s.hasDst && zero16(b, o)) return;
        r.dst_ip = ipv6(b, o);
        s.hasDst = true;
      };
    case 10:
      return (b, o, l, r) => {
        r.in_if = uint(b, o, l);
      };
    case 14:
      return (b, o, l, r) => {
        r.out_if = uint(b, o, l);
      };
    case 16:
      return (b, o, l, r) => {
        r.src_as = uint(b, o, l);
      };
    case 17:
      return (b, o, l, r) => {
        r.dst_as = uint(b, o, l);
      };
    case 58:
    case 243:
      return (b, o, l, r) => {
        if (r.vlan == null) r.vlan = uint(b, o, l) & 0x0fff;
      };
    case 32:
    case 139:
      return (b, o, l, _r, s) => {
        s.icmpTypeCode = uint(b, o, l);
      };
    case 176:
    case 178:
      return (b, o, l, _r, s) => {
        s.icmpType = uint(b, o, l);
      };
    case 177:
    case 179:
      return (b, o, l, _r, s) => {
        s.icmpCode = uint(b, o, l);
      };
    case 21:
      return (b, o, l, _r, s) => {
        s.lastUptime = uint(b, o, l);
      };
    case 22:
      return (b, o, l, _r, s) => {
        s.firstUptime = uint(b, o, l);
      };
    case 150:
      return (b, o, l, _r, s) => {
        s.startMs = uint(b, o, l) * 1000;
      };
    case 151:
      return (b, o, l, _r, s) => {
        s.endMs = uint(b, o, l) * 1000;
      };
    case 152:
      return (b, o, l, _r, s) => {
        s.startMs = uint(b, o, l);
      };
    case 153:
      return (b, o, l, _r, s) => {
        s.endMs = uint(b, o, l);
      };
    case 154:
    case 156:
      if (len !== 8) return undefined;
      return (b, o, _l, _r, s) => {
        s.startMs = ntpToMs(b, o);
      };
    case 155:
    case 157:
      if (len !== 8) return undefined;
      return (b, o, _l, _r, s) => {
        s.endMs = ntpToMs(b, o);
      };
    case 322:
      return (b, o, l, _r, s) => {
        s.observedMs = uint(b, o, l) * 1000;
      };
    case 323:
      return (b, o, l, _r, s) => {
        s.observedMs = uint(b, o, l);
      };
    case 324:
    case 325:
      if (len !== 8) return undefined;
      return (b, o, _l, _r, s) => {
        s.observedMs = ntpToMs(b, o);
      };
    case 158:
      return (b, o, l, _r, s) => {
        s.startDeltaUs = uint(b, o, l);
      };
    case 159:
      return (b, o, l, _r, s) => {
        s.endDeltaUs = uint(b, o, l);
      };
    case 160:
      return (b, o, l, _r, s) => {
        s.systemInitMs = uint(b, o, l);
      };
    case 161:
      return (b, o, l, _r, s) => {
        s.durationMs = uint(b, o, l);
      };
    case 162:
      return (b, o, l, _r, s) => {
        s.durationMs = Math.floor(uint(b, o, l) / 1000);
      };
    case 34:
    case 50:
    case 305:
      return (b, o, l, _r, s) => {
        s.samplingInterval = uint(b, o, l);
      };
    case 306:
      return (b, o, l, _r, s) => {
        s.samplingSpace = uint(b, o, l);
      };
    case 48:
    case 302:
      return (b, o, l, _r, s) => {
        s.samplerId = uint(b, o, l);
      };
    case 312:
      return (b, o, l, _r, s) => {
        s.frameSize = uint(b, o, l);
      };
    case 315:
    case 313:
      return (b, o, l, _r, s) => {
        s.frameBuf = b;
        s.frameOff = o;
        s.frameLen = l;
        s.frameIsIp = f.id === 313;
      };
    case 210:
      return null; // paddingOctets
    default:
      return undefined;
  }
}

/** RFC 5103 reverse elements: the reverse direction's counters become the bwd fields. */
function reverseReader(f: TemplateField): FieldReader | undefined {
  switch (f.id) {
    case 1:
      return (b, o, l, r) => {
        r.bwd_bytes = uint(b, o, l);
      };
    case 2:
      return (b, o, l, r) => {
        r.bwd_pkts = uint(b, o, l);
      };
    case 85:
      return (b, o, l, _r, s) => {
        s.revTotalBytes = uint(b, o, l);
      };
    case 86:
      return (b, o, l, _r, s) => {
        s.revTotalPkts = uint(b, o, l);
      };
    default:
      return undefined;
  }
}

const MPLS_LABEL_IDS = new Set([70, 71, 72, 73, 74, 75, 76, 77, 78, 79]);

/** Renders a value for `extra` by its element's abstract type. */
export function renderValue(type: IeType, b: Uint8Array, o: number, len: number): string {
  switch (type) {
    case 'u':
      return len <= 8 ? uintText(b, o, len) : hex(b, o, len);
    case 's':
      return len <= 8 ? signedText(b, o, len) : hex(b, o, len);
    case 'ip4':
      return len === 4 ? ipv4(b, o) : hex(b, o, len);
    case 'ip6':
      return len === 16 ? ipv6(b, o) : hex(b, o, len);
    case 'mac':
      return len === 6 ? mac(b, o) : hex(b, o, len);
    case 'str':
      return utf8(b, o, len);
    case 'bool':
      return len === 1 ? (b[o] === 1 ? 'true' : 'false') : hex(b, o, len);
    case 'float':
      if (len === 4) return String(Buffer.from(b.buffer, b.byteOffset + o, 4).readFloatBE(0));
      if (len === 8) return String(Buffer.from(b.buffer, b.byteOffset + o, 8).readDoubleBE(0));
      return hex(b, o, len);
    // times stay numbers as exported (seconds or ms since the epoch); NTP formats become epoch ms
    case 'sec':
    case 'ms':
      return len <= 8 ? uintText(b, o, len) : hex(b, o, len);
    case 'us':
    case 'ns':
      return len === 8 ? String(ntpToMs(b, o)) : hex(b, o, len);
    case 'unknown':
      return printable(b, o, len) ? utf8(b, o, len) : hex(b, o, len);
    default:
      return hex(b, o, len);
  }
}

/** Printable ASCII, optionally NUL-padded: an undocumented vendor string rather than binary. */
function printable(b: Uint8Array, o: number, len: number): boolean {
  let end = o + len;
  while (end > o && b[end - 1] === 0) end--;
  if (end === o) return false;
  for (let i = o; i < end; i++) {
    const c = b[i] as number;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function extraReader(f: TemplateField, repeated: boolean): FieldReader | null {
  if (f.length === 0) return null;
  const info = describeElement(f.id, f.pen, f.length === VARIABLE_LENGTH ? 0 : f.length);
  const type = info.type;
  const base = info.name;
  if (f.pen === 0 && MPLS_LABEL_IDS.has(f.id)) {
    // label stack entry: 20-bit label, 3-bit traffic class, bottom-of-stack bit
    return (b, o, l, r) => {
      const extra = extraOf(r);
      extra[uniqueName(extra, base, repeated)] = l >= 3 ? String(uint(b, o, 3) >>> 4) : hex(b, o, l);
    };
  }
  return (b, o, l, r) => {
    const extra = extraOf(r);
    extra[uniqueName(extra, base, repeated)] = renderValue(type, b, o, l);
  };
}

function extraOf(r: FlowRecord): Record<string, string> {
  if (r.extra === undefined || r.extra === null) r.extra = {};
  return r.extra;
}

function uniqueName(extra: Record<string, string>, base: string, repeated: boolean): string {
  if (!repeated && !(base in extra)) return base;
  for (let i = 2; ; i++) {
    const name = `${base}_${i}`;
    if (!(name in extra)) return name;
  }
}

/** Reads the generic values of an options record: element id (or pen:id) → number or text. */
export function readOptionValue(f: TemplateField, b: Uint8Array, o: number, len: number): number | string {
  if (len === 0) return 0;
  if (f.pen >= 0 && describeElement(f.id, f.pen, len).type === 'str') return utf8(b, o, len);
  if (len <= 8) return uint(b, o, len);
  return hex(b, o, len);
}

export { u16, u32 };
