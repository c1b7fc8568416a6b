import type { SequenceFlow } from '@tidewatch/contracts';
import { AsciiInterner, asciiString, type Utf8Buffer } from './ascii-interner.ts';
import type { ConversationFlow, InputPosition } from './conversation-flow.ts';
import { FlowColumns, type WindowFlowFields } from './flow-columns.ts';

export type { WindowFlowFields } from './flow-columns.ts';

/**
 * A conversation-window (initiator → responder, one tumbling window) as the store hands it out once
 * sealed: its addresses and bounds, and its flows as rows of the window group's `FlowColumns`
 * (chained from `firstRow` in arrival order). Made when the window is sealed, so it lives only from
 * seal to emit; while a window is open it is a few numbers in its group's columns, not an object.
 */
export class OpenWindow {
  constructor(
    readonly src_ip: string,
    readonly dst_ip: string,
    /** Shared by the windows of a group (no boxed numbers per window). */
    readonly bounds: WindowBounds,
    readonly columns: FlowColumns,
    readonly firstRow: number,
    readonly flowCount: number,
  ) {}

  get window_start_ms(): number {
    return this.bounds.windowStart;
  }

  get window_end_ms(): number {
    return this.bounds.windowEnd;
  }

  /** A window holding these flows (at least one), as the store would build it. */
  static of(
    srcIp: string,
    dstIp: string,
    windowStartMs: number,
    windowEndMs: number,
    flows: readonly SequenceFlow[],
  ): OpenWindow {
    if (flows.length === 0) throw new Error('a window holds at least one flow');
    const columns = new FlowColumns(flows.length);
    let previous = -1;
    for (const f of flows) {
      const row = columns.add(f, f.origin);
      if (previous >= 0) columns.link(previous, row);
      previous = row;
    }
    const bounds = { windowStart: windowStartMs, windowEnd: windowEndMs };
    return new OpenWindow(srcIp, dstIp, bounds, columns, 0, flows.length);
  }

  /** The rows of its flows, in arrival order. */
  rows(): number[] {
    const out: number[] = [];
    for (let r = this.firstRow; r >= 0; r = this.columns.next(r)) out.push(r);
    return out;
  }

  /** Every flow as a plain SequenceFlow, in arrival order. */
  flows(): SequenceFlow[] {
    const out: SequenceFlow[] = [];
    for (let r = this.firstRow; r >= 0; r = this.columns.next(r)) out.push(this.columns.flow(r));
    return out;
  }
}

/** Int32s per window in `WindowGroup.win`: first row, last row, flow count, address offset, lengths, hash. */
const WIN = 7;
const W_FIRST = 0;
const W_LAST = 1;
const W_COUNT = 2;
const W_ADDR = 3;
const W_SRC_LEN = 4;
const W_DST_LEN = 5;
const W_HASH = 6;

/**
 * All windows of one partition that share a window start: they seal and close together. Their
 * flows are rows of one `FlowColumns`; a window is a row of `win`, found by the bytes of its two
 * addresses (kept in `addr`) through an open-addressing table, so no string is made per flow.
 */
export interface WindowBounds {
  readonly windowStart: number;
  readonly windowEnd: number;
}

interface WindowGroup extends WindowBounds {
  flows: FlowColumns;
  win: Int32Array;
  windows: number;
  addr: Buffer;
  addrLength: number;
  /** Window row + 1 per slot, 0 when empty (released once sealed). */
  table: Int32Array;
  minOffset: number;
  minMaxSeenBefore: number;
  sealed: boolean;
  /** The windows as objects, made when sealed. */
  sealedWindows: OpenWindow[];
  /**
   * Firewall connections (rule 0b) with a row in this group: FirewallConnection.id to row * 2, plus
   * 1 when the row holds the connection's total. Made for the first such record.
   */
  connections: Map<string, number> | undefined;
}

