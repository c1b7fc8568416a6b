import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { JsonView } from '../components/JsonView.tsx';
import { Card, ErrorBox } from '../components/Status.tsx';
import { time } from '../format.ts';
import { hasRoute } from '../capabilities.ts';
import { normalisePage } from '../shapes.ts';
import { modelsInUse } from './Sources.tsx';
import { type Loaded, useApi } from '../useApi.ts';

// Route paths of the settings resources in one place (query-api's /openapi.json is the reference).
export const SETTINGS_ROUTES = {
  keys: '/v1/keys',
  webhooks: '/v1/webhooks',
  suppressions: '/v1/suppressions',
  models: '/v1/models',
  devices: '/v1/device-types',
} as const;

function useList<T>(path: string): Loaded<T[]> {
  return useApi(() => api.get<unknown>(path).then((v) => normalisePage<T>(v).items), [path]);
}

function useAction(after: () => void) {
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const run = async (fn: () => Promise<unknown>, done?: (v: unknown) => string) => {
    setError(undefined);
    setNote(undefined);
    try {
      const v = await fn();
      if (done) setNote(done(v));
      after();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return { error, note, run };
}

export function SettingsPage() {
  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>Settings</h1>
      </header>
      <div class="grid">
        <ApiKeys />
        <Models />
        <Tuning />
        <Webhooks />
        <DeviceTypes />
        <Suppressions />
      </div>
    </section>
  );
}

interface KeyRow {
  id: string;
  name: string;
  scopes: string[];
  created_at_ms: number;
  revoked_at_ms: number | null;
}

function ApiKeys() {
  const keys = useList<KeyRow>(SETTINGS_ROUTES.keys);
  const act = useAction(keys.reload);
  const [name, setName] = useState('');
  const [scope, setScope] = useState('read');
  return (
    <Card title="API keys">
      <ErrorBox error={keys.error ?? act.error} />
      <table class="compact" aria-label="API keys" data-testid="keys-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Scopes</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(keys.data ?? []).map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td>
              <td>{k.scopes.join(', ')}</td>
              <td>{time(k.created_at_ms)}</td>
              <td>
                {k.revoked_at_ms ? (
                  <span class="muted">revoked</span>
                ) : (
                  <button
                    type="button"
                    class="link"
                    onClick={() => act.run(() => api.del(`${SETTINGS_ROUTES.keys}/${k.id}`))}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (!name.trim()) return;
          const scopes =
            scope === 'admin' ? ['read', 'write', 'admin'] : scope === 'write' ? ['read', 'write'] : ['read'];
          void act.run(
            () => api.post(SETTINGS_ROUTES.keys, { name: name.trim(), scopes }),
            (v) =>
              `New key (shown once): ${(v as { key?: string; secret?: string }).key ?? (v as { secret?: string }).secret ?? '?'}`,
          );
          setName('');
        }}
      >
        <label>
          <span class="sr-only">Key name</span>
          <input
            placeholder="Key name"
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          <span class="sr-only">Scope</span>
          <select value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value)}>
            <option value="read">read</option>
            <option value="write">read + write</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <button type="submit">Create key</button>
      </form>
      {act.note && (
        <p class="ok mono" role="status">
          {act.note}
        </p>
      )}
    </Card>
  );
}

interface ModelRow {
  version: string;
  active?: boolean;
  default?: boolean;
  created_at?: string;
  metrics?: Record<string, unknown>;
}

