import { api, type Finding } from '../api.ts';
import { hasRoute } from '../capabilities.ts';
import { JsonView } from '../components/JsonView.tsx';
import { Card, ErrorBox, Loading } from '../components/Status.tsx';
import { bytes, count, time } from '../format.ts';
import { parsePrometheus } from '../metrics.ts';
import { normalisePage } from '../shapes.ts';
import { useApi } from '../useApi.ts';

/** Sections of the status document laid out first, in this order; the rest follow. */
const ORDER = ['services', 'model', 'kafka', 'exporters', 'collector', 'sinks', 'store'];

interface ProcessStatus {
  ready: number;
  uptimeS: number;
  residentBytes: number;
  requests: { route: string; count: number; p: number }[];
  authFailures: number;
}

async function processStatus(): Promise<ProcessStatus> {
  const [ready, metricsText] = await Promise.all([
    fetch('/readyz').then((r) => r.status),
    fetch('/metrics').then((r) => (r.ok ? r.text() : '')),
  ]);
  const samples = parsePrometheus(metricsText);
  const one = (name: string) => samples.find((s) => s.name === name)?.value ?? 0;
  const byRoute = new Map<string, { count: number; sum: number }>();
  for (const s of samples) {
    if (
      !s.name.endsWith('_request_duration_seconds_count') &&
      !s.name.endsWith('_request_duration_seconds_sum')
    )
      continue;
    const route = `${s.labels['method'] ?? ''} ${s.labels['route'] ?? ''}`;
    const e = byRoute.get(route) ?? { count: 0, sum: 0 };
    if (s.name.endsWith('_count')) e.count += s.value;
    else e.sum += s.value;
    byRoute.set(route, e);
  }
  return {
    ready,
    uptimeS: Date.now() / 1000 - one('tidewatch_query_api_process_start_time_seconds'),
    residentBytes: one('tidewatch_query_api_process_resident_memory_bytes'),
    requests: [...byRoute]
      .map(([route, e]) => ({ route, count: e.count, p: e.count ? (e.sum / e.count) * 1000 : 0 }))
      .sort((a, b) => b.count - a.count)
      .slice(0, 12),
    authFailures: samples
      .filter((s) => s.name === 'tidewatch_query_api_auth_failures_total')
      .reduce((a, s) => a + s.value, 0),
  };
}

/** The model versions that scored the most recent findings, newest first. */
export async function modelsInUse(): Promise<
  { version: string; findings: number; last_scored_ms: number }[]
> {
  const recent = normalisePage<Finding>(
    await api.get<unknown>('/v1/findings', {
      status: 'new,in_progress,suppressed,resolved',
      sort: '-scored_at_ms',
      limit: 500,
    }),
  ).items;
  const seen = new Map<string, { version: string; findings: number; last_scored_ms: number }>();
  for (const f of recent) {
    const e = seen.get(f.model_version) ?? { version: f.model_version, findings: 0, last_scored_ms: 0 };
    e.findings++;
    e.last_scored_ms = Math.max(e.last_scored_ms, f.scored_at_ms);
    seen.set(f.model_version, e);
  }
  return [...seen.values()].sort((a, b) => b.last_scored_ms - a.last_scored_ms);
}

export function SourcesPage() {
  const status = useApi(
    async () =>
      (await hasRoute('get', '/v1/status')) ? api.get<Record<string, unknown>>('/v1/status') : null,
    [],
  );
  const proc = useApi(processStatus, []);
  const models = useApi(modelsInUse, []);
  const sections = Object.entries(status.data ?? {}).sort(
    ([a], [b]) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99),
  );
  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>Sources &amp; status</h1>
        <button
          type="button"
          onClick={() => {
            status.reload();
            proc.reload();
            models.reload();
          }}
        >
          Refresh
        </button>
      </header>
      <ErrorBox error={status.error ?? proc.error ?? models.error} />
      <div class="grid">
        <Card title="Query API">
          {proc.data ? (
            <>
              <dl class="kv" data-testid="query-api-status">
                <div>
                  <dt>Readiness</dt>
                  <dd>
                    <span
                      class={proc.data.ready === 200 ? 'badge ok' : 'badge sev-high'}
                      data-testid="readyz"
                    >
                      {proc.data.ready === 200 ? 'ready' : `not ready (${proc.data.ready})`}
                    </span>
                  </dd>
                </div>
                <div>
                  <dt>Up for</dt>
                  <dd>{Math.round(proc.data.uptimeS / 60)} min</dd>
                </div>
                <div>
                  <dt>Resident memory</dt>
                  <dd>{bytes(proc.data.residentBytes)}</dd>
                </div>
                <div>
                  <dt>Refused requests (401/403)</dt>
                  <dd>{count(proc.data.authFailures)}</dd>
                </div>
              </dl>
              <h3>Requests by route</h3>
              <table class="compact" aria-label="Requests by route">
                <thead>
                  <tr>
                    <th scope="col">Route</th>
                    <th scope="col" class="num">
                      Requests
                    </th>
                    <th scope="col" class="num">
                      Mean ms
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {proc.data.requests.map((r) => (
                    <tr key={r.route}>
                      <td class="mono">{r.route}</td>
                      <td class="num">{count(r.count)}</td>
                      <td class="num">{r.p.toFixed(1)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          ) : (
            <Loading what="process status" />
          )}
        </Card>
        <Card title="Model versions scoring">
          <table class="compact" aria-label="Model versions" data-testid="models-in-use">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col" class="num">
                  Recent findings
                </th>
                <th scope="col">Last scored</th>
              </tr>
            </thead>
            <tbody>
              {(models.data ?? []).map((m) => (
                <tr key={m.version}>
                  <td class="mono">{m.version}</td>
                  <td class="num">{count(m.findings)}</td>
                  <td>{time(m.last_scored_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="muted small">From the 500 most recently scored findings.</p>
        </Card>
        {status.data === null && (
          <Card title="Collectors and pipeline" wide>
            <p class="muted" data-testid="status-unavailable">
              Exporter rates, decode errors, template counts, sequence gaps, services online and Kafka lag
              live in the collector, sequencer and inference metrics (Prometheus / Grafana). This query API
              does not relay them yet (no <code>GET /v1/status</code> route); the cards above come from the
              query API itself.
            </p>
          </Card>
        )}
        {sections.map(([k, v]) => (
          <Card key={k} title={k.replaceAll('_', ' ')} wide={Array.isArray(v)}>
            <JsonView value={v} name={k} />
          </Card>
        ))}
      </div>
    </section>
  );
}
