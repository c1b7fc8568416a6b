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

/** All windows of one partition that share a window start: they seal and close together. */
interface WindowGroup {
  windowStart: number;
  windowEnd: number;
  windows: Map<string, OpenWindow>;
  minPosition: InputPosition;
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
  #open = 0;

  constructor(private readonly windowMs: number) {}

  /** Conversation-windows held (sealed ones included, until they are taken). */
  get openWindows(): number {
    return this.#open;
  }

  add(cf: ConversationFlow): void {
    const windowStart = windowStartOf(cf.flow.start_ms, this.windowMs);
    let group = this.#groups.get(windowStart);
    if (!group) {
      group = {
        windowStart,
        windowEnd: windowStart + this.windowMs,
        windows: new Map(),
        minPosition: cf.first,
        sealed: false,
      };
      this.#groups.set(windowStart, group);
    } else if (cf.first.offset < group.minPosition.offset) {
      group.minPosition = cf.first;
    }
    if (group.sealed) throw new Error(`window ${windowStart} is sealed; a flow cannot join it`);
    const key = `${cf.src_ip}|${cf.dst_ip}`;
    let window = group.windows.get(key);
    if (!window) {
      window = {
        src_ip: cf.src_ip,
        dst_ip: cf.dst_ip,
        window_start_ms: windowStart,
        window_end_ms: group.windowEnd,
        flows: [],
      };
      group.windows.set(key, window);
      this.#open++;
    }
    window.flows.push(cf.flow);
  }

  /** Seals every group whose end is at or behind the watermark; returns the newly sealed windows. */
  sealThrough(watermark: number): OpenWindow[] {
    const out: OpenWindow[] = [];
    for (const group of this.#sortedGroups()) {
      if (group.windowEnd > watermark) break;
      if (group.sealed) continue;
      group.sealed = true;
      for (const w of group.windows.values()) out.push(w);
    }
    return out;
  }

  /** Removes and returns the sealed windows whose end is at or behind `threshold`. */
  takeThrough(threshold: number): OpenWindow[] {
    const out: OpenWindow[] = [];
    for (const group of this.#sortedGroups()) {
      if (group.windowEnd > threshold || !group.sealed) break;
      this.#groups.delete(group.windowStart);
      this.#open -= group.windows.size;
      for (const w of group.windows.values()) out.push(w);
    }
    return out;
  }

  minPosition(): InputPosition | undefined {
    let min: InputPosition | undefined;
    for (const g of this.#groups.values()) if (!min || g.minPosition.offset < min.offset) min = g.minPosition;
    return min;
  }

  maxWindowEnd(): number {
    let max = Number.NEGATIVE_INFINITY;
    for (const g of this.#groups.values()) max = Math.max(max, g.windowEnd);
    return max;
  }

  #sortedGroups(): WindowGroup[] {
    return [...this.#groups.values()].sort((a, b) => a.windowStart - b.windowStart);
  }
}
