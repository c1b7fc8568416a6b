import { isIP } from 'node:net';
import type { QueryApiConfig } from './config.ts';
import { badRequest } from './errors.ts';
import type { ApiFinding, FilterParams, FindingQueries } from './finding-queries.ts';

export interface AskQuery {
  method: 'GET' | 'POST';
  path: string;
  params: Record<string, string | number>;
}

export interface AskAnswer {
  question: string;
  answered_by: 'parser' | 'llm';
  query: AskQuery;
  columns: string[];
  rows: (string | number | null)[][];
}

const FINDING_COLUMNS = [
  'window_start',
  'src_ip',
  'dst_ip',
  'dst_port',
  'score',
  'severity',
  'tactic',
  'technique',
  'status',
  'sequence_id',
];

function findingRow(f: ApiFinding, similarity?: number): (string | number | null)[] {
  const row: (string | number | null)[] = [
    new Date(f.window_start_ms).toISOString(),
    f.src_ip,
    f.dst_ip,
    f.dst_ports[0] ?? null,
    Number(f.score.toFixed(4)),
    f.severity,
    f.tactics[0]?.name ?? null,
    f.techniques[0]?.id ?? null,
    f.status,
    f.sequence_id,
  ];
  return similarity === undefined ? row : [Number(similarity.toFixed(4)), ...row];
}

const IP = String.raw`([0-9a-fA-F:.]+(?:/\d{1,3})?)`;
const UNIT_MS: Record<string, number> = { minute: 6e4, min: 6e4, hour: 3.6e6, day: 8.64e7, week: 6.048e8 };

/** The time range a question names ("in the last hour", "last 3 days", "today", "yesterday"). */
export function timeRange(q: string, now = Date.now()): { from?: number; to?: number } {
  const last =
    /\b(?:in the |over the |during the )?(?:last|past)\s+(\d+\s+)?(minute|min|hour|day|week)s?\b/.exec(q);
  if (last) return { from: now - Number(last[1] ?? 1) * (UNIT_MS[last[2] as string] as number) };
  const midnight = new Date(now);
  midnight.setUTCHours(0, 0, 0, 0);
  if (/\btoday\b/.test(q)) return { from: midnight.getTime() };
  if (/\byesterday\b/.test(q)) return { from: midnight.getTime() - 8.64e7, to: midnight.getTime() };
  return {};
}

function validIp(v: string | undefined): v is string {
  return v !== undefined && isIP(v.split('/')[0] ?? '') !== 0;
}

/**
 * Natural-language questions answered by running the API's own queries. The common forms are
 * parsed deterministically; anything else goes to the configured OpenAI-compatible endpoint
 * (which may only choose among the same queries), or is refused with the forms that work.
 */
export class QuestionAnswerer {
  constructor(
    private readonly queries: FindingQueries,
    private readonly llm: QueryApiConfig['llm'],
  ) {}

  parse(question: string, now = Date.now()): AskQuery | null {
    const q = question.toLowerCase().replace(/\s+/g, ' ').trim();
    const range = timeRange(q, now);
    const time: Record<string, number> = {};
    if (range.from !== undefined) time['from'] = range.from;
    if (range.to !== undefined) time['to'] = range.to;

    const similar =
      /(?:top\s+)?(\d+)?\s*(?:events?|findings?|sequences?)?\s*(?:most\s+)?similar to (?:sequence |finding )?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(
        q,
      );
    if (similar) {
      return {
        method: 'GET',
        path: `/v1/findings/${similar[2]}/similar`,
        params: { k: Math.min(Number(similar[1] ?? 20), 1000), ...time },
      };
    }
    const between = new RegExp(`(?:traffic|connections|flows) between ${IP} and ${IP}`).exec(q);
    if (between && validIp(between[1]) && validIp(between[2])) {
      return {
        method: 'GET',
        path: '/v1/forensics',
        params: { src_ip: between[1], dst_ip: between[2], both_directions: 'true', ...time },
      };
    }
    if (/\b(?:which|what) (?:att&ck )?techniques\b|\btechniques (?:were )?seen\b/.test(q)) {
      return { method: 'GET', path: '/v1/techniques', params: { ...time } };
    }
    if (/\b(?:which|what) tactics\b/.test(q)) {
      return { method: 'GET', path: '/v1/techniques', params: { ...time } };
    }
    if (/\b(?:findings?|alerts?|events?|detections?|sequences?)\b/.test(q)) {
      const params: Record<string, string | number> = { ...time };
      const sev = /\b(critical|high|medium|low|info)(?:[- ]severity)?\b/.exec(q);
      if (sev && /severity|critical|high|medium|low/.test(q)) {
        const order = ['info', 'low', 'medium', 'high', 'critical'];
        const at = order.indexOf(sev[1] as string);
        params['severity'] = /\b(?:or above|and above|or higher|at least)\b/.test(q)
          ? order.slice(at).join(',')
          : (sev[1] as string);
      }
      const from = new RegExp(`\\bfrom ${IP}`).exec(q);
      if (from && validIp(from[1])) params['src_ip'] = from[1];
      const to = new RegExp(`\\bto ${IP}`).exec(q);
      if (to && validIp(to[1])) params['dst_ip'] = to[1];
      if (/\b(?:malicious|suspicious)\b/.test(q)) params['verdict'] = 'malicious';
      const top = /\btop (\d+)\b/.exec(q);
      params['limit'] = Math.min(Number(top?.[1] ?? 50), 1000);
      params['sort'] = /\b(?:top|highest|worst)\b/.test(q) ? '-score' : '-window_start_ms';
      return { method: 'GET', path: '/v1/findings', params };
    }
    return null;
  }

