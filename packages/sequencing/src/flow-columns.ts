import type { SequenceFlow } from '@tidewatch/contracts';

/** A flow's fields as a window keeps them; the origin is given beside them (a record computes it). */
export type WindowFlowFields = Omit<SequenceFlow, 'origin' | 'label' | 'attack'> & {
  label?: number | null | undefined;
  attack?: string | null | undefined;
  /** flows.v1's ICMP type and code where the exporter sent them as fields of their own (sequenceDstPort). */
  icmp_type?: number | null | undefined;
  icmp_code?: number | null | undefined;
  /** flows.v1's source format, where the fields are a record's (sequenceDstPort). */
  source_format?: string | undefined;
};

/**
 * Wire formats whose ICMP type in flows.v1's `icmp_type` is the exporter's own field or the
 * collector's reading of NetFlow's port convention, never a guess: their record's type wins over
 * its ports (Cisco ASA NSEL puts the ICMP identifier in a port and the type in NF_F_ICMP_TYPE).
 */
const ICMP_TYPE_FIELD_FORMATS: ReadonlySet<string> = new Set(['netflow9', 'ipfix', 'sflow5']);

/**
 * The responder port a flow has in sequences.v1: its own, except for an ICMP / ICMPv6 record with a
 * type in flows.v1's `icmp_type` that either left both ports 0 (sFlow's decoded header, softflowd's
 * ICMP_TYPE / icmpTypeCodeIPv4, CSV exports) or came from NetFlow v9 / IPFIX / sFlow, whose ports
 * may hold something else (Cisco ASA: the ICMP identifier). That one gets NetFlow's convention,
 * type * 256 + code in the destination port (what NetFlow v5 and many v9 / IPFIX exporters send),
 * so the same exchange reads the same whichever exporter saw it: subscores.v7 tells ICMP errors by
 * it, and fan-out counts each ICMP type as a port. Zeek's type-and-code-as-ports stay as they are.
 */
export function sequenceDstPort(f: WindowFlowFields): number {
  const port = f.dst_port;
  if (f.protocol !== 1 && f.protocol !== 58) return port;
  const type = f.icmp_type;
  if (type === null || type === undefined || !(type >= 0 && type <= 255)) return port;
  if ((port !== 0 || f.src_port !== 0) && !ICMP_TYPE_FIELD_FORMATS.has(f.source_format ?? '')) return port;
  const code = f.icmp_code;
  return type * 256 + (code !== null && code !== undefined && code >= 0 && code <= 255 ? code : 0);
}

/**
 * Numbers per flow in `FlowColumns.num`: start_ms, end_ms, protocol, src_port, dst_port, fwd_bytes,
 * fwd_pkts, bwd_bytes, bwd_pkts, tcp_flags, label, sampling_rate (kept as given: the encoder checks
 * int/long).
 */
export const NUM = 12;
/** Int32s per flow in `FlowColumns.int`: origin id, attack id (-1: null), next flow (-1: none), bits (FLAG_*). */
export const INT = 4;
export const F_START = 0;
export const F_END = 1;
export const F_PROTOCOL = 2;
export const F_SRC_PORT = 3;
export const F_DST_PORT = 4;
export const F_FWD_BYTES = 5;
export const F_FWD_PKTS = 6;
export const F_BWD_BYTES = 7;
export const F_BWD_PKTS = 8;
export const F_TCP_FLAGS = 9;
export const F_LABEL = 10;
export const F_SAMPLING_RATE = 11;
export const I_ORIGIN = 0;
export const I_ATTACK = 1;
export const I_NEXT = 2;
export const I_FLAGS = 3;
/** The flow's label is null (F_LABEL holds 0). */
export const FLAG_LABEL_NULL = 1;
/**
 * The flow was exported from sampled packets (sampling_rate > 1: sFlow, sampled NetFlow / IPFIX):
 * an unanswered look is no evidence that nothing answered, so it never counts as a probe. The
 * rate itself is F_SAMPLING_RATE (emitted); this bit lets the context's probe test skip a read.
 */
export const FLAG_SAMPLED = 2;

/**
 * The flows of many conversation-windows (one window group) in typed-array columns: a flow is a
 * row, not an object, so the flows of open windows cost the garbage collector nothing (no young
 * generation copies, no old-generation marking per flow). A window's flows are chained through
 * `next` in arrival order. Strings (origin, attack) are ids into `strings`.
 */
export class FlowColumns {
  num: Float64Array;
  int: Int32Array;
  count = 0;
  readonly strings: string[] = [];
  readonly #ids = new Map<string, number>();
  #lastString: string | undefined;
  #lastId = -1;

