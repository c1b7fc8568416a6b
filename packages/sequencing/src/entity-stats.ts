import { type EntityContext, isProbeFlow } from '@tidewatch/contracts';
import {
  F_BWD_BYTES,
  F_BWD_PKTS,
  F_DST_PORT,
  F_FWD_BYTES,
  F_FWD_PKTS,
  F_PROTOCOL,
  F_SRC_PORT,
  FLAG_SAMPLED,
  type FlowColumns,
  I_FLAGS,
  INT,
  NUM,
} from './flow-columns.ts';
import type { OpenWindow } from './window-store.ts';

/** What one sealed conversation-window adds to its initiator's context and to its pair counters. */
export interface WindowContribution {
  initiator: string;
  responder: string;
  windowStartMs: number;
  /** Distinct responder ports used in this window. */
  dstPorts: number[];
  connections: number;
  fwdBytes: number;
  bwdBytes: number;
  fwdPkts: number;
  bwdPkts: number;
  /** Whether one of the window's flows counts as a probe (rowIsProbe): counts toward distinct_probe_srcs. */
  probe: boolean;
}

/** A conversation-window's context: its initiator's, and its responder's fan-in (distinct_srcs). */
export interface ContextKey {
  initiator: string;
  responder: string;
  windowStartMs: number;
}

/**
 * Entity context (rule 6), shared by every partition's sequencer: per initiator and window its
 * distinct responders, distinct responder ports and connections, and per responder and window its
 * distinct initiators (distinct_srcs: each applied conversation-window is one initiator of its
 * responder) and of those the ones whose conversation-window holds a probe-shaped flow
 * (distinct_probe_srcs). A conversation-window is sealed whole, once (a late flow goes to the late
 * topic, never into a sealed window), so counting it when it is applied counts its initiator once.
 * Applying the same conversation-window twice (a replay after a restart) must change nothing.
 */
export interface EntityStats {
  applyWindows(contributions: WindowContribution[]): Promise<void>;
  /**
   * The same as applyWindows(windows.map(windowContribution)), for a store that can read sealed
   * windows' columns itself (no contribution object, no port array per window).
   */
  applySealed?(windows: readonly OpenWindow[]): Promise<void>;
  contexts(keys: ContextKey[]): Promise<EntityContext[]>;
  /**
   * The context of each window, the same as contexts() of the windows' (initiator, responder,
   * window start) keys, for a store that can group and dedupe the windows itself (one pass, not
   * an index of keys and then a grouping of the keys).
   */
  windowContexts?(windows: readonly OpenWindow[]): Promise<EntityContext[]>;
}

const contributionScratch: (string | number)[] = [];

export function windowContribution(window: OpenWindow): WindowContribution {
  const flat = contributionScratch;
  flat.length = 0;
  appendContribution(flat, window);
  const ports = flat[6] as number;
  const probe = flat[7 + ports] === 1;
  return {
    initiator: window.src_ip,
    responder: flat[0] as string,
    windowStartMs: window.window_start_ms,
    dstPorts: flat.slice(7, 7 + ports) as number[],
    connections: flat[1] as number,
    fwdBytes: flat[2] as number,
    bwdBytes: flat[3] as number,
    fwdPkts: flat[4] as number,
    bwdPkts: flat[5] as number,
    probe,
  };
}

/** Takes a window's contribution value by value (writeContribution): an array, or bytes written as they come. */
export interface ContributionWriter {
  string(v: string): void;
  number(v: number): void;
}

class ArrayWriter implements ContributionWriter {
  out: (string | number)[] = [];
  string(v: string): void {
    this.out.push(v);
  }
  number(v: number): void {
    this.out.push(v);
  }
}

const arrayWriter = new ArrayWriter();
/** What arrayWriter holds between calls (not the caller's array). */
const NO_VALUES: (string | number)[] = [];