function Models() {
  const models = useApi(async () => {
    if (!(await hasRoute('get', SETTINGS_ROUTES.models))) return null;
    const v = await api.get<unknown>(SETTINGS_ROUTES.models);
    return normalisePage<ModelRow>((v as { versions?: unknown })?.versions ?? v).items;
  }, []);
  const inUse = useApi(modelsInUse, []);
  const act = useAction(models.reload);
  return (
    <Card title="Model versions">
      <ErrorBox error={models.error ?? inUse.error ?? act.error} />
      {models.data ? (
        <table class="compact" aria-label="Model versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Created</th>
              <th scope="col">State</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {models.data.map((m) => (
              <tr key={m.version}>
                <td class="mono">{m.version}</td>
                <td>{m.created_at ?? '–'}</td>
                <td>{isActive(m, models.data ?? []) ? <span class="badge ok">active</span> : ''}</td>
                <td>
                  {!isActive(m, models.data ?? []) && (
                    <button
                      type="button"
                      class="link"
                      onClick={() =>
                        act.run(
                          () =>
                            api.post(`${SETTINGS_ROUTES.models}/${encodeURIComponent(m.version)}/activate`),
                          () => `Rolled to ${m.version}.`,
                        )
                      }
                    >
                      Roll back to this
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <>
          <table class="compact" aria-label="Model versions scoring findings" data-testid="settings-models">
            <thead>
              <tr>
                <th scope="col">Version scoring findings</th>
                <th scope="col">Last scored</th>
              </tr>
            </thead>
            <tbody>
              {(inUse.data ?? []).map((m) => (
                <tr key={m.version}>
                  <td class="mono">{m.version}</td>
                  <td>{time(m.last_scored_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="muted small">
            Roll back with <code>tidewatch</code> on the inference host (model/versions/DEFAULT); this API has
            no model route to switch versions from here.
          </p>
        </>
      )}
      {act.note && <p class="ok">{act.note}</p>}
    </Card>
  );
}

interface Tuning {
  suppression_threshold: number;
  retention_days: number | null;
}

function Tuning() {
  const settings = useApi(() => api.get<Tuning>('/v1/settings'), []);
  const act = useAction(settings.reload);
  const [threshold, setThreshold] = useState<string>('');
  return (
    <Card title="Suppression and retention">
      <ErrorBox error={settings.error ?? act.error} />
      {settings.data && (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            const v = Number(threshold);
            if (!threshold || !(v > 0 && v <= 1)) return;
            void act.run(
              () => api.put('/v1/settings', { suppression_threshold: v }),
              () => 'Saved.',
            );
          }}
        >
          <label>
            Commonplace similarity threshold{' '}
            <input
              type="number"
              min="0.5"
              max="1"
              step="0.01"
              data-testid="suppression-threshold"
              placeholder={String(settings.data.suppression_threshold)}
              value={threshold}
              onInput={(e) => setThreshold((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit">Save</button>
          <span class="muted small">
            Retention: {settings.data.retention_days ? `${settings.data.retention_days} days` : 'unlimited'}
          </span>
        </form>
      )}
      {act.note && <p class="ok">{act.note}</p>}
    </Card>
  );
}

interface Hook {
  id: string;
  url: string;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  min_severity: string | null;
}

function Webhooks() {
  const hooks = useList<Hook>(SETTINGS_ROUTES.webhooks);
  const sinks = useApi(
    async () =>
      (await hasRoute('get', '/v1/status'))
        ? ((await api.get<Record<string, unknown>>('/v1/status'))['sinks'] ?? null)
        : null,
    [],
  );
  const act = useAction(hooks.reload);
  const [url, setUrl] = useState('');
  return (
    <Card title="Webhooks and sinks">
      <ErrorBox error={hooks.error ?? act.error} />
      <table class="compact" aria-label="Webhooks">
        <thead>
          <tr>
            <th scope="col">URL</th>
            <th scope="col">Events</th>
            <th scope="col">State</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(hooks.data ?? []).map((h) => (
            <tr key={h.id}>
              <td class="mono">{h.url}</td>
              <td>{h.event_types.join(', ')}</td>
              <td>
                {h.enabled ? 'enabled' : `disabled${h.disabled_reason ? `: ${h.disabled_reason}` : ''}`}
              </td>
              <td>
                <button
                  type="button"
                  class="link"
                  onClick={() => act.run(() => api.del(`${SETTINGS_ROUTES.webhooks}/${h.id}`))}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (!url.trim()) return;
          void act.run(
            () => api.post(SETTINGS_ROUTES.webhooks, { url: url.trim(), event_types: ['finding.created'] }),
            (v) => `Subscribed; signing secret (shown once): ${(v as { secret?: string }).secret ?? '?'}`,
          );
          setUrl('');
        }}
      >
        <label>
          <span class="sr-only">Webhook URL</span>
          <input
            type="url"
            placeholder="https://soar.example/hooks/tidewatch"
            value={url}
            onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit">Subscribe</button>
      </form>
      {act.note && <p class="ok mono">{act.note}</p>}
      <h3>Native sinks</h3>
      {sinks.data ? (
        <JsonView value={sinks.data} name="sinks" />
      ) : (
        <p class="muted">No sink is configured (Splunk HEC, Elastic, Sentinel are set by environment).</p>
      )}
    </Card>
  );
}

interface DeviceRow {
  address: string;
  type: string;
  label: string;
}

const DEVICE_TYPES = [
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
];

function DeviceTypes() {
  const devices = useList<DeviceRow>(SETTINGS_ROUTES.devices);
  const act = useAction(devices.reload);
  const [address, setAddress] = useState('');
  const [type, setType] = useState('server');
  const [label, setLabel] = useState('');
  return (
    <Card title="Device-type map">
      <ErrorBox error={devices.error ?? act.error} />
      <table class="compact" aria-label="Device types">
        <thead>
          <tr>
            <th scope="col">Address / CIDR</th>
            <th scope="col">Type</th>
            <th scope="col">Label</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(devices.data ?? []).map((d) => (
            <tr key={d.address}>
              <td class="mono">{d.address}</td>
              <td>{d.type}</td>
              <td>{d.label}</td>
              <td>
                <button
                  type="button"
                  class="link"
                  onClick={() =>
                    act.run(() => api.del(`${SETTINGS_ROUTES.devices}/${encodeURIComponent(d.address)}`))
                  }
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (!address.trim()) return;
          void act.run(() => api.put(SETTINGS_ROUTES.devices, { address: address.trim(), type, label }));
          setAddress('');
          setLabel('');
        }}
      >
        <label>
          <span class="sr-only">Address or CIDR</span>
          <input
            placeholder="10.0.0.53 or 10.0.1.0/24"
            value={address}
            onInput={(e) => setAddress((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          <span class="sr-only">Type</span>
          <select value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
            {DEVICE_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span class="sr-only">Label</span>
          <input
            placeholder="Label"
            value={label}
            onInput={(e) => setLabel((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit">Add</button>
      </form>
    </Card>
  );
}

interface RuleRow {
  id: string;
  finding_id: string;
  reason: string;
  threshold: number;
  created_by: string;
  created_at_ms: number;
  retroactive_count: number;
  enabled: boolean;
}

function Suppressions() {
  const rules = useList<RuleRow>(SETTINGS_ROUTES.suppressions);
  const act = useAction(rules.reload);
  return (
    <Card title="Suppression rules (commonplace)">
      <ErrorBox error={rules.error ?? act.error} />
      <table class="compact" aria-label="Suppression rules" data-testid="suppressions-table">
        <thead>
          <tr>
            <th scope="col">From finding</th>
            <th scope="col">Reason</th>
            <th scope="col">Similarity ≥</th>
            <th scope="col">Suppressed</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(rules.data ?? []).map((r) => (
            <tr key={r.id}>
              <td class="mono">
                <a href={`/findings/${r.finding_id}`}>{r.finding_id.slice(0, 8)}</a>
              </td>
              <td>{r.reason}</td>
              <td class="num">{r.threshold}</td>
              <td class="num">{r.retroactive_count}</td>
              <td>
                {time(r.created_at_ms)} {r.created_by}
              </td>
              <td>
                {r.enabled ? (
                  <button
                    type="button"
                    class="link"
                    onClick={() => act.run(() => api.del(`${SETTINGS_ROUTES.suppressions}/${r.id}`))}
                  >
                    Delete
                  </button>
                ) : (
                  <span class="muted">disabled</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

/** The version scoring now: the one the API marks active, or the default when none is marked. */
function isActive(m: { active?: boolean; default?: boolean }, all: { active?: boolean }[]): boolean {
  return all.some((x) => x.active) ? Boolean(m.active) : Boolean(m.default);
}
