import type { Finding, Severity } from '@tidewatch/contracts';
import { TACTIC_CONFIDENCE } from '../overview-aggregates.ts';
import type { Evidence } from '../stores/domain.ts';

export const PRODUCT = { name: 'Tidewatch', vendor_name: 'Tidewatch', version: '0.1.0' };
const SEVERITY_ID: Record<Severity, number> = { info: 1, low: 2, medium: 3, high: 4, critical: 5 };
const ATTACK_URL = 'https://attack.mitre.org';

/** ATT&CK tactic shortname ("Command and Control" → "command-and-control"), as Navigator expects. */
export function tacticShortname(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

const techniqueUrl = (id: string) => `${ATTACK_URL}/techniques/${id.replace('.', '/')}/`;

function title(f: Finding): string {
  const t = f.tactics[0];
  return f.verdict === 'malicious'
    ? `${t && t.probability >= TACTIC_CONFIDENCE ? t.name : 'Suspicious'} traffic ${f.src_ip} → ${f.dst_ip}`
    : `Traffic ${f.src_ip} → ${f.dst_ip}`;
}

/** OCSF 1.8 Detection Finding (class 2004, activity Create). */
export function toOcsf(f: Finding, evidence: Evidence | null): Record<string, unknown> {
  const tactic = f.tactics[0];
  const attacks = f.techniques.length
    ? f.techniques.slice(0, 3).map((t) => ({
        version: '18.1',
        technique: { uid: t.id, name: t.name, src_url: techniqueUrl(t.id) },
        ...(tactic
          ? { tactic: { uid: tactic.id, name: tactic.name, src_url: `${ATTACK_URL}/tactics/${tactic.id}/` } }
          : {}),
      }))
    : tactic
      ? [
          {
            version: '18.1',
            tactic: { uid: tactic.id, name: tactic.name, src_url: `${ATTACK_URL}/tactics/${tactic.id}/` },
          },
        ]
      : [];
  const flows = evidence?.flows ?? [];
  const evidences = (flows.length ? flows.slice(0, 50) : [null]).map((fl) => ({
    src_endpoint: { ip: f.src_ip, ...(fl ? { port: fl.src_port } : {}) },
    dst_endpoint: { ip: f.dst_ip, port: fl ? fl.dst_port : f.dst_ports[0] },
    connection_info: { protocol_num: fl ? fl.protocol : (f.protocols[0] ?? 0), direction_id: 0 },
    ...(fl
      ? {
          data: {
            start_ms: fl.start_ms,
            end_ms: fl.end_ms,
            fwd_bytes: fl.fwd_bytes,
            bwd_bytes: fl.bwd_bytes,
            fwd_pkts: fl.fwd_pkts,
            bwd_pkts: fl.bwd_pkts,
          },
        }
      : {}),
  }));
  const status_id = { new: 1, in_progress: 2, suppressed: 3, resolved: 4 }[f.status];
  return {
    activity_id: 1,
    activity_name: 'Create',
    category_uid: 2,
    category_name: 'Findings',
    class_uid: 2004,
    class_name: 'Detection Finding',
    type_uid: 200401,
    type_name: 'Detection Finding: Create',
    time: f.scored_at_ms,
    severity_id: SEVERITY_ID[f.severity],
    severity: f.severity[0]?.toUpperCase() + f.severity.slice(1),
    status_id,
    status: { new: 'New', in_progress: 'In Progress', suppressed: 'Suppressed', resolved: 'Resolved' }[
      f.status
    ],
    confidence_score: Math.round(f.score * 100),
    risk_score: Math.round(f.score * 100),
    is_alert: f.verdict === 'malicious',
    metadata: {
      version: '1.8.0',
      product: PRODUCT,
      uid: f.sequence_id,
      labels: [`model:${f.model_version}`],
    },
    finding_info: {
      uid: f.sequence_id,
      title: title(f),
      desc: `${f.connections} connections, ${f.fwd_bytes} bytes sent, ${f.bwd_bytes} bytes received; score ${f.score.toFixed(3)}, anomaly ${f.anomaly.toFixed(3)}`,
      types: ['Network Traffic'],
      created_time: f.scored_at_ms,
      first_seen_time: f.first_seen_ms,
      last_seen_time: f.last_seen_ms,
      analytic: {
        name: 'tidewatch-flow-model',
        type_id: 4,
        type: 'Learning (ML/DL)',
        version: f.model_version,
      },
      attacks,
    },
    evidences,
    unmapped: { anomaly: f.anomaly, verdict: f.verdict, suppressed_by: f.suppressed_by },
  };
}

/** Elastic Common Schema alert document. */
export function toEcs(f: Finding): Record<string, unknown> {
  const tactic = f.tactics[0];
  return {
    '@timestamp': new Date(f.first_seen_ms).toISOString(),
    event: {
      kind: 'alert',
      category: ['network', 'intrusion_detection'],
      type: ['info', 'connection'],
      id: f.sequence_id,
      dataset: 'tidewatch.finding',
      module: 'tidewatch',
      severity: SEVERITY_ID[f.severity],
      risk_score: Math.round(f.score * 100),
      start: new Date(f.first_seen_ms).toISOString(),
      end: new Date(f.last_seen_ms).toISOString(),
      created: new Date(f.scored_at_ms).toISOString(),
    },
    source: { ip: f.src_ip, bytes: f.fwd_bytes, packets: f.fwd_pkts },
    destination: { ip: f.dst_ip, port: f.dst_ports[0], bytes: f.bwd_bytes, packets: f.bwd_pkts },
    network: {
      bytes: f.fwd_bytes + f.bwd_bytes,
      packets: f.fwd_pkts + f.bwd_pkts,
      iana_number: String(f.protocols[0] ?? ''),
    },
    threat: {
      framework: 'MITRE ATT&CK',
      ...(tactic
        ? {
            tactic: {
              id: [tactic.id],
              name: [tactic.name],
              reference: [`${ATTACK_URL}/tactics/${tactic.id}/`],
            },
          }
        : {}),
      ...(f.techniques.length
        ? {
            technique: {
              id: f.techniques.map((t) => t.id),
              name: f.techniques.map((t) => t.name),
              reference: f.techniques.map((t) => techniqueUrl(t.id)),
            },
          }
        : {}),
    },
    rule: { name: title(f), version: f.model_version },
    labels: { verdict: f.verdict, status: f.status },
    tidewatch: { score: f.score, anomaly: f.anomaly, connections: f.connections, sequence_id: f.sequence_id },
  };
}

/** Timesketch JSON-lines event. */
export function toTimesketch(f: Finding): Record<string, unknown> {
  return {
    message: `${title(f)} (${f.verdict}, score ${f.score.toFixed(3)}, ${f.connections} connections)`,
    datetime: new Date(f.first_seen_ms).toISOString(),
    timestamp: f.first_seen_ms * 1000,
    timestamp_desc: 'First Seen',
    sequence_id: f.sequence_id,
    src_ip: f.src_ip,
    dst_ip: f.dst_ip,
    dst_port: f.dst_ports[0] ?? null,
    verdict: f.verdict,
    severity: f.severity,
    score: f.score,
    tactic: f.tactics[0]?.id ?? null,
    technique: f.techniques[0]?.id ?? null,
    model_version: f.model_version,
  };
}

/** ATT&CK Navigator layer (format 4.5): one entry per technique with its count as the score. */
export function toNavigatorLayer(
  findings: Finding[],
  name: string,
  description: string,
): Record<string, unknown> {
  const byTechnique = new Map<
    string,
    { id: string; tactic: string | null; count: number; maxScore: number }
  >();
  for (const f of findings) {
    if (f.verdict !== 'malicious') continue;
    const t = f.techniques[0];
    if (!t) continue;
    const tactic = f.tactics[0];
    const key = `${t.id}|${tactic?.id ?? ''}`;
    const e = byTechnique.get(key) ?? {
      id: t.id,
      tactic: tactic ? tacticShortname(tactic.name) : null,
      count: 0,
      maxScore: 0,
    };
    e.count++;
    e.maxScore = Math.max(e.maxScore, f.score);
    byTechnique.set(key, e);
  }
  const max = Math.max(1, ...[...byTechnique.values()].map((e) => e.count));
  return {
    name,
    versions: { attack: '18', navigator: '5.1.0', layer: '4.5' },
    domain: 'enterprise-attack',
    description,
    sorting: 3,
    hideDisabled: false,
    techniques: [...byTechnique.values()].map((e) => ({
      techniqueID: e.id,
      ...(e.tactic ? { tactic: e.tactic } : {}),
      score: e.count,
      comment: `${e.count} finding(s), max score ${e.maxScore.toFixed(3)}`,
      enabled: true,
      showSubtechniques: false,
    })),
    gradient: { colors: ['#ffe766ff', '#ff6666ff'], minValue: 0, maxValue: max },
    legendItems: [],
    metadata: [{ name: 'generated_by', value: 'tidewatch' }],
    showTacticRowBackground: false,
    selectTechniquesAcrossTactics: true,
    selectSubtechniquesWithParent: false,
  };
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) || /^[=+\-@]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(cells: unknown[]): string {
  return `${cells.map(csvCell).join(',')}\n`;
}

export const FINDING_CSV_COLUMNS = [
  'sequence_id',
  'window_start',
  'window_end',
  'src_ip',
  'dst_ip',
  'dst_ports',
  'connections',
  'fwd_bytes',
  'bwd_bytes',
  'score',
  'anomaly',
  'verdict',
  'severity',
  'tactic',
  'technique',
  'status',
  'model_version',
];

export function findingCsvRow(f: Finding): unknown[] {
  return [
    f.sequence_id,
    new Date(f.window_start_ms).toISOString(),
    new Date(f.window_end_ms).toISOString(),
    f.src_ip,
    f.dst_ip,
    f.dst_ports.join(' '),
    f.connections,
    f.fwd_bytes,
    f.bwd_bytes,
    f.score,
    f.anomaly,
    f.verdict,
    f.severity,
    f.tactics[0]?.id ?? '',
    f.techniques[0]?.id ?? '',
    f.status,
    f.model_version,
  ];
}

export const TEMPO_CSV_COLUMNS = [
  'start_time',
  'end_time',
  'src_ip',
  'dest_ip',
  'src_port',
  'dest_port',
  'connections',
  'src_device_type',
  'dest_device_type',
  'classification',
];

/** Tempo "results" row: the classification is the tactic name, or Benign / Suspicious. */
export function tempoRow(
  f: Finding,
  evidence: Evidence | null,
  srcType: string | null,
  dstType: string | null,
): unknown[] {
  const srcPorts = new Map<number, number>();
  for (const fl of evidence?.flows ?? []) srcPorts.set(fl.src_port, (srcPorts.get(fl.src_port) ?? 0) + 1);
  const srcPort = [...srcPorts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
  const t = f.tactics[0];
  const classification =
    f.verdict === 'benign'
      ? 'Benign'
      : t && t.probability >= TACTIC_CONFIDENCE
        ? t.name
        : 'Suspicious (unclassified)';
  return [
    new Date(f.first_seen_ms).toISOString(),
    new Date(f.last_seen_ms).toISOString(),
    f.src_ip,
    f.dst_ip,
    srcPort,
    f.dst_ports[0] ?? '',
    f.connections,
    srcType ?? 'unknown',
    dstType ?? 'unknown',
    classification,
  ];
}
