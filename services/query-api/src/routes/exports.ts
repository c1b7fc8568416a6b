import { Readable } from 'node:stream';
import type { Finding } from '@tidewatch/contracts';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import {
  csvLine,
  FINDING_CSV_COLUMNS,
  findingCsvRow,
  TEMPO_CSV_COLUMNS,
  tempoRow,
  toEcs,
  toOcsf,
  toTimesketch,
} from '../exports/formats.ts';
import { navigatorLayer } from '../exports/navigator.ts';
import { type FilterParams, parseSort, toFilter } from '../finding-queries.ts';
import { filterProperties, UUID } from './schemas.ts';

const FORMATS = ['ocsf', 'ecs', 'timesketch', 'csv', 'tempo'] as const;
type Format = (typeof FORMATS)[number];

const CONTENT: Record<Format, { type: string; ext: string }> = {
  ocsf: { type: 'application/x-ndjson', ext: 'ocsf.jsonl' },
  ecs: { type: 'application/x-ndjson', ext: 'ecs.jsonl' },
  timesketch: { type: 'application/x-ndjson', ext: 'timesketch.jsonl' },
  csv: { type: 'text/csv; charset=utf-8', ext: 'csv' },
  tempo: { type: 'text/csv; charset=utf-8', ext: 'tempo.csv' },
};

export async function exportRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.get<{ Querystring: FilterParams & { format: Format; limit: number; sort?: string; id?: string } }>(
    '/v1/exports/findings',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['exports'],
        summary:
          'Findings as OCSF 1.8 Detection Findings (JSON lines), ECS alerts, Timesketch JSONL, CSV, or the Tempo-style results CSV.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['format'],
          properties: {
            ...filterProperties,
            format: { type: 'string', enum: [...FORMATS] },
            id: { type: 'string', pattern: UUID, description: 'export one finding' },
            sort: { type: 'string', pattern: '^-?(score|window_start_ms|anomaly|scored_at_ms)$' },
            limit: { type: 'integer', minimum: 1, maximum: 100_000, default: 10_000 },
          },
        },
      },
    },
    async (req, reply) => {
      const { format, limit, sort, id, ...params } = req.query;
      const filter = id ? { sequenceIds: [id] } : toFilter(params);
      const order = parseSort(sort ?? 'window_start_ms');
      await s.devices.refresh();
      async function* rows(): AsyncGenerator<string> {
        if (format === 'csv') yield csvLine(FINDING_CSV_COLUMNS);
        if (format === 'tempo') yield csvLine(TEMPO_CSV_COLUMNS);
        let cursor: string | null = null;
        let n = 0;
        do {
          const page: { items: Finding[]; nextCursor: string | null } = await s.store.list({
            filter,
            sort: order,
            limit: Math.min(500, limit - n),
            cursor,
          });
          const evidence =
            format === 'ocsf' || format === 'tempo'
              ? await s.stores.evidence.getMany(page.items.map((f) => f.sequence_id))
              : [];
          let out = '';
          page.items.forEach((f, i) => {
            const ev = evidence[i] ?? null;
            if (format === 'ocsf') out += `${JSON.stringify(toOcsf(f, ev))}\n`;
            else if (format === 'ecs') out += `${JSON.stringify(toEcs(f))}\n`;
            else if (format === 'timesketch') out += `${JSON.stringify(toTimesketch(f))}\n`;
            else if (format === 'csv') out += csvLine(findingCsvRow(f));
            else out += csvLine(tempoRow(f, ev, s.devices.lookup(f.src_ip), s.devices.lookup(f.dst_ip)));
          });
          n += page.items.length;
          if (out) yield out;
          cursor = page.nextCursor;
        } while (cursor && n < limit);
      }
      const c = CONTENT[format];
      return reply
        .type(c.type)
        .header('content-disposition', `attachment; filename="tidewatch-findings.${c.ext}"`)
        .send(Readable.from(rows()));
    },
  );

  app.get<{ Querystring: FilterParams & { case_id?: string } }>(
    '/v1/exports/navigator',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['exports'],
        summary:
          'ATT&CK Navigator layer (format 4.5) for a case or a time range (malicious findings; score = count).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: filterProperties.from,
            to: filterProperties.to,
            case_id: { type: 'string', pattern: UUID },
          },
        },
      },
    },
    async (req, reply) => {
      const layer = await navigatorLayer(s.queries, s.cases, req.query);
      return reply.header('content-disposition', 'attachment; filename="tidewatch-layer.json"').send(layer);
    },
  );
}
