import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessBus } from '@tidewatch/bus';
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