/** A firewall connection record (conversation-flow's firewallConnectionCount): its id and count kind. */
export interface FirewallConnection {
  /** Unique per connection: the exporter, its observation domain and the connection id. */
  id: string;
  total: boolean;
}

export function windowStartOf(eventTimeMs: number, windowMs: number): number {
  return Math.floor(eventTimeMs / windowMs) * windowMs;
}

const EMPTY_TABLE = new Int32Array(0);
/**
 * Responder addresses become strings when a window is sealed; repeated ones are one string. One
 * cache for every store (a partition each): it is only a cache, and 512 KiB per partition would
 * add up. Initiators are decoded without it: there are typically many more of them (clients)
 * than responders (servers), and a cache missed at random costs more than it saves (at 200,000
 * initiators the seal took ~0.3 us more per window through it).
 */
const ADDRESS_STRINGS = new AsciiInterner(65_536, 48);
/** Where addFlow writes address text as UTF-8 before it is placed like decoded bytes. */
let scratch = Buffer.allocUnsafe(256);

/**
 * Open conversation-windows of one partition (rules 2-3). A group is *sealed* once the watermark
 * reaches its end (no flow can join it any more; its entity statistics are final for this
 * partition) and *taken* once it may be emitted.
 */
export class WindowStore {
  readonly #groups = new Map<number, WindowGroup>();
  /** The group the previous flow went to (flows mostly arrive in event-time order). */
  #recent: WindowGroup | undefined;
  #open = 0;

  constructor(private readonly windowMs: number) {}

  /** Conversation-windows held (sealed ones included, until they are taken). */
  get openWindows(): number {
    return this.#open;
  }

  add(cf: ConversationFlow): void {
    this.addFlow(cf.src_ip, cf.dst_ip, cf.flow, cf.flow.origin, cf.first.offset, cf.first.maxSeenBefore);
  }

  /**
   * Adds one oriented flow (a SequenceFlow, or a record whose fields are read now and not kept);
   * `offset`/`maxSeenBefore` are the earliest input position it came from (its sampling_rate, 1
   * when absent, is kept: FlowColumns' F_SAMPLING_RATE).
   */
  addFlow(
    srcIp: string,
    dstIp: string,
    flow: WindowFlowFields,
    origin: string,
    offset: number,
    maxSeenBefore: number,
    connection?: FirewallConnection,
  ): boolean {
    const need = 3 * (srcIp.length + dstIp.length);
    if (need > scratch.length) scratch = Buffer.allocUnsafe(need);
    const srcEnd = scratch.write(srcIp, 0, 'utf8');
    const dstEnd = srcEnd + scratch.write(dstIp, srcEnd, 'utf8');
    return this.addFlowBytes(
      scratch,
      0,
      srcEnd,
      srcEnd,
      dstEnd,
      flow,
      origin,
      offset,
      maxSeenBefore,
      connection,
    );
  }

