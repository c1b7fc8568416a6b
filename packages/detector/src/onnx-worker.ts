/**
 * Worker-thread entry of InferenceWorker: owns the ONNX sessions of one model version so that
 * session.run (synchronous inside onnxruntime-node) blocks this thread, not the service's event
 * loop. Only erasable TypeScript here: it also loads under Node's own type stripping.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

interface WorkerInit {
  files: string[];
  options: ort.InferenceSession.SessionOptions;
}

interface RunRequest {
  id: number;
  session: number;
  batch: number;
  len: number;
  flow: Float32Array;
  mask: Float32Array;
  context: Float32Array;
  contextWidth: number;
}

const port = parentPort;
if (!port) throw new Error('onnx-worker.ts must run in a worker thread');
const init = workerData as WorkerInit;

const sessions: ort.InferenceSession[] = [];
try {
  for (const file of init.files) sessions.push(await ort.InferenceSession.create(file, init.options));
  const first = sessions[0] as ort.InferenceSession;
  port.postMessage({ ready: true, inputNames: first.inputNames, outputNames: first.outputNames });
} catch (e) {
  port.postMessage({ ready: false, error: e instanceof Error ? e.message : String(e) });
}

port.on('message', (m: RunRequest | { release: true }) => {
  if ('release' in m) {
    void Promise.all(sessions.map((s) => s.release())).finally(() => port.close());
    return;
  }
  void run(m);
});

async function run(m: RunRequest): Promise<void> {
  try {
    const session = sessions[m.session];
    if (!session) throw new Error(`no session ${m.session}`);
    const r = await session.run({
      flow_features: new ort.Tensor('float32', m.flow, [m.batch, m.len, m.flow.length / (m.batch * m.len)]),
      flow_mask: new ort.Tensor('float32', m.mask, [m.batch, m.len]),
      context_features: new ort.Tensor('float32', m.context, [m.batch, m.contextWidth]),
    });
    const out: Record<string, Float32Array> = {};
    const transfer: ArrayBuffer[] = [];
    for (const name of ['score', 'anomaly', 'tactic_probs', 'embedding']) {
      const data = r[name]?.data;
      if (!(data instanceof Float32Array)) throw new Error(`output ${name} is not float32`);
      out[name] = data;
      if (data.buffer instanceof ArrayBuffer && !transfer.includes(data.buffer)) transfer.push(data.buffer);
    }
    // The inputs go back too (moved, not copied): the caller explains alerts from them.
    const inputs = { flow: m.flow, mask: m.mask, context: m.context };
    for (const a of [m.flow, m.mask, m.context])
      if (a.buffer instanceof ArrayBuffer && !transfer.includes(a.buffer)) transfer.push(a.buffer);
    port?.postMessage({ id: m.id, out, inputs }, transfer);
  } catch (e) {
    port?.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
}
