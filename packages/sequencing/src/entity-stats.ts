import type { EntityContext, SequenceFlow } from '@tidewatch/contracts';
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
}

export interface ContextKey {
  initiator: string;
  windowStartMs: number;
}

/**
 * Entity context (rule 6), shared by every partition's sequencer. Applying the same
 * conversation-window twice (a replay after a restart) must change nothing.
 */
export interface EntityStats {
  applyWindows(contributions: WindowContribution[]): Promise<void>;
  contexts(keys: ContextKey[]): Promise<EntityContext[]>;
}

export function windowContribution(window: OpenWindow): WindowContribution {
  const flows = window.flows;
  let fwdBytes = 0;
  let bwdBytes = 0;
  let fwdPkts = 0;
  let bwdPkts = 0;
  for (let i = 0; i < flows.length; i++) {
    const f = flows[i] as SequenceFlow;
    fwdBytes += f.fwd_bytes;
    bwdBytes += f.bwd_bytes;
    fwdPkts += f.fwd_pkts;
    bwdPkts += f.bwd_pkts;
  }
  return {
    initiator: window.src_ip,
    responder: window.dst_ip,
    windowStartMs: window.window_start_ms,
    dstPorts: distinctPorts(flows),
    connections: flows.length,
    fwdBytes,
    bwdBytes,
    fwdPkts,
    bwdPkts,
  };
}

/** Distinct responder ports, ascending. */
function distinctPorts(flows: SequenceFlow[]): number[] {
  if (flows.length === 1) return [(flows[0] as SequenceFlow).dst_port];
  const ports = new Set<number>();
  for (const f of flows) ports.add(f.dst_port);
  return [...ports].sort((a, b) => a - b);
}

interface InitiatorWindow {
  /** Responders whose conversation-window was applied (so also the applied markers). */
  dsts: Set<string>;
  ports: Set<number>;
  connections: number;
}

/** Exact counts in memory (offline scoring, one-process mode). */
export class InMemoryEntityStats implements EntityStats {
  /** window start → initiator → its context so far. */
  readonly #byWindow = new Map<number, Map<string, InitiatorWindow>>();

  applySync(contributions: WindowContribution[]): void {
    for (const c of contributions) {
      let initiators = this.#byWindow.get(c.windowStartMs);
      if (!initiators) {
        initiators = new Map();
        this.#byWindow.set(c.windowStartMs, initiators);
      }
      let entry = initiators.get(c.initiator);
      if (!entry) {
        entry = { dsts: new Set(), ports: new Set(), connections: 0 };
        initiators.set(c.initiator, entry);
      }
      // A conversation-window counts once: applying it again (a replay) changes nothing.
      if (entry.dsts.has(c.responder)) continue;
      entry.dsts.add(c.responder);
      for (const p of c.dstPorts) entry.ports.add(p);
      entry.connections += c.connections;
    }
  }

  contextSync(key: ContextKey): EntityContext {
    const entry = this.#byWindow.get(key.windowStartMs)?.get(key.initiator);
    return {
      distinct_dsts: entry?.dsts.size ?? 0,
      distinct_dst_ports: entry?.ports.size ?? 0,
      connections: entry?.connections ?? 0,
    };
  }

  /** Forgets initiator-windows that started before `windowStartMs` (bounded memory when streaming). */
  evictBefore(windowStartMs: number): void {
    for (const start of this.#byWindow.keys()) if (start < windowStartMs) this.#byWindow.delete(start);
  }

  async applyWindows(contributions: WindowContribution[]): Promise<void> {
    this.applySync(contributions);
  }

  async contexts(keys: ContextKey[]): Promise<EntityContext[]> {
    return keys.map((k) => this.contextSync(k));
  }
}
