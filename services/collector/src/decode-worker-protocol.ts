import type { DecoderSnapshot } from './decode/index.ts';

/** What a decode worker is started with (workerData). */
export interface WorkerInit {
  listeners: { name: string; port: number }[];
  host: string;
  recvBufferBytes: number;
  allowedExporters: string[];
  /** Flows per packed batch; a partial batch goes out every `lingerMs`. */
  batchSize: number;
  lingerMs: number;
  /** Batches posted and not yet taken by the main thread; past it, flows are refused (counted). */
  maxUnacked: number;
  /** NetFlow v5 straight to Avro (encodeNetflow5) instead of through FlowRecord objects. */
  directEncode: boolean;
}

export type WorkerToMain =
  | { kind: 'ready'; ports: Record<string, number>; recvBufferBytes: Record<string, number> }
  /** `lengths` holds (key length, value length) per message; keys and values lie in `pack` in order. */
  | { kind: 'batch'; pack: ArrayBuffer; lengths: Uint32Array }
  | { kind: 'stats'; snapshot: DecoderSnapshot; notAllowed: number; refused: number; encodeErrors: number }
  | { kind: 'error'; message: string }
  | { kind: 'stopped' };

export type MainToWorker = { kind: 'ack' } | { kind: 'stop' };
