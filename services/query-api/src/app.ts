import { createHash } from 'node:crypto';
import { join } from 'node:path';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import type { MessageBus } from '@tidewatch/bus';
import { type ContractCodecs, createCodecs } from '@tidewatch/contracts';
import type { ModelRepository } from '@tidewatch/detector';
import type { SuppressionStore } from '@tidewatch/suppression';
import { EmbeddedStore, VectorDimensionError, type VectorStore } from '@tidewatch/vector-store';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { Redis } from 'ioredis';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ApiKeyService, hasScope, type Principal } from './api-keys.ts';
import { QuestionAnswerer } from './ask.ts';
import { CaseService } from './cases.ts';
import type { QueryApiConfig } from './config.ts';
import { DeviceTypeIndex } from './device-types.ts';
import { ApiError } from './errors.ts';
import { FindingQueries } from './finding-queries.ts';
import { ModelCatalog, type ModelControl } from './model-control.ts';
import { OverviewAggregates } from './overview-aggregates.ts';
import { FindingStreams } from './push/finding-streams.ts';
import { type FindingSink, sinksFromConfig } from './push/sinks.ts';
import { WEBHOOK_ATTEMPT_OUTCOMES, WebhookDispatcher } from './push/webhooks.ts';
import { registerRoutes } from './routes/index.ts';
import { type DocumentStore, EmbeddedDocumentStore, RedisDocumentStore } from './stores/document-store.ts';
import { QueryStores, type Scope } from './stores/domain.ts';
import { SuppressionService } from './suppressions.ts';
import { uiPlugin } from './ui/plugin.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; 'public' for the health, metrics, OpenAPI and UI shell routes. */
    scope?: Scope | 'public';
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface QueryApiDeps {
  store?: VectorStore;
  bus?: MessageBus;
  redis?: Redis;
  /** Document store override (tests); otherwise Redis when configured, else embedded under dataDir. */
  docs?: DocumentStore;
  codecs?: ContractCodecs;
  /** Extra sinks beside those configured by env (tests). */
  sinks?: FindingSink[];
  /** The web UI as a Fastify plugin, served at `/` without a key (default: the built UI; false: none). */
  ui?: FastifyPluginAsync | false;
  /** Topic names (tests isolate by unique names). */
  topics?: { sequences: string; findings: string; webhookDeadLetter: string };
  /** Where suppression rules go (default: this service's document store, the layout inference reads). */
  suppressionStore?: SuppressionStore;
  /** Embedding dimension for the default embedded vector store. */
  embeddingDim?: number;
  /** The in-process inference app's model switch (one-process mode). */
  modelControl?: ModelControl;
  /** Where model versions live (default: TIDEWATCH_MODEL_DIR or the checkout's model/versions). */
  modelRepository?: ModelRepository;
  /** Extra sections for GET /v1/status from processes sharing this one (e.g. the collector's exporters). */
  status?: () => Record<string, unknown>;
}

export interface Services {
  config: QueryApiConfig;
  store: VectorStore;
  stores: QueryStores;
  keys: ApiKeyService;
  queries: FindingQueries;
  aggregates: OverviewAggregates;
  cases: CaseService;
  suppressions: SuppressionService;
  webhooks: WebhookDispatcher;
  answerer: QuestionAnswerer;
  devices: DeviceTypeIndex;
  metrics: Registry;
  models: ModelCatalog;
  status: (() => Record<string, unknown>) | null;
  state: { ready: boolean };
}

