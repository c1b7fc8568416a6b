import type { SequenceFlow } from '@tidewatch/contracts';
import type { SuppressionRule, SuppressionStore } from '@tidewatch/suppression';
import type { DocumentStore } from './document-store.ts';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKeyRecord {
  id: string;
  name: string;
  scopes: Scope[];
  salt: string;
  /** hex sha256(salt || secret); the secret itself is never stored. */
  hash: string;
  created_at_ms: number;
  revoked_at_ms: number | null;
}

export const CASE_STATUSES = ['open', 'in_progress', 'closed'] as const;
export const CASE_PRIORITIES = ['low', 'medium', 'high', 'critical'] as const;

export interface CaseNote {
  at_ms: number;
  author: string;
  text: string;
}

export interface Case {
  id: string;
  title: string;
  description: string;
  status: (typeof CASE_STATUSES)[number];
  priority: (typeof CASE_PRIORITIES)[number];
  notes: CaseNote[];
  finding_ids: string[];
  created_by: string;
  created_at_ms: number;
  updated_at_ms: number;
}

export const FEEDBACK_LABELS = ['tp', 'fp', 'commonplace'] as const;
export interface Feedback {
  sequence_id: string;
  label: (typeof FEEDBACK_LABELS)[number];
  comment: string;
  author: string;
  at_ms: number;
}

export const DEVICE_TYPES = [
  'workstation',
  'server',
  'webserver',
  'dns',
  'firewall',
  'router',
  'mailserver',
  'database',
  'printer',
  'iot',
  'domain_controller',
  'unknown',
] as const;
export interface DeviceTypeEntry {
  /** An address or CIDR. */
  address: string;
  type: (typeof DEVICE_TYPES)[number];
  label: string;
  updated_at_ms: number;
}

