import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type KAFKA_SASL_MECHANISMS } from '@tidewatch/config';
import type { Logger, ServiceMetrics } from '@tidewatch/observability';
import type { MessageBus } from './bus.ts';
import { InProcessBus } from './in-process-bus.ts';
import { KafkaBus, type KafkaBusSettings } from './kafka-bus.ts';

/** The variables createMessageBus reads (RUNTIME_VARS and KAFKA_VARS of @tidewatch/config). */
export interface BusConfig {
  KAFKA_BROKERS?: string[] | undefined;
  KAFKA_CLIENT_ID?: string | undefined;
  KAFKA_TLS?: boolean | undefined;
  KAFKA_TLS_CA_FILE?: string | undefined;
  KAFKA_SASL_MECHANISM?: (typeof KAFKA_SASL_MECHANISMS)[number] | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  TIDEWATCH_DATA_DIR?: string | undefined;
}

/** KafkaBus settings from configuration; throws ConfigError naming a missing SASL/TLS variable. */
export function kafkaSettings(
  config: BusConfig & { KAFKA_BROKERS: string[] },
  defaults: { clientId: string; logger?: Logger },
): KafkaBusSettings {
  const settings: KafkaBusSettings = {
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID ?? defaults.clientId,
    ...(defaults.logger ? { logger: defaults.logger } : {}),
  };
  if (config.KAFKA_TLS_CA_FILE && !config.KAFKA_TLS) {
    throw new ConfigError('KAFKA_TLS', 'must be true when KAFKA_TLS_CA_FILE is set');
  }
  if (config.KAFKA_TLS) {
    if (config.KAFKA_TLS_CA_FILE) {
      let ca: string;
      try {
        ca = readFileSync(config.KAFKA_TLS_CA_FILE, 'utf8');
      } catch (error) {
        throw new ConfigError(
          'KAFKA_TLS_CA_FILE',
          `cannot read ${config.KAFKA_TLS_CA_FILE}: ${(error as Error).message}`,
        );
      }
      settings.ssl = { ca: [ca] };
    } else {
      settings.ssl = true;
    }
  }
  const mechanism = config.KAFKA_SASL_MECHANISM;
  if (mechanism) {
    if (!config.KAFKA_SASL_USERNAME) {
      throw new ConfigError('KAFKA_SASL_USERNAME', `required when KAFKA_SASL_MECHANISM is ${mechanism}`);
    }
    if (!config.KAFKA_SASL_PASSWORD) {
      throw new ConfigError('KAFKA_SASL_PASSWORD', `required when KAFKA_SASL_MECHANISM is ${mechanism}`);
    }
    settings.sasl = { mechanism, username: config.KAFKA_SASL_USERNAME, password: config.KAFKA_SASL_PASSWORD };
  } else if (config.KAFKA_SASL_USERNAME || config.KAFKA_SASL_PASSWORD) {
    throw new ConfigError('KAFKA_SASL_MECHANISM', 'required when KAFKA_SASL_USERNAME/PASSWORD are set');
  }
  return settings;
}

/**
 * The bus a service runs on: KafkaBus when KAFKA_BROKERS is set, otherwise the one-process
 * InProcessBus, persisted under `<TIDEWATCH_DATA_DIR>/bus` when a data dir is configured.
 */
export function createMessageBus(
  config: BusConfig,
  defaults: { clientId: string; logger?: Logger; metrics?: ServiceMetrics },
): MessageBus {
  const metrics = defaults.metrics ? { metrics: defaults.metrics } : {};
  if (config.KAFKA_BROKERS && config.KAFKA_BROKERS.length > 0) {
    const settings = kafkaSettings({ ...config, KAFKA_BROKERS: config.KAFKA_BROKERS }, defaults);
    return new KafkaBus({ ...settings, ...metrics });
  }
  return new InProcessBus({
    ...metrics,
    ...(defaults.logger ? { logger: defaults.logger } : {}),
    ...(config.TIDEWATCH_DATA_DIR ? { dir: join(config.TIDEWATCH_DATA_DIR, 'bus') } : {}),
  });
}
