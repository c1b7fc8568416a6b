import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessBus } from '@tidewatch/bus';
import { createCodecs, type Finding, type Sequence } from '@tidewatch/contracts';
import { waitFor } from '@tidewatch/testing';
import { createApp, type InferenceApp, loadInferenceConfig } from '../src/index.ts';

/**
 * The inference app on a one-partition InProcessBus with its own data directory, not serving HTTP
 * or gRPC; `env` adds settings. `cleanup` stops nothing: call it after app.stop() and bus.close().
 */
export async function inProcessApp(
  env: Record<string, string>,
): Promise<{ app: InferenceApp; bus: InProcessBus; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tw-inference-app-'));
  const bus = new InProcessBus({ defaultPartitions: 1 });
  const app = createApp(
    loadInferenceConfig({
      TIDEWATCH_DATA_DIR: dir,
      TIDEWATCH_HTTP_PORT: '0',
      TIDEWATCH_GRPC_PORT: '0',
      ...env,
    }),
    { bus, serve: false },
  );
  return { app, bus, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Runs `sequences` through a fresh in-process app with `env` and returns what it stored (every
 * point, as findings) and what it emitted on findings.v1 (decoded), then stops it and removes its
 * data.
 */
export async function scoreThroughApp(
  env: Record<string, string>,
  sequences: readonly Sequence[],
): Promise<{ stored: Finding[]; emitted: Finding[] }> {
  const { app, bus, cleanup } = await inProcessApp(env);
  try {
    const codecs = await createCodecs();
    const producer = await bus.producer();
    await bus.ensureTopics([{ topic: 'sequences.v1' }, { topic: 'findings.v1' }]);
    await producer.send(
      'sequences.v1',
      sequences.map((s) => ({ key: s.sequence_id, value: codecs.sequences.encode(s) })),
    );
    await app.start();
    try {
      await waitFor(async () => (await app.store.count()) === sequences.length, {
        what: `${sequences.length} points`,
      });
      const { items } = await app.store.list({ limit: sequences.length + 1 });
      const emitted = bus
        .topic('findings.v1')
        .partitions.flatMap((p) => p.read(0n, sequences.length + 1))
        .map((m) => codecs.findings.decode(m.record.value) as Finding);
      return { stored: items, emitted };
    } finally {
      await app.stop();
      await bus.close();
    }
  } finally {
    await cleanup();
  }
}
