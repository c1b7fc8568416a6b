import { api } from '../api.ts';
import { JsonView } from '../components/JsonView.tsx';
import { Card, ErrorBox, Loading } from '../components/Status.tsx';
import { useApi } from '../useApi.ts';

/** Sections of the status document the page lays out first, in this order; the rest follow. */
const ORDER = ['services', 'model', 'kafka', 'exporters', 'collector', 'sinks', 'store'];

export function SourcesPage() {
  const status = useApi(() => api.get<Record<string, unknown>>('/v1/status'), []);
  const ready = useApi(
    () => fetch('/readyz').then(async (r) => ({ http: r.status, body: await r.text() })),
    [],
  );
  const sections = Object.entries(status.data ?? {}).sort(
    ([a], [b]) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99),
  );
  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>Sources &amp; status</h1>
        <button type="button" onClick={status.reload}>
          Refresh
        </button>
      </header>
      <p data-testid="readyz">
        Query API readiness:{' '}
        {ready.data ? (
          <span class={ready.data.http === 200 ? 'badge ok' : 'badge sev-high'}>
            {ready.data.http === 200 ? 'ready' : `not ready (${ready.data.http})`}
          </span>
        ) : (
          '…'
        )}
      </p>
      <ErrorBox error={status.error} />
      {!status.data && status.loading && <Loading what="status" />}
      <div class="grid" data-testid="status-sections">
        {sections.map(([k, v]) => (
          <Card key={k} title={k.replaceAll('_', ' ')} wide={Array.isArray(v)}>
            <JsonView value={v} name={k} />
          </Card>
        ))}
      </div>
    </section>
  );
}
