import type { EntityContext } from '@tidewatch/contracts';
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
  const ports = new Set<number>();
  let fwdBytes = 0;
  let bwdBytes = 0;
  let fwdPkts = 0;
  let bwdPkts = 0;
  for (const f of window.flows) {
    ports.add(f.dst_port);
    fwdBytes += f.fwd_bytes;
    bwdBytes += f.bwd_bytes;
    fwdPkts += f.fwd_pkts;
    bwdPkts += f.bwd_pkts;
  }
  return {
    initiator: window.src_ip,
    responder: window.dst_ip,
    windowStartMs: window.window_start_ms,
    dstPorts: [...ports].sort((a, b) => a - b),
    connections: window.flows.length,
    fwdBytes,
    bwdBytes,
    fwdPkts,
    bwdPkts,
  };
}

interface InitiatorWindow {
  dsts: Set<string>;
  ports: Set<number>;
  connections: number;
}

/** Exact counts in memory (offline scoring, one-process mode). */
export class InMemoryEntityStats implements EntityStats {
  readonly #applied = new Set<string>();
  readonly #byInitiator = new Map<string, InitiatorWindow>();

  applySync(contributions: WindowContribution[]): void {
    for (const c of contributions) {
      const id = `${c.initiator}|${c.responder}|${c.windowStartMs}`;
      if (this.#applied.has(id)) continue;
      this.#applied.add(id);
      const key = `${c.initiator}|${c.windowStartMs}`;
      let entry = this.#byInitiator.get(key);
      if (!entry) {
        entry = { dsts: new Set(), ports: new Set(), connections: 0 };
        this.#byInitiator.set(key, entry);
      }
      entry.dsts.add(c.responder);
      for (const p of c.dstPorts) entry.ports.add(p);
      entry.connections += c.connections;
    }
  }

  contextSync(key: ContextKey): EntityContext {
    const entry = this.#byInitiator.get(`${key.initiator}|${key.windowStartMs}`);
    return {
      distinct_dsts: entry?.dsts.size ?? 0,
      distinct_dst_ports: entry?.ports.size ?? 0,
      connections: entry?.connections ?? 0,
    };
  }

  /** Forgets initiator-windows that started before `windowStartMs` (bounded memory when streaming). */
  evictBefore(windowStartMs: number): void {
    for (const [key] of this.#byInitiator) {
      if (Number(key.slice(key.lastIndexOf('|') + 1)) < windowStartMs) this.#byInitiator.delete(key);
    }
    for (const id of this.#applied) {
      if (Number(id.slice(id.lastIndexOf('|') + 1)) < windowStartMs) this.#applied.delete(id);
    }
  }

  async applyWindows(contributions: WindowContribution[]): Promise<void> {
    this.applySync(contributions);
  }

  async contexts(keys: ContextKey[]): Promise<EntityContext[]> {
    return keys.map((k) => this.contextSync(k));
  }
}