  constructor(capacity = 64) {
    this.num = new Float64Array(capacity * NUM);
    this.int = new Int32Array(capacity * INT);
  }

  /** Appends a flow (no successor yet); returns its row. A missing sampling_rate is 1. */
  add(f: WindowFlowFields, origin: string): number {
    const row = this.count;
    if ((row + 1) * NUM > this.num.length) this.#grow();
    this.#write(row, f, origin);
    this.int[row * INT + I_NEXT] = -1;
    this.count = row + 1;
    return row;
  }

  /**
   * Folds another record of one firewall connection into its row (WindowStore's rule 0b): a total
   * (NSEL teardown) replaces deltas (updates) it includes and a delta after a total adds nothing;
   * deltas add up (start the earliest, end the latest, flags joined); of two totals the one that
   * ended later (then counted more) stands. The same result in any arrival order.
   */
  mergeConnection(
    row: number,
    rowIsTotal: boolean,
    f: WindowFlowFields,
    fIsTotal: boolean,
    origin: string,
  ): void {
    const num = this.num;
    const o = row * NUM;
    if (rowIsTotal !== fIsTotal) {
      if (fIsTotal) this.#write(row, f, origin);
      return;
    }
    if (fIsTotal) {
      const d =
        f.end_ms - (num[o + F_END] as number) ||
        f.fwd_bytes + f.bwd_bytes - (num[o + F_FWD_BYTES] as number) - (num[o + F_BWD_BYTES] as number) ||
        f.fwd_pkts + f.bwd_pkts - (num[o + F_FWD_PKTS] as number) - (num[o + F_BWD_PKTS] as number);
      if (d > 0) this.#write(row, f, origin);
      return;
    }
    num[o + F_START] = Math.min(num[o + F_START] as number, f.start_ms);
    num[o + F_END] = Math.max(num[o + F_END] as number, f.end_ms);
    num[o + F_FWD_BYTES] = (num[o + F_FWD_BYTES] as number) + f.fwd_bytes;
    num[o + F_FWD_PKTS] = (num[o + F_FWD_PKTS] as number) + f.fwd_pkts;
    num[o + F_BWD_BYTES] = (num[o + F_BWD_BYTES] as number) + f.bwd_bytes;
    num[o + F_BWD_PKTS] = (num[o + F_BWD_PKTS] as number) + f.bwd_pkts;
    num[o + F_TCP_FLAGS] = (num[o + F_TCP_FLAGS] as number) | f.tcp_flags;
  }

  /** Whether a row holds this protocol and these ports (a connection id names one conversation). */
  sameEndpoints(row: number, f: WindowFlowFields): boolean {
    const num = this.num;
    const o = row * NUM;
    return (
      num[o + F_PROTOCOL] === f.protocol &&
      num[o + F_SRC_PORT] === f.src_port &&
      num[o + F_DST_PORT] === sequenceDstPort(f)
    );
  }