/**
 * Appends what windowContribution(window) holds after its initiator and window start, flat:
 * responder, connections, fwd_bytes, bwd_bytes, fwd_pkts, bwd_pkts, port count, ports (distinct,
 * ascending), probe (1 when a flow counts as a probe, rowIsProbe; else 0). For a script argument built straight from sealed windows (no contribution object,
 * no port array per window).
 */
export function appendContribution(out: (string | number)[], window: OpenWindow): void {
  arrayWriter.out = out;
  writeContribution(arrayWriter, window);
  arrayWriter.out = NO_VALUES;
}

/** The values appendContribution appends, handed to `w` one by one (no array in between). */
export function writeContribution(w: ContributionWriter, window: OpenWindow): void {
  const c = window.columns;
  const num = c.num;
  let row = window.firstRow;
  if (window.flowCount === 1) {
    const o = row * NUM;
    w.string(window.dst_ip);
    w.number(1);
    w.number(small(num[o + F_FWD_BYTES] as number));
    w.number(small(num[o + F_BWD_BYTES] as number));
    w.number(small(num[o + F_FWD_PKTS] as number));
    w.number(small(num[o + F_BWD_PKTS] as number));
    w.number(1);
    const port = small(num[o + F_DST_PORT] as number);
    w.number(port);
    w.number(rowIsProbe(c, row) ? 1 : 0);
    return;
  }
  let probe = false;
  let fwdBytes = 0;
  let bwdBytes = 0;
  let fwdPkts = 0;
  let bwdPkts = 0;
  const ports: number[] = [];
  for (; row >= 0; row = c.next(row)) {
    const o = row * NUM;
    fwdBytes += num[o + F_FWD_BYTES] as number;
    bwdBytes += num[o + F_BWD_BYTES] as number;
    fwdPkts += num[o + F_FWD_PKTS] as number;
    bwdPkts += num[o + F_BWD_PKTS] as number;
    const port = small(num[o + F_DST_PORT] as number);
    ports.push(port);
    if (!probe) probe = rowIsProbe(c, row);
  }
  const distinct = distinctPorts(ports);
  w.string(window.dst_ip);
  w.number(window.flowCount);
  w.number(small(fwdBytes));
  w.number(small(bwdBytes));
  w.number(small(fwdPkts));
  w.number(small(bwdPkts));
  w.number(distinct.length);
  for (let i = 0; i < distinct.length; i++) w.number(distinct[i] as number);
  w.number(probe ? 1 : 0);
}

/**
 * Whether the flow of `row` counts as a probe: probe-shaped (isProbeFlow) and not from sampled
 * packets (FLAG_SAMPLED: with sFlow or sampled NetFlow most replies are never seen).
 */
function rowIsProbe(c: FlowColumns, row: number): boolean {
  if ((c.int[row * INT + I_FLAGS] as number) & FLAG_SAMPLED) return false;
  const num = c.num;
  const o = row * NUM;
  return isProbeFlow(
    num[o + F_PROTOCOL] as number,
    num[o + F_SRC_PORT] as number,
    num[o + F_DST_PORT] as number,
    num[o + F_FWD_PKTS] as number,
    num[o + F_BWD_PKTS] as number,
  );
}

/** Whether one of a sealed window's flows counts as a probe (rowIsProbe). */
export function windowHasProbe(window: OpenWindow): boolean {
  const c = window.columns;
  for (let row = window.firstRow; row >= 0; row = c.next(row)) {
    if (rowIsProbe(c, row)) return true;
  }
  return false;
}

/**
 * The same number, as a small integer when it is one: a value read from a Float64Array is a
 * double, and objects built from doubles box each field (a heap number per field).
 */
function small(v: number): number {
  const i = v | 0;
  return i === v ? i : v;
}

