import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import type { Principal } from '../api-keys.ts';
import { hasScope } from '../api-keys.ts';
import type { CaseService } from '../cases.ts';
import { ApiError } from '../errors.ts';
import { navigatorLayer } from '../exports/navigator.ts';
import type { FindingQueries } from '../finding-queries.ts';
import { CASE_PRIORITIES, CASE_STATUSES } from '../stores/domain.ts';

export interface McpDeps {
  queries: FindingQueries;
  cases: CaseService;
}

const filterShape = {
  from: z.string().optional().describe('start: epoch ms, ISO-8601 or now-<n><s|m|h|d>'),
  to: z.string().optional().describe('end: epoch ms, ISO-8601 or now-<n><s|m|h|d>'),
  verdict: z.enum(['malicious', 'benign']).optional(),
  severity: z.string().optional().describe('comma list of info,low,medium,high,critical'),
  tactic: z.string().optional().describe('ATT&CK tactic id, e.g. TA0011'),
  technique: z.string().optional().describe('ATT&CK technique id, e.g. T1071'),
  src_ip: z.string().optional().describe('address or CIDR'),
  dst_ip: z.string().optional().describe('address or CIDR'),
  status: z.string().optional().describe('comma list of new,in_progress,suppressed,resolved'),
  min_score: z.number().min(0).max(1).optional(),
};

function json(value: unknown) {
  return { content: [{ type: 'text' as const, text: JSON.stringify(value, null, 2) }] };
}

async function guarded(fn: () => Promise<unknown>) {
  try {
    return json(await fn());
  } catch (e) {
    const message = e instanceof ApiError ? e.message : 'internal error';
    return { isError: true, content: [{ type: 'text' as const, text: message }] };
  }
}

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const WRITE = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

/** One MCP server bound to the caller's key: read tools need `read`, write tools `write`. */
export function createMcpServer(deps: McpDeps, principal: Principal): McpServer {
  const server = new McpServer({ name: 'tidewatch', version: '0.1.0' });
  const { queries, cases } = deps;
  const needWrite = (fn: () => Promise<unknown>) =>
    hasScope(principal, 'write')
      ? guarded(fn)
      : Promise.resolve({
          isError: true,
          content: [{ type: 'text' as const, text: 'this tool needs a key with the write scope' }],
        });

  server.registerTool(
    'list_findings',
    {
      description:
        'List findings (scored network conversations) with filters, newest first. Suppressed findings are hidden unless status asks for them.',
      inputSchema: {
        ...filterShape,
        sort: z.string().optional(),
        limit: z.number().int().min(1).max(200).optional(),
        cursor: z.string().optional(),
      },
      annotations: READ,
    },
    (a) => guarded(() => queries.list({ ...a, limit: a.limit ?? 20 })),
  );
  server.registerTool(
    'get_finding',
    { description: 'One finding by its sequence id.', inputSchema: { id: z.string() }, annotations: READ },
    (a) => guarded(() => queries.get(a.id)),
  );
  server.registerTool(
    'nearest_neighbors',
    {
      description:
        'The k findings whose behaviour embedding is nearest to the given finding, with cosine similarity.',
      inputSchema: { id: z.string(), k: z.number().int().min(1).max(200).optional(), ...filterShape },
      annotations: READ,
    },
    ({ id, k, ...f }) => guarded(() => queries.similar(id, k ?? 20, f)),
  );
  server.registerTool(
    'technique_rollup',
    {
      description: 'ATT&CK techniques and tactics seen in malicious findings of a time range, with counts.',
      inputSchema: filterShape,
      annotations: READ,
    },
    (a) => guarded(() => queries.techniqueRollup(a)),
  );
  server.registerTool(
    'get_evidence',
    {
      description: 'The flows (evidence) behind one finding.',
      inputSchema: { id: z.string() },
      annotations: READ,
    },
    (a) => guarded(() => queries.evidence(a.id)),
  );
  server.registerTool(
    'search_evidence',
    {
      description: 'Flows behind matching findings, optionally only those to a port or of a protocol.',
      inputSchema: {
        ...filterShape,
        port: z.number().int().min(0).max(65535).optional(),
        protocol: z.number().int().min(0).max(255).optional(),
        limit: z.number().int().min(1).max(500).optional(),
      },
      annotations: READ,
    },
    ({ port, protocol, limit, ...f }) =>
      guarded(async () => {
        const { items } = await queries.list({ ...f, limit: 200, sort: '-window_start_ms' });
        const evidence = await queries.stores.evidence.getMany(items.map((i) => i.sequence_id));
        const out: unknown[] = [];
        for (const ev of evidence) {
          if (!ev) continue;
          for (const flow of ev.flows) {
            if (port !== undefined && flow.dst_port !== port && flow.src_port !== port) continue;
            if (protocol !== undefined && flow.protocol !== protocol) continue;
            out.push({ sequence_id: ev.sequence_id, src_ip: ev.src_ip, dst_ip: ev.dst_ip, ...flow });
            if (out.length >= (limit ?? 100)) return { flows: out, truncated: true };
          }
        }
        return { flows: out, truncated: false };
      }),
  );
  server.registerTool(
    'list_cases',
    {
      description: 'Analyst cases, newest first.',
      inputSchema: { status: z.enum(CASE_STATUSES).optional(), priority: z.enum(CASE_PRIORITIES).optional() },
      annotations: READ,
    },
    (a) => guarded(() => cases.list(a)),
  );
  server.registerTool(
    'get_case',
    {
      description: 'One case with its notes and finding ids.',
      inputSchema: { id: z.string() },
      annotations: READ,
    },
    (a) => guarded(() => cases.get(a.id)),
  );
  server.registerTool(
    'create_case',
    {
      description: 'Open a case (needs a write-scoped key).',
      inputSchema: {
        title: z.string().min(1).max(200),
        description: z.string().max(10_000).optional(),
        priority: z.enum(CASE_PRIORITIES).optional(),
        finding_ids: z.array(z.string()).max(1000).optional(),
      },
      annotations: WRITE,
    },
    (a) => needWrite(() => cases.create(a, principal.keyId)),
  );
  server.registerTool(
    'update_case',
    {
      description:
        'Change a case status/priority, add a note, attach or detach findings (needs a write-scoped key).',
      inputSchema: {
        id: z.string(),
        title: z.string().min(1).max(200).optional(),
        status: z.enum(CASE_STATUSES).optional(),
        priority: z.enum(CASE_PRIORITIES).optional(),
        note: z.string().max(10_000).optional(),
        add_findings: z.array(z.string()).max(1000).optional(),
        remove_findings: z.array(z.string()).max(1000).optional(),
      },
      annotations: { ...WRITE, idempotentHint: true },
    },
    ({ id, ...u }) => needWrite(() => cases.update(id, u, principal.keyId)),
  );
  server.registerTool(
    'export_navigator_layer',
    {
      description: 'ATT&CK Navigator layer (format 4.5) for a case or a time range.',
      inputSchema: { case_id: z.string().optional(), from: z.string().optional(), to: z.string().optional() },
      annotations: READ,
    },
    (a) => guarded(() => navigatorLayer(queries, cases, a)),
  );
  return server;
}
