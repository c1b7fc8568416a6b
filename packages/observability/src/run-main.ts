import { HealthServer } from './health-server.ts';
import { createLogger, type Logger } from './logger.ts';
import { ServiceMetrics } from './metrics.ts';

/** What every service's createApp returns. */
export interface App {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Readiness beyond "started" (e.g. consumer joined, model loaded); default true once started. */
  isReady?(): boolean | Promise<boolean>;
}

export interface MainDeps {
  logger: Logger;
  metrics: ServiceMetrics;
}

export interface MainOptions<C> {
  /** Service name: the logger's `service`, the metrics' `tidewatch_<name>_` prefix. */
  name: string;
  /** Parses the environment; throws ConfigError (from @tidewatch/config) naming a bad variable. */
  loadConfig: (env: NodeJS.ProcessEnv) => C;
  createApp: (config: C, deps: MainDeps) => App | Promise<App>;
  /** Port of the /metrics /livez /readyz server; undefined when the app serves them itself. */
  healthPort?: (config: C) => number | undefined;
  /** The config as it may be logged (secrets masked); default: logged as is. */
  maskConfig?: (config: C) => unknown;
  /** How long stop() may take after SIGTERM before the process exits 1 (default 30 s). */
  stopDeadlineMs?: number;
}

function isConfigError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ConfigError';
}

/**
 * The process around a service: config (exit 1 naming the variable), the masked effective config
 * in the log, metrics and health endpoints, start, and one orderly shutdown on SIGTERM/SIGINT:
 * not ready → app.stop() under a deadline → exit 0 (1 when the deadline passes or stop fails).
 */
export async function runMain<C>(options: MainOptions<C>): Promise<void> {
  const logger = createLogger({ name: options.name });
  let config: C;
  try {
    config = options.loadConfig(process.env);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    process.stderr.write(`${options.name}: configuration error:\n${error.message}\n`);
    logger.fatal({ err: error }, 'configuration error');
    process.exit(1);
  }
  logger.info(
    { config: options.maskConfig ? options.maskConfig(config) : config },
    'effective configuration',
  );

  const metrics = new ServiceMetrics(options.name, { defaultMetrics: true });
  let ready = false;
  let app: App | undefined;
  const port = options.healthPort?.(config);
  const health =
    port === undefined
      ? undefined
      : new HealthServer({
          port,
          registry: metrics.registry,
          logger,
          ready: async () => ready && app !== undefined && ((await app.isReady?.()) ?? true),
        });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'already shutting down');
      return;
    }
    stopping = true;
    ready = false;
    const deadlineMs = options.stopDeadlineMs ?? 30_000;
    logger.info({ signal, deadlineMs }, 'shutting down');
    const timer = setTimeout(() => {
      logger.fatal({ deadlineMs }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, deadlineMs);
    try {
      await app?.stop();
      await health?.stop();
      clearTimeout(timer);
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    } catch (error) {
      logger.fatal({ err: error }, 'stop failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await health?.start();
    app = await options.createApp(config, { logger, metrics });
    await app.start();
  } catch (error) {
    logger.fatal({ err: error }, 'start failed');
    await app?.stop().catch(() => {});
    await health?.stop();
    process.exit(1);
  }
  if (!stopping) {
    ready = true;
    logger.info('started');
  }
}