/** A window's responder ports as a first entry holds them: one port as is, several in a set. */
function windowPorts(w: OpenWindow, firstPort: number): number | Set<number> {
  const c = w.columns;
  const num = c.num;
  let set: Set<number> | undefined;
  for (let row = c.next(w.firstRow); row >= 0; row = c.next(row)) {
    const p = small(num[row * NUM + F_DST_PORT] as number);
    if (set === undefined) {
      if (p === firstPort) continue;
      set = new Set([firstPort]);
    }
    set.add(p);
  }
  return set ?? firstPort;
}

/** The distinct ports, ascending. */
function distinctPorts(ports: number[]): number[] {
  if (ports.length <= 16) {
    // Few flows: insert each new port in order (no set, no second sort).
    const out: number[] = [];
    for (let i = 0; i < ports.length; i++) {
      const p = ports[i] as number;
      let j = out.length;
      while (j > 0 && (out[j - 1] as number) > p) j--;
      if (j > 0 && out[j - 1] === p) continue;
      if (j === out.length) out.push(p);
      else out.splice(j, 0, p);
    }
    return out;
  }
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** One initiator's context in one window: one responder / port held as is, several in a set. */
interface InitiatorWindow {
  /** Responders whose conversation-window was applied (so also the applied markers). */
  dsts: string | Set<string>;
  ports: number | Set<number>;
  connections: number;
}

/** One window's statistics. */
interface WindowStats {
  /** initiator → its context so far. */
  initiators: Map<string, InitiatorWindow>;
  /** responder → its distinct initiators so far. */
  fanIn: Map<string, number>;
  /** responder → those of its initiators whose conversation-window holds a probe-shaped flow. */
  probeFanIn: Map<string, number>;
}

/** One more initiator of `responder` (a conversation-window applied for the first time). */
function addInitiator(stats: WindowStats, responder: string, probe: boolean): void {
  stats.fanIn.set(responder, (stats.fanIn.get(responder) ?? 0) + 1);
  if (probe) stats.probeFanIn.set(responder, (stats.probeFanIn.get(responder) ?? 0) + 1);
}

/** Exact counts in memory (offline scoring, one-process mode). */
export class InMemoryEntityStats implements EntityStats {
  /** window start → that window's statistics. */
  readonly #byWindow = new Map<number, WindowStats>();
  #recentStart = Number.NaN;
  #recent: WindowStats | undefined;

  applySync(contributions: WindowContribution[]): void {
    for (const c of contributions) {
      const stats = this.#window(c.windowStartMs, true) as WindowStats;
      const initiators = stats.initiators;
      const entry = initiators.get(c.initiator);
      if (!entry) {
        addInitiator(stats, c.responder, c.probe);
        const ports = c.dstPorts;
        initiators.set(c.initiator, {
          dsts: c.responder,
          ports: ports.length === 1 ? (ports[0] as number) : new Set(ports),
          connections: c.connections,
        });
        continue;
      }
      // A conversation-window counts once: applying it again (a replay) changes nothing.
      if (typeof entry.dsts === 'string') {
        if (entry.dsts === c.responder) continue;
        entry.dsts = new Set([entry.dsts, c.responder]);
      } else {
        if (entry.dsts.has(c.responder)) continue;
        entry.dsts.add(c.responder);
      }
      addInitiator(stats, c.responder, c.probe);
      if (typeof entry.ports === 'number') {
        const only = entry.ports;
        if (c.dstPorts.length !== 1 || c.dstPorts[0] !== only) entry.ports = new Set([only, ...c.dstPorts]);
      } else {
        for (const p of c.dstPorts) entry.ports.add(p);
      }
      entry.connections += c.connections;
    }
  }

  /**
   * applySync(windows.map(windowContribution)) without the contributions: each window's responder
   * and ports are read from its flow columns as it is applied (the seal of a window group made
   * one contribution object and one port array per window at once, all alive until applied).
   */
  applySealedSync(windows: readonly OpenWindow[]): void {
    for (let i = 0; i < windows.length; i++) {
      const w = windows[i] as OpenWindow;
      const stats = this.#window(w.window_start_ms, true) as WindowStats;
      const initiators = stats.initiators;
      const entry = initiators.get(w.src_ip);
      const num = w.columns.num;
      const firstPort = small(num[w.firstRow * NUM + F_DST_PORT] as number);
      if (!entry) {
        addInitiator(stats, w.dst_ip, windowHasProbe(w));
        initiators.set(w.src_ip, {
          dsts: w.dst_ip,
          ports: w.flowCount === 1 ? firstPort : windowPorts(w, firstPort),
          connections: w.flowCount,
        });
        continue;
      }
      // A conversation-window counts once: applying it again (a replay) changes nothing.
      if (typeof entry.dsts === 'string') {
        if (entry.dsts === w.dst_ip) continue;
        entry.dsts = new Set([entry.dsts, w.dst_ip]);
      } else {
        if (entry.dsts.has(w.dst_ip)) continue;
        entry.dsts.add(w.dst_ip);
      }
      addInitiator(stats, w.dst_ip, windowHasProbe(w));
      let ports = entry.ports;
      if (typeof ports === 'number') {
        if (w.flowCount === 1 && firstPort === ports) {
          entry.connections += 1;
          continue;
        }
        ports = new Set([ports]);
        entry.ports = ports;
      }
      const c = w.columns;
      for (let row = w.firstRow; row >= 0; row = c.next(row))
        ports.add(small(num[row * NUM + F_DST_PORT] as number));
      entry.connections += w.flowCount;
    }
  }

  contextSync(key: ContextKey): EntityContext {
    return this.contextOf(key.initiator, key.responder, key.windowStartMs);
  }

  /** contextSync without a key object. */
  contextOf(initiator: string, responder: string, windowStartMs: number): EntityContext {
    const stats = this.#window(windowStartMs, false);
    const entry = stats?.initiators.get(initiator);
    const distinctSrcs = stats?.fanIn.get(responder) ?? 0;
    const distinctProbeSrcs = stats?.probeFanIn.get(responder) ?? 0;
    if (!entry)
      return {
        distinct_dsts: 0,
        distinct_dst_ports: 0,
        connections: 0,
        distinct_srcs: distinctSrcs,
        distinct_probe_srcs: distinctProbeSrcs,
      };
    return {
      distinct_dsts: typeof entry.dsts === 'string' ? 1 : entry.dsts.size,
      distinct_dst_ports: typeof entry.ports === 'number' ? 1 : entry.ports.size,
      connections: entry.connections,
      distinct_srcs: distinctSrcs,
      distinct_probe_srcs: distinctProbeSrcs,
    };
  }

  #window(windowStartMs: number, create: boolean): WindowStats | undefined {
    if (windowStartMs === this.#recentStart && this.#recent) return this.#recent;
    let stats = this.#byWindow.get(windowStartMs);
    if (!stats) {
      if (!create) return undefined;
      stats = { initiators: new Map(), fanIn: new Map(), probeFanIn: new Map() };
      this.#byWindow.set(windowStartMs, stats);
    }
    this.#recentStart = windowStartMs;
    this.#recent = stats;
    return stats;
  }

  /** Forgets windows that started before `windowStartMs` (bounded memory when streaming). */
  evictBefore(windowStartMs: number): void {
    for (const start of this.#byWindow.keys()) if (start < windowStartMs) this.#byWindow.delete(start);
    this.#recent = undefined;
    this.#recentStart = Number.NaN;
  }

  async applyWindows(contributions: WindowContribution[]): Promise<void> {
    this.applySync(contributions);
  }

  async applySealed(windows: readonly OpenWindow[]): Promise<void> {
    this.applySealedSync(windows);
  }

  async contexts(keys: ContextKey[]): Promise<EntityContext[]> {
    return keys.map((k) => this.contextSync(k));
  }
}
