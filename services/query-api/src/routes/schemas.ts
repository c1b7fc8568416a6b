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
    explanation: { type: 'object', additionalProperties: true },
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