  /**
   * Like addFlow, with the addresses as UTF-8 bytes (`bytes[srcStart, srcEnd)`, `bytes[dstStart,
   * dstEnd)`, read now and not kept): a decoded record's addresses need never become strings
   * while their window is open. With `connection` (a firewall connection's record) a record of a
   * connection that already has a row in the window group is folded into that row
   * (FlowColumns.mergeConnection) and false is returned; true when the flow got a row of its own.
   */
  addFlowBytes(
    bytes: Uint8Array,
    srcStart: number,
    srcEnd: number,
    dstStart: number,
    dstEnd: number,
    flow: WindowFlowFields,
    origin: string,
    offset: number,
    maxSeenBefore: number,
    connection?: FirewallConnection,
  ): boolean {
    const windowStart = Math.floor(flow.start_ms / this.windowMs) * this.windowMs;
    let group = this.#recent;
    if (group === undefined || group.windowStart !== windowStart) {
      group = this.#groups.get(windowStart);
      if (group === undefined) {
        // Sized like the group the previous flow went to (usually the window before, mostly
        // full) plus a quarter: a busy window start's columns grow by doubling copies otherwise.
        const like = this.#recent;
        const rows = like === undefined ? 256 : Math.max(256, Math.ceil(like.flows.count * 1.25));
        const windows = like === undefined ? 256 : Math.max(256, Math.ceil(like.windows * 1.25));
        group = {
          windowStart,
          windowEnd: windowStart + this.windowMs,
          flows: new FlowColumns(rows),
          win: new Int32Array(windows * WIN),
          windows: 0,
          addr: Buffer.allocUnsafe(
            like === undefined ? 4096 : Math.max(4096, Math.ceil(like.addrLength * 1.25)),
          ),
          addrLength: 0,
          table: new Int32Array(2 ** Math.ceil(Math.log2(2 * windows))),
          minOffset: offset,
          minMaxSeenBefore: maxSeenBefore,
          sealed: false,
          sealedWindows: [],
          connections: undefined,
        };
        this.#groups.set(windowStart, group);
      }
      this.#recent = group;
    }
    if (offset < group.minOffset) {
      group.minOffset = offset;
      group.minMaxSeenBefore = maxSeenBefore;
    }
    if (group.sealed) throw new Error(`window ${windowStart} is sealed; a flow cannot join it`);
    if (connection !== undefined) {
      group.connections ??= new Map();
      const known = group.connections.get(connection.id);
      if (known !== undefined && group.flows.sameEndpoints(known >> 1, flow)) {
        const rowIsTotal = (known & 1) === 1;
        group.flows.mergeConnection(known >> 1, rowIsTotal, flow, connection.total, origin);
        if (connection.total && !rowIsTotal) group.connections.set(connection.id, known | 1);
        return false;
      }
    }
    const srcLen = srcEnd - srcStart;
    const dstLen = dstEnd - dstStart;
    // FNV-1a over the source bytes, a separator, then the destination bytes.
    let h = 0x811c9dc5;
    for (let i = srcStart; i < srcEnd; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
    h = Math.imul(h ^ 0xff, 0x01000193);
    for (let i = dstStart; i < dstEnd; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
    h ^= h >>> 15;
    const table = group.table;
    const mask = table.length - 1;
    const win = group.win;
    const addr = group.addr;
    let slot = h & mask;
    for (;;) {
      const entry = table[slot] as number;
      if (entry === 0) break;
      const w = (entry - 1) * WIN;
      if (win[w + W_HASH] === h && win[w + W_SRC_LEN] === srcLen && win[w + W_DST_LEN] === dstLen) {
        let a = win[w + W_ADDR] as number;
        let same = true;
        for (let i = srcStart; i < srcEnd && same; i++) same = addr[a++] === bytes[i];
        for (let i = dstStart; i < dstEnd && same; i++) same = addr[a++] === bytes[i];
        if (same) {
          const row = group.flows.add(flow, origin);
          group.flows.link(win[w + W_LAST] as number, row);
          win[w + W_LAST] = row;
          win[w + W_COUNT] = (win[w + W_COUNT] as number) + 1;
          if (connection !== undefined) this.#remember(group, row, connection);
          return true;
        }
      }
      slot = (slot + 1) & mask;
    }
    // A new conversation-window.
    const index = group.windows;
    if ((index + 1) * WIN > win.length) {
      const grown = new Int32Array(win.length * 2);
      grown.set(win);
      group.win = grown;
    }
    if (group.addrLength + srcLen + dstLen > group.addr.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * group.addr.length, group.addrLength + srcLen + dstLen));
      group.addr.copy(grown, 0, 0, group.addrLength);
      group.addr = grown;
    }
    const a = group.addrLength;
    const to = group.addr;
    let k = a;
    for (let i = srcStart; i < srcEnd; i++) to[k++] = bytes[i] as number;
    for (let i = dstStart; i < dstEnd; i++) to[k++] = bytes[i] as number;
    group.addrLength = k;
    const row = group.flows.add(flow, origin);
    const w = index * WIN;
    const gw = group.win;
    gw[w + W_FIRST] = row;
    gw[w + W_LAST] = row;
    gw[w + W_COUNT] = 1;
    gw[w + W_ADDR] = a;
    gw[w + W_SRC_LEN] = srcLen;
    gw[w + W_DST_LEN] = dstLen;
    gw[w + W_HASH] = h;
    table[slot] = index + 1;
    group.windows = index + 1;
    this.#open++;
    if (2 * group.windows > table.length) this.#rehash(group);
    if (connection !== undefined) this.#remember(group, row, connection);
    return true;
  }