export const WEBHOOK_EVENTS = [
  'finding.created',
  'suppression.created',
  'case.created',
  'case.updated',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookSubscription {
  id: string;
  url: string;
  event_types: WebhookEvent[];
  /** `whsec_` + base64 key (Standard Webhooks). */
  secret: string;
  /** Only findings at or above this severity are sent (finding.* events). */
  min_severity: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  created_at_ms: number;
}

export interface DeliveryAttempt {
  at_ms: number;
  status: number | null;
  error: string | null;
  duration_ms: number;
}

export interface Delivery {
  id: string;
  subscription_id: string;
  /** The webhook-id header: the same across retries so receivers can deduplicate. */
  message_id: string;
  event_type: WebhookEvent;
  body: string;
  state: 'pending' | 'delivered' | 'dead' | 'disabled';
  attempts: DeliveryAttempt[];
  next_attempt_ms: number;
  created_at_ms: number;
}

/** The rule document shared with inference (@tidewatch/suppression reads the same collection). */
export type { SuppressionRule } from '@tidewatch/suppression';

export interface Evidence {
  sequence_id: string;
  src_ip: string;
  dst_ip: string;
  window_start_ms: number;
  window_end_ms: number;
  flows: SequenceFlow[];
}

const C = {
  keys: 'api_keys',
  cases: 'cases',
  feedback: 'feedback',
  devices: 'device_types',
  hooks: 'webhooks',
  deliveries: 'webhook_deliveries',
  suppressions: 'suppressions',
  settings: 'settings',
  evidence: 'evidence',
} as const;

export class ApiKeyStore {
  constructor(private readonly docs: DocumentStore) {}
  get = (id: string) => this.docs.get<ApiKeyRecord>(C.keys, id);
  put = (k: ApiKeyRecord) => this.docs.put(C.keys, k.id, k);
  list = () => this.docs.list<ApiKeyRecord>(C.keys);
}

export class CaseStore {
  constructor(private readonly docs: DocumentStore) {}
  get = (id: string) => this.docs.get<Case>(C.cases, id);
  put = (c: Case) => this.docs.put(C.cases, c.id, c);
  async list(): Promise<Case[]> {
    return (await this.docs.list<Case>(C.cases)).sort((a, b) => b.created_at_ms - a.created_at_ms);
  }
}

export class FeedbackStore {
  constructor(private readonly docs: DocumentStore) {}
  get = (sequenceId: string) => this.docs.get<Feedback>(C.feedback, sequenceId);
  put = (f: Feedback) => this.docs.put(C.feedback, f.sequence_id, f);
  list = () => this.docs.list<Feedback>(C.feedback);
}

export class DeviceTypeStore {
  constructor(private readonly docs: DocumentStore) {}
  put = (d: DeviceTypeEntry) => this.docs.put(C.devices, d.address, d);
  delete = (address: string) => this.docs.delete(C.devices, address);
  list = () => this.docs.list<DeviceTypeEntry>(C.devices);
}

export class WebhookStore {
  constructor(private readonly docs: DocumentStore) {}
  get = (id: string) => this.docs.get<WebhookSubscription>(C.hooks, id);
  put = (w: WebhookSubscription) => this.docs.put(C.hooks, w.id, w);
  delete = (id: string) => this.docs.delete(C.hooks, id);
  list = () => this.docs.list<WebhookSubscription>(C.hooks);
  getDelivery = (id: string) => this.docs.get<Delivery>(C.deliveries, id);
  putDelivery = (d: Delivery) => this.docs.put(C.deliveries, d.id, d);
  /** Creates the delivery once: a replayed finding message never enqueues a second delivery. */
  createDelivery = (d: Delivery) => this.docs.putIfAbsent(C.deliveries, d.id, d);
  async deliveries(subscriptionId?: string): Promise<Delivery[]> {
    const all = await this.docs.list<Delivery>(C.deliveries);
    return (subscriptionId ? all.filter((d) => d.subscription_id === subscriptionId) : all).sort(
      (a, b) => b.created_at_ms - a.created_at_ms,
    );
  }
}

/** The SuppressionStore contract of @tidewatch/suppression over this service's document store. */
export class SuppressionRuleStore implements SuppressionStore {
  constructor(private readonly docs: DocumentStore) {}
  delete = (id: string) => this.docs.delete(C.suppressions, id);
  close = async () => {};
  get = (id: string) => this.docs.get<SuppressionRule>(C.suppressions, id);
  put = (r: SuppressionRule) => this.docs.put(C.suppressions, r.id, r);
  list = () => this.docs.list<SuppressionRule>(C.suppressions);
}

export class SettingsStore {
  constructor(private readonly docs: DocumentStore) {}
  get = <T>(key: string) => this.docs.get<T>(C.settings, key);
  put = <T>(key: string, value: T) => this.docs.put(C.settings, key, value);
}

export class EvidenceStore {
  constructor(private readonly docs: DocumentStore) {}
  get = (sequenceId: string) => this.docs.get<Evidence>(C.evidence, sequenceId);
  getMany = (ids: string[]) => this.docs.getMany<Evidence>(C.evidence, ids);
  put = (e: Evidence) => this.docs.put(C.evidence, e.sequence_id, e);
}

export class QueryStores {
  readonly keys: ApiKeyStore;
  readonly cases: CaseStore;
  readonly feedback: FeedbackStore;
  readonly devices: DeviceTypeStore;
  readonly webhooks: WebhookStore;
  readonly suppressions: SuppressionRuleStore;
  readonly settings: SettingsStore;
  readonly evidence: EvidenceStore;
  constructor(readonly docs: DocumentStore) {
    this.keys = new ApiKeyStore(docs);
    this.cases = new CaseStore(docs);
    this.feedback = new FeedbackStore(docs);
    this.devices = new DeviceTypeStore(docs);
    this.webhooks = new WebhookStore(docs);
    this.suppressions = new SuppressionRuleStore(docs);
    this.settings = new SettingsStore(docs);
    this.evidence = new EvidenceStore(docs);
  }
}
