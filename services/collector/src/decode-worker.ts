/**
 * Entry of one decode worker thread (see DecodeWorkerPool): its own SO_REUSEPORT receive socket on
 * every UDP listener port, its own FlowDecoder (the kernel hashes an exporter's 4-tuple to one
 * socket, so an exporter's templates and data meet in one worker), Avro encoding with
 * FlowAvroWriter, and packed batches of (key, value) transferred to the main thread, which only
 * publishes them. At most `maxUnacked` batches are in the channel: past that, flows are counted
 * as refused, never queued without bound.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { OutgoingMessage } from '@tidewatch/bus';
import { createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { FlowDecoder } from './decode/index.ts';
import { ExporterAllowList } from './exporter-allow-list.ts';
import { FlowAvroWriter } from './flow-avro-writer.ts';
import { UdpListener } from './udp-listener.ts';
import type { MainToWorker, WorkerInit, WorkerToMain } from './decode-worker-protocol.ts';
import type { DirectOutput } from './netflow5-avro.ts';

const init = workerData as WorkerInit;
const port = parentPort;
if (!port) throw new Error('decode-worker.ts runs as a worker thread');

const post = (m: WorkerToMain, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

const STATS_MS = 1000;
const TEMPLATE_SWEEP_MS = 60_000;

const codecs = await createCodecs();
const writer = new FlowAvroWriter(codecs.flows);
const decoder = new FlowDecoder();
const allow = new ExporterAllowList(init.allowedExporters);
let notAllowed = 0;
let refused = 0;
let encodeErrors = 0;
let unacked = 0;

// The batch being filled: conversation keys' endpoints and encoded values, packed on flush. A
// message from the direct path brings its whole key in `lo`, with null in `hi`.
let lo: string[] = [];
let hi: (string | null)[] = [];
let values: Buffer[] = [];
let bytes = 0;

function flush(): void {
  const n = values.length;
  if (n === 0) return;
  if (unacked >= init.maxUnacked) {
    refused += n;
  } else {
    const pack = new ArrayBuffer(bytes);
    const b = new Uint8Array(pack);
    const lengths = new Uint32Array(n * 2);
    let p = 0;
    for (let i = 0; i < n; i++) {
      // the canonical conversation key `lo|hi` as ASCII bytes (addresses are ASCII)
      const start = p;
      const a = lo[i] as string;
      const c = hi[i] as string | null;
      for (let k = 0; k < a.length; k++) b[p++] = a.charCodeAt(k);
      if (c !== null) {
        b[p++] = 0x7c;
        for (let k = 0; k < c.length; k++) b[p++] = c.charCodeAt(k);
      }
      lengths[i * 2] = p - start;
      const v = values[i] as Buffer;
      b.set(v, p);
      p += v.length;
      lengths[i * 2 + 1] = v.length;
    }
    unacked++;
    post({ kind: 'batch', pack, lengths }, [pack, lengths.buffer]);
  }
  lo = [];
  hi = [];
  values = [];
  bytes = 0;
}

const out: FlowRecord[] = [];
const direct: DirectOutput | undefined = init.directEncode
  ? { writer: new FlowAvroWriter(codecs.flows), messages: [] }
  : undefined;
function onDatagram(payload: Buffer, exporter: string, exporterPort: number): void {
  if (!allow.empty && !allow.allows(exporter)) {
    notAllowed++;
    return;
  }
  out.length = 0;
  const ctx = { exporter, exporterPort, receivedAtMs: Date.now() };
  if (direct === undefined) decoder.decodeInto(payload, ctx, out);
  else {
    direct.messages.length = 0;
    decoder.decodeMessagesInto(payload, ctx, out, direct);
    const messages = direct.messages;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as OutgoingMessage;
      const key = m.key as string; // conversationKey of two address texts: ASCII
      lo.push(key);
      hi.push(null);
      values.push(m.value);
      bytes += key.length + m.value.length;
    }
  }
  for (let i = 0; i < out.length; i++) {
    const f = out[i] as FlowRecord;
    let v: Buffer;
    try {
      v = writer.encode(f);
    } catch {
      encodeErrors++;
      continue;
    }
    const s = f.src_ip;
    const d = f.dst_ip;
    // decoders only ever put address text (ASCII) in src_ip/dst_ip
    if (s <= d) {
      lo.push(s);
      hi.push(d);
    } else {
      lo.push(d);
      hi.push(s);
    }
    values.push(v);
    bytes += s.length + d.length + 1 + v.length;
  }
  if (values.length >= init.batchSize) flush();
}

const listeners: UdpListener[] = [];
for (const l of init.listeners) {
  const listener = new UdpListener(
    { name: l.name, port: l.port, host: init.host, sockets: 1, recvBufferBytes: init.recvBufferBytes },
    onDatagram,
    (e) => post({ kind: 'error', message: e.message }),
  );
  await listener.start();
  listeners.push(listener);
}

function stats(): WorkerToMain {
  return { kind: 'stats', snapshot: decoder.snapshot(), notAllowed, refused, encodeErrors };
}

const timers = [
  setInterval(flush, init.lingerMs),
  setInterval(() => post(stats()), STATS_MS),
  setInterval(() => decoder.expire(Date.now()), TEMPLATE_SWEEP_MS),
];

port.on('message', (m: MainToWorker) => {
  if (m.kind === 'ack') unacked--;
  else if (m.kind === 'stop')
    void (async () => {
      await Promise.all(listeners.map((l) => l.stop()));
      for (const t of timers) clearInterval(t);
      const keep = init.maxUnacked;
      init.maxUnacked = Number.POSITIVE_INFINITY; // the last batch goes out whatever the credit
      flush();
      init.maxUnacked = keep;
      post(stats());
      post({ kind: 'stopped' });
    })();
});

post({
  kind: 'ready',
  ports: Object.fromEntries(listeners.map((l) => [l.options.name, l.port])),
  recvBufferBytes: Object.fromEntries(listeners.map((l) => [l.options.name, l.recvBufferBytes])),
});