  async ask(question: string): Promise<AskAnswer> {
    let query = this.parse(question);
    let answeredBy: AskAnswer['answered_by'] = 'parser';
    if (!query && this.llm) {
      query = await this.#askLlm(question);
      answeredBy = 'llm';
    }
    if (!query)
      throw badRequest(
        'question',
        'question not understood; try "top 20 events similar to sequence <id>", "high-severity findings from 10.0.0.5 in the last hour", "which techniques were seen today" or "traffic between 10.0.0.1 and 10.0.0.2"',
      );
    return { question, answered_by: answeredBy, query, ...(await this.run(query)) };
  }

  async run(query: AskQuery): Promise<{ columns: string[]; rows: (string | number | null)[][] }> {
    const p = query.params as FilterParams & Record<string, string | number>;
    const similar = /^\/v1\/findings\/([0-9a-f-]{36})\/similar$/.exec(query.path);
    if (similar) {
      const hits = await this.queries.similar(similar[1] as string, Number(p['k'] ?? 20), p);
      return {
        columns: ['similarity', ...FINDING_COLUMNS],
        rows: hits.map((h) => findingRow(h.finding, h.similarity)),
      };
    }
    if (query.path === '/v1/findings') {
      const { items } = await this.queries.list({
        ...p,
        limit: Number(p['limit'] ?? 50),
        ...(p['sort'] ? { sort: String(p['sort']) } : {}),
      });
      return { columns: FINDING_COLUMNS, rows: items.map((f) => findingRow(f)) };
    }
    if (query.path === '/v1/techniques') {
      const r = await this.queries.techniqueRollup(p);
      return {
        columns: ['technique', 'name', 'count', 'first_seen', 'last_seen', 'max_score'],
        rows: r.techniques.map((t) => [
          t.id,
          t.name,
          t.count,
          new Date(t.first_seen_ms).toISOString(),
          new Date(t.last_seen_ms).toISOString(),
          Number(t.max_score.toFixed(4)),
        ]),
      };
    }
    if (query.path === '/v1/forensics') {
      const dirs =
        p['both_directions'] === 'true'
          ? [
              [p.src_ip, p.dst_ip],
              [p.dst_ip, p.src_ip],
            ]
          : [[p.src_ip, p.dst_ip]];
      const rows: (string | number | null)[][] = [];
      for (const [src, dst] of dirs) {
        const { both_directions: _b, ...rest } = p;
        const r = await this.queries.forensics({
          ...rest,
          ...(src ? { src_ip: src } : {}),
          ...(dst ? { dst_ip: dst } : {}),
        });
        rows.push([
          src ?? null,
          dst ?? null,
          r.sequences,
          r.connections,
          r.fwd_bytes,
          r.bwd_bytes,
          r.suspicious,
          r.tactics.map((t) => `${t.name} (${t.count})`).join('; '),
        ]);
      }
      return {
        columns: [
          'src_ip',
          'dst_ip',
          'sequences',
          'connections',
          'fwd_bytes',
          'bwd_bytes',
          'suspicious',
          'tactics',
        ],
        rows,
      };
    }
    throw badRequest('query', `the API query ${query.path} is not answerable here`);
  }

  async #askLlm(question: string): Promise<AskQuery | null> {
    const llm = this.llm;
    if (!llm) return null;
    const system = `Translate the analyst's question into ONE Tidewatch API query. Reply with JSON only: {"path": one of "/v1/findings", "/v1/findings/<uuid>/similar", "/v1/techniques", "/v1/forensics", "params": {...}}. Findings params: from, to (epoch ms), verdict (malicious|benign), severity (comma list of info,low,medium,high,critical), tactic (TA id), technique (T id), src_ip, dst_ip, min_score, sort (-score|-window_start_ms), limit. Similar params: k. Forensics params: src_ip, dst_ip, from, to. Now is ${Date.now()}. If the question cannot be answered, reply {"path": null}.`;
    const res = await fetch(`${llm.url.replace(/\/$/, '')}/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(llm.apiKey ? { authorization: `Bearer ${llm.apiKey}` } : {}),
      },
      body: JSON.stringify({
        model: llm.model,
        temperature: 0,
        response_format: { type: 'json_object' },
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: question },
        ],
      }),
      signal: AbortSignal.timeout(20_000),
    });
    if (!res.ok) return null;
    const body = (await res.json()) as { choices?: { message?: { content?: string } }[] };
    try {
      const parsed = JSON.parse(body.choices?.[0]?.message?.content ?? '{}') as {
        path?: string | null;
        params?: Record<string, string | number>;
      };
      if (
        !parsed.path ||
        !/^\/v1\/(?:findings(?:\/[0-9a-f-]{36}\/similar)?|techniques|forensics)$/.test(parsed.path)
      )
        return null;
      const params: Record<string, string | number> = {};
      for (const [k, v] of Object.entries(parsed.params ?? {}))
        if (typeof v === 'string' || typeof v === 'number') params[k] = v;
      return { method: 'GET', path: parsed.path, params };
    } catch {
      return null;
    }
  }
}
