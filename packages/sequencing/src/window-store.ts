import type { SequenceFlow } from '@tidewatch/contracts';
import { type ConversationFlow, type InputPosition, sequenceFlow } from './conversation-flow.ts';

/** A flow's fields as a window keeps them; the origin is given beside them (a record computes it). */
export type WindowFlowFields = Omit<SequenceFlow, 'origin' | 'label' | 'attack'> & {
  label?: number | null | undefined;
  attack?: string | null | undefined;
};

/**
 * The flows of one conversation (initiator → responder) in one tumbling window. Most windows hold
 * one flow, so the first flow's fields live in the window record itself (the window *is* that
 * flow for the encoder: it has every SequenceFlow field); later flows are kept in `rest`. One
 * long-lived object per one-flow window instead of three (window, flow, array).
 */
export class OpenWindow implements SequenceFlow {
  start_ms: number;
  end_ms: number;
  protocol: number;
  src_port: number;
  dst_port: number;
  fwd_bytes: number;
  fwd_pkts: number;
  bwd_bytes: number;
  bwd_pkts: number;
  tcp_flags: number;
  label: number | null;
  attack: string | null;
  origin: string;
  /** The flows after the first, in arrival order (undefined while there is one). */
  rest: SequenceFlow[] | undefined = undefined;

  constructor(
    readonly src_ip: string,
    readonly dst_ip: string,
    readonly window_start_ms: number,
    readonly window_end_ms: number,
    first: WindowFlowFields,
    origin: string,
  ) {
    this.start_ms = first.start_ms;
    this.end_ms = first.end_ms;
    this.protocol = first.protocol;
    this.src_port = first.src_port;
    this.dst_port = first.dst_port;
    this.fwd_bytes = first.fwd_bytes;
    this.fwd_pkts = first.fwd_pkts;
    this.bwd_bytes = first.bwd_bytes;
    this.bwd_pkts = first.bwd_pkts;
    this.tcp_flags = first.tcp_flags;
    this.label = first.label ?? null;
    this.attack = first.attack ?? null;
    this.origin = origin;
  }

  /** A window holding these flows (at least one), as the store would build it. */
  static of(
    srcIp: string,
    dstIp: string,
    windowStartMs: number,
    windowEndMs: number,
    flows: readonly SequenceFlow[],
  ): OpenWindow {
    const first = flows[0];
    if (!first) throw new Error('a window holds at least one flow');
    const window = new OpenWindow(srcIp, dstIp, windowStartMs, windowEndMs, first, first.origin);
    for (let i = 1; i < flows.length; i++) window.add(flows[i] as SequenceFlow);
    return window;
  }

  get flowCount(): number {
    return this.rest === undefined ? 1 : this.rest.length + 1;
  }

  add(flow: SequenceFlow): void {
    if (this.rest === undefined) this.rest = [flow];
    else this.rest.push(flow);
  }

  /** Every flow as a plain SequenceFlow, in arrival order (the first one copied out of the window). */
  flows(): SequenceFlow[] {
    const first: SequenceFlow = {
      start_ms: this.start_ms,
      end_ms: this.end_ms,
      protocol: this.protocol,
      src_port: this.src_port,
      dst_port: this.dst_port,
      fwd_bytes: this.fwd_bytes,
      fwd_pkts: this.fwd_pkts,
      bwd_bytes: this.bwd_bytes,
      bwd_pkts: this.bwd_pkts,
      tcp_flags: this.tcp_flags,
      label: this.label,
      attack: this.attack,
      origin: this.origin,
    };
    return this.rest === undefined ? [first] : [first, ...this.rest];
  }
}

/**
 * All windows of one partition that share a window start: they seal and close together.
 * Windows are found by initiator, then responder (no per-flow key string): an initiator with one
 * responder maps straight to its window, one with several to a map by responder.
 */
interface WindowGroup {
  windowStart: number;
  windowEnd: number;
  bySrc: Map<string, OpenWindow | Map<string, OpenWindow>>;
  /** In order of their first flow. */
  windows: OpenWindow[];
  minOffset: number;
  minMaxSeenBefore: number;
  sealed: boolean;
}

export function windowStartOf(eventTimeMs: number, windowMs: number): number {
  return Math.floor(eventTimeMs / windowMs) * windowMs;
}

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
   * `offset`/`maxSeenBefore` are the earliest input position it came from.
   */
  addFlow(
    srcIp: string,
    dstIp: string,
    flow: WindowFlowFields,
    origin: string,
    offset: number,
    maxSeenBefore: number,
  ): void {
    const windowStart = Math.floor(flow.start_ms / this.windowMs) * this.windowMs;
    let group = this.#recent;
    if (group === undefined || group.windowStart !== windowStart) {
      group = this.#groups.get(windowStart);
      if (group === undefined) {
        group = {
          windowStart,
          windowEnd: windowStart + this.windowMs,
          bySrc: new Map(),
          windows: [],
          minOffset: offset,
          minMaxSeenBefore: maxSeenBefore,
          sealed: false,
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
    const entry = group.bySrc.get(srcIp);
    if (entry === undefined) {
      group.bySrc.set(srcIp, this.#newWindow(group, srcIp, dstIp, flow, origin));
    } else if (entry instanceof Map) {
      const window = entry.get(dstIp);
      if (window === undefined) entry.set(dstIp, this.#newWindow(group, srcIp, dstIp, flow, origin));
      else window.add(sequenceFlow(flow, origin));
    } else if (entry.dst_ip === dstIp) {
      entry.add(sequenceFlow(flow, origin));
    } else {
      group.bySrc.set(
        srcIp,
        new Map([
          [entry.dst_ip, entry],
          [dstIp, this.#newWindow(group, srcIp, dstIp, flow, origin)],
        ]),
      );
    }
  }

  /** Seals every group whose end is at or behind the watermark; returns the newly sealed windows. */
  sealThrough(watermark: number): OpenWindow[] {
    const out: OpenWindow[] = [];
    for (const group of this.#sortedGroups()) {
      if (group.windowEnd > watermark) break;
      if (group.sealed) continue;
      group.sealed = true;
      group.bySrc.clear(); // no flow can join any more: only the list is needed until taken
      for (const w of group.windows) out.push(w);
    }
    return out;
  }

  /** Removes and returns the sealed windows whose end is at or behind `threshold`. */
  takeThrough(threshold: number): OpenWindow[] {
    const out: OpenWindow[] = [];
    for (const group of this.#sortedGroups()) {
      if (group.windowEnd > threshold || !group.sealed) break;
      this.#groups.delete(group.windowStart);
      if (this.#recent === group) this.#recent = undefined;
      this.#open -= group.windows.length;
      for (const w of group.windows) out.push(w);
    }
    return out;
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

  #newWindow(
    group: WindowGroup,
    srcIp: string,
    dstIp: string,
    flow: WindowFlowFields,
    origin: string,
  ): OpenWindow {
    const window = new OpenWindow(srcIp, dstIp, group.windowStart, group.windowEnd, flow, origin);
    group.windows.push(window);
    this.#open++;
    return window;
  }

  #sortedGroups(): WindowGroup[] {
    return [...this.#groups.values()].sort((a, b) => a.windowStart - b.windowStart);
  }
}