export interface QueryApi {
  fastify: FastifyInstance;
  services: Services;
  /** Base URL once started (http://host:port). */
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function validationField(err: FastifyError): string {
  const v = err.validation?.[0];
  if (!v) return 'body';
  const params = v.params as Record<string, unknown>;
  const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const leaf = (params['missingProperty'] ?? params['additionalProperty']) as string | undefined;
  return [path, leaf].filter(Boolean).join('.') || (err.validationContext ?? 'body');
}

/**
 * Builds the query API: every dependency explicit, nothing listening until start(). Tests call
 * createApp with real Redis/Kafka or the embedded stores and drive it over real HTTP.
 */
export async function createApp(config: QueryApiConfig, deps: QueryApiDeps = {}): Promise<QueryApi> {
  const ownRedis =
    !deps.redis && !deps.docs && config.redisUrl
      ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 })
      : null;
  const redis = deps.redis ?? ownRedis;
  const docs =
    deps.docs ??
    (redis
      ? new RedisDocumentStore(redis, config.namespace)
      : new EmbeddedDocumentStore(join(config.dataDir, 'query-api')));
  const store =
    deps.store ??
    new EmbeddedStore({
      dir: join(config.dataDir, 'vectors'),
      dim: deps.embeddingDim ?? config.embeddingDim,
    });
  const ownStore = !deps.store;
  const stores = new QueryStores(docs);
  const aggregates = new OverviewAggregates();
  const devices = new DeviceTypeIndex(stores.devices);
  const queries = new FindingQueries(store, stores, aggregates, devices);
  const topics = deps.topics ?? {
    sequences: 'sequences.v1',
    findings: 'findings.v1',
    webhookDeadLetter: 'webhooks.v1.dlq',
  };
  let producer: Awaited<ReturnType<MessageBus['producer']>> | null = null;
  const webhookAttempts = new Counter({
    name: 'tidewatch_query_api_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome (delivered, retry, dead = dead-lettered, disabled).',
    labelNames: ['outcome'],
    registers: [],
  });
  for (const outcome of WEBHOOK_ATTEMPT_OUTCOMES) webhookAttempts.inc({ outcome }, 0);
  const webhooks = new WebhookDispatcher(stores.webhooks, {
    onAttempt: (outcome) => webhookAttempts.inc({ outcome }),
    retryMs: config.webhookRetryMs,
    timeoutMs: config.webhookTimeoutMs,
    deadLetterTopic: topics.webhookDeadLetter,
    ...(deps.bus
      ? {
          producer: async () => {
            producer ??= await (deps.bus as MessageBus).producer();
            return producer;
          },
        }
      : {}),
  });
  const cases = new CaseService(stores.cases, store, webhooks);
  const suppressions = new SuppressionService(
    store,
    deps.suppressionStore ?? stores.suppressions,
    config.suppressionThreshold,
  );
  const keys = new ApiKeyService(stores.keys, config.adminKey);
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'tidewatch_query_api_' });
  metrics.registerMetric(webhookAttempts);
  const services: Services = {
    config,
    store,
    stores,
    keys,
    queries,
    aggregates,
    cases,
    suppressions,
    webhooks,
    answerer: new QuestionAnswerer(queries, config.llm),
    devices,
    metrics,
    models: new ModelCatalog({
      ...(deps.modelControl ? { control: deps.modelControl } : {}),
      ...(deps.modelRepository ? { repository: deps.modelRepository } : {}),
      ...(config.inferenceAdminUrl ? { inferenceAdminUrl: config.inferenceAdminUrl } : {}),
      adminKey: config.adminKey ?? '',
    }),
    status: deps.status ?? null,
    state: { ready: false },
  };

  const app = Fastify({
    logger: process.env['TIDEWATCH_TEST'] ? false : { level: process.env['LOG_LEVEL'] ?? 'info' },
    bodyLimit: config.bodyLimitBytes,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    routerOptions: { ignoreTrailingSlash: true },
  });
  app.decorateRequest('principal', null);

  await app.register(swagger, {
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) =>
        typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`,
    },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tidewatch query API',
        version: '1.0.0',
        description: 'Findings, cases, exports, webhooks and analytics.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API key (tw_<id>_<secret>)' },
        },
      },
      security: [{ bearer: [] }],
    },
  });
  if (config.corsOrigins.length) await app.register(cors, { origin: config.corsOrigins, credentials: false });
  await app.register(rateLimit, {
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    // Per key (hashed: no secret material in the limiter's table), per address without one.
    keyGenerator: (req) =>
      req.headers.authorization
        ? createHash('sha256').update(req.headers.authorization).digest('base64url').slice(0, 22)
        : req.ip,
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      error: 'rate_limited',
      message: `rate limit of ${ctx.max} requests per minute exceeded, retry in ${ctx.after}`,
    }),
  });

  const duration = new Histogram({
    name: 'tidewatch_query_api_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics],
  });
  const authFailures = new Counter({
    name: 'tidewatch_query_api_auth_failures_total',
    help: 'Requests refused by authentication (401) or authorisation (403)',
    labelNames: ['status'],
    registers: [metrics],
  });
  app.addHook('onResponse', async (req, reply) => {
    duration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.addHook('onRequest', async (req, reply) => {
    // The UI's catch-all route is public, but nothing under /v1/ answers without a key, not even a 404.
    const scope = req.routeOptions.config.scope ?? 'read';
    const needed = scope === 'public' && req.url.startsWith('/v1/') ? 'read' : scope;
    if (needed === 'public') return;
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const principal = m ? await keys.authenticate(m[1] as string) : null;
    if (!principal) {
      authFailures.inc({ status: '401' });
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="tidewatch"')
        .send({
          error: 'unauthorized',
          message: header ? 'invalid API key' : 'missing API key (Authorization: Bearer <key>)',
        });
    }
    if (!hasScope(principal, needed)) {
      authFailures.inc({ status: '403' });
      return reply.code(403).send({ error: 'forbidden', message: `this route needs the ${needed} scope` });
    }
    req.principal = principal;
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) {
      const field = validationField(err);
      return reply.code(400).send({
        error: 'bad_request',
        message: `${field}: ${err.validation[0]?.message ?? 'invalid'}`,
        field,
      });
    }
    if (err instanceof ApiError)
      return reply
        .code(err.statusCode)
        .send({ error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) });
    if (err instanceof VectorDimensionError)
      return reply.code(400).send({ error: 'bad_request', message: err.message, field: 'vector' });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
      return reply.code(err.statusCode).send({ error: err.code ?? 'bad_request', message: err.message });
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error', request_id: req.id });
  });

  await registerRoutes(app, services);
  if (deps.ui !== false) {
    const ui = deps.ui ?? uiPlugin;
    await app.register(async (child) => {
      child.addHook('onRoute', (route) => {
        route.config = { ...(route.config ?? {}), scope: 'public' };
      });
      await child.register(ui);
    });
  }

  const streams = deps.bus
    ? new FindingStreams({
        bus: deps.bus,
        codecs: deps.codecs ?? (await createCodecs()),
        namespace: config.namespace,
        evidence: stores.evidence,
        aggregates,
        webhooks,
        sinks: [...sinksFromConfig(config.sinks), ...(deps.sinks ?? [])],
        topics: { sequences: topics.sequences, findings: topics.findings },
      })
    : null;
  let url = '';

  return {
    fastify: app,
    services,
    get url() {
      return url;
    },
    async start() {
      await store.init();
      // Listening first keeps /livez answering during a long rebuild; /readyz says 503 until done.
      const address = await app.listen({ port: config.httpPort, host: config.host });
      url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
      const rebuilt = await aggregates.rebuild(store);
      app.log.info({ findings: rebuilt }, 'overview aggregates rebuilt from the store');
      await webhooks.start();
      if (streams && config.consumers) await streams.start();
      services.state.ready = true;
    },
    async stop() {
      services.state.ready = false;
      await app.close();
      if (streams) await streams.stop();
      await webhooks.stop();
      if (producer) await producer.close();
      await docs.close();
      if (ownStore) await store.close();
      if (ownRedis) await ownRedis.quit();
    },
  };
}
