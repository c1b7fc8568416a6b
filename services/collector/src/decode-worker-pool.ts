import { Worker } from 'node:worker_threads';
import type { OutgoingMessage } from '@tidewatch/bus';
import type { DecoderSnapshot } from './decode/index.ts';
import type { MainToWorker, WorkerInit, WorkerToMain } from './decode-worker-protocol.ts';

export interface DecodeWorkerPoolOptions {
  workers: number;
  /** UDP listeners served by the workers; port 0 picks a free port that every worker then shares. */
  listeners: { name: string; port: number }[];
  host: string;
  recvBufferBytes: number;
  allowedExporters: string[];
  batchSize?: number;
  lingerMs?: number;
  maxUnacked?: number;
  /** NetFlow v5 straight to Avro in the workers (default true). */
  directEncode?: boolean;
}

export interface WorkerCounters {
  notAllowed: number;
  /** Flows refused because the main thread had not taken a worker's earlier batches. */
  refused: number;
  encodeErrors: number;
}

interface Member {
  worker: Worker;
  snapshot: DecoderSnapshot | undefined;
  counters: WorkerCounters;
  stopped: Promise<void>;
}

/**
 * Decode worker threads for the UDP listeners (several receive sockets with SO_REUSEPORT, one per
 * worker): each receives, decodes and Avro-encodes on its own core and hands packed batches to
 * `sink` on the main thread, which only publishes. Decoder stats come back every second and merge
 * into one snapshot for the metrics.
 */
export class DecodeWorkerPool {
  readonly #options: DecodeWorkerPoolOptions;
  readonly #sink: (messages: OutgoingMessage[]) => void;
  readonly #onError: (e: Error) => void;
  /** Called with what each stats report added to the counters. */
  onCounters?: (delta: WorkerCounters) => void;
  readonly #members: Member[] = [];
  ports: Record<string, number> = {};
  recvBufferBytes: Record<string, number> = {};

  constructor(
    options: DecodeWorkerPoolOptions,
    sink: (messages: OutgoingMessage[]) => void,
    onError: (e: Error) => void,
  ) {
    this.#options = options;
    this.#sink = sink;
    this.#onError = onError;
  }

  async start(): Promise<void> {
    const o = this.#options;
    let listeners = o.listeners;
    for (let i = 0; i < Math.max(1, o.workers); i++) {
      await this.#spawn({
        listeners,
        host: o.host,
        recvBufferBytes: o.recvBufferBytes,
        allowedExporters: o.allowedExporters,
        batchSize: o.batchSize ?? 1000,
        lingerMs: o.lingerMs ?? 5,
        maxUnacked: o.maxUnacked ?? 32,
        directEncode: o.directEncode ?? true,
      });
      listeners = listeners.map((l) => ({ name: l.name, port: this.ports[l.name] ?? l.port }));
    }
  }

  async #spawn(init: WorkerInit): Promise<void> {
    const worker = new Worker(new URL('./decode-worker.ts', import.meta.url), { workerData: init });
    let ready!: () => void;
    let failed!: (e: Error) => void;
    const started = new Promise<void>((res, rej) => {
      ready = res;
      failed = rej;
    });
    let stoppedResolve!: () => void;
    const member: Member = {
      worker,
      snapshot: undefined,
      counters: { notAllowed: 0, refused: 0, encodeErrors: 0 },
      stopped: new Promise<void>((r) => {
        stoppedResolve = r;
      }),
    };
    const ack: MainToWorker = { kind: 'ack' };
    worker.on('message', (m: WorkerToMain) => {
      switch (m.kind) {
        case 'batch': {
          const { pack, lengths } = m;
          const n = lengths.length / 2;
          const messages: OutgoingMessage[] = new Array(n);
          let p = 0;
          for (let i = 0; i < n; i++) {
            const k = lengths[i * 2] as number;
            const v = lengths[i * 2 + 1] as number;
            messages[i] = { key: Buffer.from(pack, p, k), value: Buffer.from(pack, p + k, v) };
            p += k + v;
          }
          worker.postMessage(ack);
          this.#sink(messages);
          return;
        }
        case 'stats':
          member.snapshot = m.snapshot;
          this.onCounters?.({
            notAllowed: m.notAllowed - member.counters.notAllowed,
            refused: m.refused - member.counters.refused,
            encodeErrors: m.encodeErrors - member.counters.encodeErrors,
          });
          member.counters = { notAllowed: m.notAllowed, refused: m.refused, encodeErrors: m.encodeErrors };
          return;
        case 'ready':
          Object.assign(this.ports, m.ports);
          Object.assign(this.recvBufferBytes, m.recvBufferBytes);
          ready();
          return;
        case 'error':
          this.#onError(new Error(m.message));
          return;
        case 'stopped':
          stoppedResolve();
          return;
      }
    });
    worker.on('error', (e) => {
      failed(e);
      this.#onError(e);
      stoppedResolve();
    });
    worker.on('exit', () => stoppedResolve());
    this.#members.push(member);
    await started;
  }

  /** Closes the workers' sockets, takes their last batches and stats, ends the threads. */
  async stop(): Promise<void> {
    const stop: MainToWorker = { kind: 'stop' };
    for (const m of this.#members) m.worker.postMessage(stop);
    await Promise.all(this.#members.map((m) => m.stopped));
    await Promise.all(this.#members.map((m) => m.worker.terminate()));
  }

  counters(): WorkerCounters {
    const c: WorkerCounters = { notAllowed: 0, refused: 0, encodeErrors: 0 };
    for (const m of this.#members) {
      c.notAllowed += m.counters.notAllowed;
      c.refused += m.counters.refused;
      c.encodeErrors += m.counters.encodeErrors;
    }
    return c;
  }

  /** The workers' latest decoder snapshots (each at most a second old). */
  snapshots(): DecoderSnapshot[] {
    return this.#members.flatMap((m) => (m.snapshot ? [m.snapshot] : []));
  }
}

/** One snapshot of several decoders: totals and sizes summed, domains side by side. */
export function mergeSnapshots(snaps: DecoderSnapshot[], atMs = Date.now()): DecoderSnapshot {
  const out: DecoderSnapshot = {
    atMs,
    totals: {
      datagrams: 0,
      records: 0,
      errors: 0,
      templateMisses: 0,
      sequenceLostDatagrams: 0,
      sequenceLostRecords: 0,
      pendingDrops: 0,
      counterSamples: 0,
    },
    errorsByReason: {},
    domains: [],
    sizes: { templates: 0, pendingSets: 0, pendingBytes: 0, statsEntries: 0, optionsDomains: 0 },
  };
  for (const s of snaps) {
    for (const k of Object.keys(out.totals) as (keyof DecoderSnapshot['totals'])[])
      out.totals[k] += s.totals[k];
    for (const [k, v] of Object.entries(s.errorsByReason))
      out.errorsByReason[k] = (out.errorsByReason[k] ?? 0) + v;
    out.domains.push(...s.domains);
    for (const k of Object.keys(out.sizes) as (keyof DecoderSnapshot['sizes'])[]) out.sizes[k] += s.sizes[k];
  }
  return out;
}