  #remember(group: WindowGroup, row: number, connection: FirewallConnection): void {
    group.connections?.set(connection.id, row * 2 + (connection.total ? 1 : 0));
  }

  /**
   * Seals every group whose end is at or behind the watermark; returns the newly sealed windows.
   * When one group seals (the usual case) the array is the one takeThrough hands out for it later,
   * so it is read-only here.
   */
  sealThrough(watermark: number): readonly OpenWindow[] {
    let out: OpenWindow[] = NO_WINDOWS;
    for (const group of this.#sortedGroups()) {
      if (group.windowEnd > watermark) break;
      if (group.sealed) continue;
      group.sealed = true;
      group.table = EMPTY_TABLE; // no flow can join any more
      const win = group.win;
      const addr = group.addr as Utf8Buffer;
      const n = group.windows;
      const windows: OpenWindow[] = [];
      for (let i = 0; i < n; i++) {
        const w = i * WIN;
        const a = win[w + W_ADDR] as number;
        const srcEnd = a + (win[w + W_SRC_LEN] as number);
        windows.push(
          new OpenWindow(
            asciiString(addr, a, srcEnd),
            ADDRESS_STRINGS.decode(addr, srcEnd, srcEnd + (win[w + W_DST_LEN] as number)),
            group,
            group.flows,
            win[w + W_FIRST] as number,
            win[w + W_COUNT] as number,
          ),
        );
      }
      group.sealedWindows = windows;
      out = joined(out, windows);
    }
    return out;
  }

  /** Removes and returns the sealed windows whose end is at or behind `threshold`. */
  takeThrough(threshold: number): OpenWindow[] {
    let out: OpenWindow[] = NO_WINDOWS;
    for (const group of this.#sortedGroups()) {
      if (group.windowEnd > threshold || !group.sealed) break;
      this.#groups.delete(group.windowStart);
      if (this.#recent === group) this.#recent = undefined;
      this.#open -= group.windows;
      out = joined(out, group.sealedWindows);
    }
    return out === NO_WINDOWS ? [] : out;
  }

  minPosition(): InputPosition | undefined {
    let min: WindowGroup | undefined;
    for (const g of this.#groups.values()) if (!min || g.minOffset < min.minOffset) min = g;
    return min && { offset: min.minOffset, maxSeenBefore: min.minMaxSeenBefore };
  }

  maxWindowEnd(): number {
    let max = Number.NEGATIVE_INFINITY;
    for (const g of this.#groups.values()) max = Math.max(max, g.windowEnd);
    return max;
  }

  #rehash(group: WindowGroup): void {
    const table = new Int32Array(group.table.length * 2);
    const mask = table.length - 1;
    const win = group.win;
    for (let i = 0; i < group.windows; i++) {
      let slot = (win[i * WIN + W_HASH] as number) & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = i + 1;
    }
    group.table = table;
  }

  #sortedGroups(): WindowGroup[] {
    return [...this.#groups.values()].sort((a, b) => a.windowStart - b.windowStart);
  }
}

const NO_WINDOWS: OpenWindow[] = [];

/** `more` after `out`: `more` itself when `out` is empty (no copy), else a new array. */
function joined(out: OpenWindow[], more: OpenWindow[]): OpenWindow[] {
  if (out === NO_WINDOWS || out.length === 0) return more;
  if (more.length === 0) return out;
  return out.concat(more);
}
