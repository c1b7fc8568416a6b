import type { SequenceFlow } from '@tidewatch/contracts';
import type { ConversationFlow, InputPosition } from './conversation-flow.ts';

/** The flows of one conversation (initiator → responder) in one tumbling window. */
export interface OpenWindow {
  src_ip: string;
  dst_ip: string;
  window_start_ms: number;
  window_end_ms: number;
  flows: SequenceFlow[];
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
    this.addFlow(cf.src_ip, cf.dst_ip, cf.flow, cf.first.offset, cf.first.maxSeenBefore);
  }

  /** Adds one oriented flow; `offset`/`maxSeenBefore` are the earliest input position it came from. */
  addFlow(srcIp: string, dstIp: string, flow: SequenceFlow, offset: number, maxSeenBefore: number): void {
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
      group.bySrc.set(srcIp, this.#newWindow(group, srcIp, dstIp, flow));
    } else if (entry instanceof Map) {
      const window = entry.get(dstIp);
      if (window === undefined) entry.set(dstIp, this.#newWindow(group, srcIp, dstIp, flow));
      else window.flows.push(flow);
    } else if (entry.dst_ip === dstIp) {
      entry.flows.push(flow);
    } else {
      group.bySrc.set(
        srcIp,
        new Map([
          [entry.dst_ip, entry],
          [dstIp, this.#newWindow(group, srcIp, dstIp, flow)],
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

  /** A window holding its first flow (an array of exactly one: most windows stay small). */
  #newWindow(group: WindowGroup, srcIp: string, dstIp: string, flow: SequenceFlow): OpenWindow {
    const window: OpenWindow = {
      src_ip: srcIp,
      dst_ip: dstIp,
      window_start_ms: group.windowStart,
      window_end_ms: group.windowEnd,
      flows: [flow],
    };
    group.windows.push(window);
    this.#open++;
    return window;
  }

  #sortedGroups(): WindowGroup[] {
    return [...this.#groups.values()].sort((a, b) => a.windowStart - b.windowStart);
  }
}
