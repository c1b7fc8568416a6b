import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Field names whose values never reach a log line, at the top level and one level down. */
export const SECRET_FIELDS = [
  'password',
  'passwd',
  'secret',
  'token',
  'apiKey',
  'api_key',
  'adminKey',
  'admin_key',
  'authorization',
  'Authorization',
  'cookie',
  'sasl',
] as const;

export interface LoggerSettings {
  /** The service (or tool) name, logged as `service` on every line. */
  name: string;
  /** pino level; default LOG_LEVEL or 'info' ('silent' under TIDEWATCH_TEST unless LOG_LEVEL is set). */
  level?: string;
  /** Where lines go; default stdout. Tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
}

function defaultLevel(): string {
  const configured = process.env['LOG_LEVEL'];
  if (configured) return configured;
  return process.env['TIDEWATCH_TEST'] ? 'silent' : 'info';
}

/** The process logger: pino JSON lines with secrets redacted. Components take `.child({ component })`. */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? defaultLevel(),
    base: { service: settings.name },
    redact: {
      paths: SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]),
      censor: '[redacted]',
    },
  };
  return settings.destination ? pino(options, settings.destination as pino.DestinationStream) : pino(options);
}

/** A child logger for one component (`{ component: 'kafka' }` on every line). */
export function componentLogger(parent: Logger, component: string): Logger {
  return parent.child({ component });
}

let fallback: Logger | undefined;
/** The logger libraries use when their caller gave none (silent in tests). */
export function defaultLogger(): Logger {
  fallback ??= createLogger({ name: 'tidewatch' });
  return fallback;
}
