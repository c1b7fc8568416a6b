import { FINDING_STATUSES, SEVERITIES, VERDICTS } from '@tidewatch/contracts';

export const UUID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
const TIME = {
  type: 'string',
  maxLength: 40,
  description: 'epoch ms, ISO-8601 or now-<n><s|m|h|d>',
} as const;
const list = (values: readonly string[]) => ({
  type: 'string',
  maxLength: 200,
  pattern: `^(${values.join('|')})(,(${values.join('|')}))*$`,
  description: `comma-separated: ${values.join(', ')}`,
});

export const filterProperties = {
  from: TIME,
  to: TIME,
  verdict: { type: 'string', enum: [...VERDICTS] },
  severity: list(SEVERITIES),
  tactic: { type: 'string', pattern: '^TA\\d{4}$' },
  technique: { type: 'string', pattern: '^T\\d{4}(\\.\\d{3})?$' },
  src_ip: { type: 'string', maxLength: 64, description: 'address or CIDR' },
  dst_ip: { type: 'string', maxLength: 64, description: 'address or CIDR' },
  status: list(FINDING_STATUSES),
  model_version: { type: 'string', maxLength: 100 },
  min_score: { type: 'number', minimum: 0, maximum: 1 },
} as const;

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: UUID } },
} as const;

export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
} as const;

const candidate = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, probability: { type: 'number' } },
} as const;

const subScore = (description: string) => ({ type: ['number', 'null'], description }) as const;

/** The finding as the API returns it (the findings.v1 payload plus id and device types). */
export const findingSchema = {
  $id: 'Finding',
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    sequence_id: { type: 'string' },
    window_start_ms: { type: 'integer' },
    window_end_ms: { type: 'integer' },
    first_seen_ms: { type: 'integer' },
    last_seen_ms: { type: 'integer' },
    src_ip: { type: 'string' },
    dst_ip: { type: 'string' },
    src_device_type: { type: ['string', 'null'] },
    dst_device_type: { type: ['string', 'null'] },
    dst_ports: { type: 'array', items: { type: 'integer' } },
    protocols: { type: 'array', items: { type: 'integer' } },
    connections: { type: 'integer' },
    fwd_bytes: { type: 'number' },
    bwd_bytes: { type: 'number' },
    fwd_pkts: { type: 'number' },
    bwd_pkts: { type: 'number' },
    score: { type: 'number' },
    anomaly: { type: 'number' },
    verdict: { type: 'string', enum: [...VERDICTS] },
    tactics: { type: 'array', items: candidate },
    techniques: { type: 'array', items: candidate },
    severity: { type: 'string', enum: [...SEVERITIES] },
    model_version: { type: 'string' },
    status: { type: 'string', enum: [...FINDING_STATUSES] },
    explanation: {
      type: 'object',
      additionalProperties: true,
      properties: {
        subscores: {
          type: 'object',
          additionalProperties: true,
          description:
            'Baseline sub-scores in [0, 1]; one at or above TIDEWATCH_INFERENCE_FLAG_THRESHOLD makes the finding an alert (null where a stored value was not finite).',
          properties: {
            beacon: subScore('regular timing and sizes (C2 beaconing)'),
            scan: subScore(
              'unanswered probes or pings to many hosts or ports, or from many hosts to this responder',
            ),
            brute_force: subScore('repeated attempts to one login service'),
            exfiltration: subScore('large one-way upload'),
            reflection: {
              ...subScore(
                'subscores.v3: unanswered UDP replies from an amplification port toward a responder many initiators send to (ATT&CK T1498.002); 0 for findings scored before it',
              ),
              default: 0,
            },
          },
        },
      },
    },
    suppressed_by: { type: ['string', 'null'] },
    label: { type: ['integer', 'null'] },
    scored_at_ms: { type: 'integer' },
  },
} as const;

export const errorResponses = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
} as const;

const counted = (key: string, type: 'string' | 'integer' = 'string') =>
  ({
    type: 'array',
    items: { type: 'object', properties: { [key]: { type }, count: { type: 'integer' } } },
  }) as const;

export const overviewSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    from_ms: { type: 'integer' },
    to_ms: { type: 'integer' },
    bucket_ms: { type: 'integer' },
    unique_ip_pairs: { type: 'integer' },
    total_sequences: { type: 'integer' },
    total_flows: { type: 'integer' },
    fwd_bytes: { type: 'number' },
    bwd_bytes: { type: 'number' },
    suspicious: { type: 'integer' },
    unclassified: { type: 'integer', description: 'malicious findings with no tactic at probability >= 0.5' },
    tactics: counted('id'),
    techniques: counted('id'),
    severities: counted('severity'),
    top_src_ips: counted('ip'),
    top_dst_ports: counted('port', 'integer'),
    over_time: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          start_ms: { type: 'integer' },
          sequences: { type: 'integer' },
          suspicious: { type: 'integer' },
        },
      },
    },
  },
} as const;

const rollup = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: true,
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      count: { type: 'integer' },
      first_seen_ms: { type: 'integer' },
      last_seen_ms: { type: 'integer' },
    },
  },
} as const;

export const forensicsSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    src_ip: { type: ['string', 'null'] },
    dst_ip: { type: ['string', 'null'] },
    sequences: { type: 'integer' },
    connections: { type: 'integer' },
    fwd_bytes: { type: 'number' },
    bwd_bytes: { type: 'number' },
    suspicious: { type: 'integer' },
    first_seen_ms: { type: ['integer', 'null'] },
    last_seen_ms: { type: ['integer', 'null'] },
    tactics: rollup,
    techniques: rollup,
    top_dst_ports: counted('port', 'integer'),
    truncated: { type: 'boolean' },
  },
} as const;

export const rollupSchema = {
  type: 'object',
  additionalProperties: true,
  properties: { techniques: rollup, tactics: rollup, truncated: { type: 'boolean' } },
} as const;

export const caseSchema = {
  $id: 'Case',
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    title: { type: 'string' },
    description: { type: 'string' },
    status: { type: 'string' },
    priority: { type: 'string' },
    notes: {
      type: 'array',
      items: {
        type: 'object',
        properties: { at_ms: { type: 'integer' }, author: { type: 'string' }, text: { type: 'string' } },
      },
    },
    finding_ids: { type: 'array', items: { type: 'string' } },
    created_by: { type: 'string' },
    created_at_ms: { type: 'integer' },
    updated_at_ms: { type: 'integer' },
  },
} as const;

export const askSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    question: { type: 'string' },
    answered_by: { type: 'string', enum: ['parser', 'llm'] },
    query: {
      type: 'object',
      additionalProperties: true,
      properties: {
        method: { type: 'string' },
        path: { type: 'string' },
        params: { type: 'object', additionalProperties: true },
      },
    },
    columns: { type: 'array', items: { type: 'string' } },
    rows: { type: 'array', items: { type: 'array', items: {} } },
  },
} as const;