  /** Every field of `row` but its successor link. */
  #write(row: number, f: WindowFlowFields, origin: string): void {
    const num = this.num;
    const o = row * NUM;
    num[o + F_START] = f.start_ms;
    num[o + F_END] = f.end_ms;
    num[o + F_PROTOCOL] = f.protocol;
    num[o + F_SRC_PORT] = f.src_port;
    num[o + F_DST_PORT] = sequenceDstPort(f);
    num[o + F_FWD_BYTES] = f.fwd_bytes;
    num[o + F_FWD_PKTS] = f.fwd_pkts;
    num[o + F_BWD_BYTES] = f.bwd_bytes;
    num[o + F_BWD_PKTS] = f.bwd_pkts;
    num[o + F_TCP_FLAGS] = f.tcp_flags;
    const rate = f.sampling_rate ?? 1;
    num[o + F_SAMPLING_RATE] = rate;
    const label = f.label;
    const int = this.int;
    const p = row * INT;
    const flags = rate > 1 ? FLAG_SAMPLED : 0;
    if (label === null || label === undefined) {
      num[o + F_LABEL] = 0;
      int[p + I_FLAGS] = flags | FLAG_LABEL_NULL;
    } else {
      num[o + F_LABEL] = label;
      int[p + I_FLAGS] = flags;
    }
    int[p + I_ORIGIN] = this.#id(origin);
    const attack = f.attack;
    int[p + I_ATTACK] = attack === null || attack === undefined ? -1 : this.#id(attack);
  }

  /** The flow of `row` as a plain SequenceFlow. */
  flow(row: number): SequenceFlow {
    const num = this.num;
    const int = this.int;
    const o = row * NUM;
    const p = row * INT;
    const attack = int[p + I_ATTACK] as number;
    return {
      start_ms: num[o + F_START] as number,
      end_ms: num[o + F_END] as number,
      protocol: num[o + F_PROTOCOL] as number,
      src_port: num[o + F_SRC_PORT] as number,
      dst_port: num[o + F_DST_PORT] as number,
      fwd_bytes: num[o + F_FWD_BYTES] as number,
      fwd_pkts: num[o + F_FWD_PKTS] as number,
      bwd_bytes: num[o + F_BWD_BYTES] as number,
      bwd_pkts: num[o + F_BWD_PKTS] as number,
      tcp_flags: num[o + F_TCP_FLAGS] as number,
      label: (int[p + I_FLAGS] as number) & FLAG_LABEL_NULL ? null : (num[o + F_LABEL] as number),
      attack: attack < 0 ? null : (this.strings[attack] as string),
      origin: this.strings[int[p + I_ORIGIN] as number] as string,
      sampling_rate: num[o + F_SAMPLING_RATE] as number,
    };
  }

  origin(row: number): string {
    return this.strings[this.int[row * INT + I_ORIGIN] as number] as string;
  }

  /** The attack text, or null. */
  attack(row: number): string | null {
    const id = this.int[row * INT + I_ATTACK] as number;
    return id < 0 ? null : (this.strings[id] as string);
  }

  next(row: number): number {
    return this.int[row * INT + I_NEXT] as number;
  }

  link(row: number, next: number): void {
    this.int[row * INT + I_NEXT] = next;
  }

  #id(s: string): number {
    if (s === this.#lastString) return this.#lastId;
    let id = this.#ids.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.#ids.set(s, id);
    }
    this.#lastString = s;
    this.#lastId = id;
    return id;
  }

  #grow(): void {
    const num = new Float64Array(this.num.length * 2);
    num.set(this.num);
    this.num = num;
    const int = new Int32Array(this.int.length * 2);
    int.set(this.int);
    this.int = int;
  }
}

/**
 * Rule 4's order (as compareSequenceFlows) between two rows: (start, end, protocol, src_port,
 * dst_port, fwd_bytes, bwd_bytes, fwd_pkts, bwd_pkts) ascending, then the remaining fields.
 */
export function compareRows(c: FlowColumns, a: number, b: number): number {
  const num = c.num;
  const x = a * NUM;
  const y = b * NUM;
  const d =
    (num[x + F_START] as number) - (num[y + F_START] as number) ||
    (num[x + F_END] as number) - (num[y + F_END] as number) ||
    (num[x + F_PROTOCOL] as number) - (num[y + F_PROTOCOL] as number) ||
    (num[x + F_SRC_PORT] as number) - (num[y + F_SRC_PORT] as number) ||
    (num[x + F_DST_PORT] as number) - (num[y + F_DST_PORT] as number) ||
    (num[x + F_FWD_BYTES] as number) - (num[y + F_FWD_BYTES] as number) ||
    (num[x + F_BWD_BYTES] as number) - (num[y + F_BWD_BYTES] as number) ||
    (num[x + F_FWD_PKTS] as number) - (num[y + F_FWD_PKTS] as number) ||
    (num[x + F_BWD_PKTS] as number) - (num[y + F_BWD_PKTS] as number) ||
    (num[x + F_TCP_FLAGS] as number) - (num[y + F_TCP_FLAGS] as number);
  if (d) return d;
  const int = c.int;
  const la = (int[a * INT + I_FLAGS] as number) & FLAG_LABEL_NULL ? -1 : (num[x + F_LABEL] as number);
  const lb = (int[b * INT + I_FLAGS] as number) & FLAG_LABEL_NULL ? -1 : (num[y + F_LABEL] as number);
  return (
    la - lb || compareText(c.attack(a) ?? '', c.attack(b) ?? '') || compareText(c.origin(a), c.origin(b))
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Below this many flows an insertion sort beats Array.prototype.sort's fixed cost several times over. */
const INSERTION_SORT_MAX = 16;

/** Sorts rows by rule 4 in place; stable, like sortFlows, so the order is the same as sorting the flows. */
export function sortRows(c: FlowColumns, rows: number[]): void {
  const n = rows.length;
  if (n > INSERTION_SORT_MAX) {
    rows.sort((a, b) => compareRows(c, a, b));
    return;
  }
  for (let i = 1; i < n; i++) {
    const r = rows[i] as number;
    let j = i - 1;
    if (compareRows(c, rows[j] as number, r) <= 0) continue;
    do {
      rows[j + 1] = rows[j] as number;
      j--;
    } while (j >= 0 && compareRows(c, rows[j] as number, r) > 0);
    rows[j + 1] = r;
  }
}
