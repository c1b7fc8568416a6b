import { useState } from 'preact/hooks';
import { api, type Finding } from '../api.ts';
import { TACTICS } from '../attack.ts';
import { SeverityBadge, StatusBadge, TacticBadge, VerdictBadge } from '../components/Badges.tsx';
import { type Column, DataTable } from '../components/DataTable.tsx';
import { ErrorBox, Loading } from '../components/Status.tsx';
import { TimeRangePicker, windowFrom } from '../components/TimeRange.tsx';
import { bytes, count, time } from '../format.ts';
import { navigate, setQuery, useLocation } from '../router.ts';
import { normalisePage, topTactic } from '../shapes.ts';
import { useApi } from '../useApi.ts';

const PAGE_SIZE = 50;
const ALL_STATUSES = 'new,in_progress,suppressed,resolved';

export const FINDING_COLUMNS: Column<Finding>[] = [
  {
    id: 'time',
    label: 'Window start',
    sort: 'window_start_ms',
    render: (f) => time(f.window_start_ms).slice(0, 16),
  },
  {
    id: 'pair',
    label: 'Source → destination',
    render: (f) => (
      <a href={`/findings/${f.sequence_id}`} class="mono">
        {f.src_ip} → {f.dst_ip}
        {f.dst_ports?.length ? `:${f.dst_ports.slice(0, 3).join(',')}` : ''}
      </a>
    ),
  },
  { id: 'severity', label: 'Severity', render: (f) => <SeverityBadge severity={f.severity} /> },
  { id: 'verdict', label: 'Verdict', render: (f) => <VerdictBadge verdict={f.verdict} /> },
  { id: 'tactic', label: 'Tactic', render: (f) => <TacticBadge tactic={topTactic(f)} verdict={f.verdict} /> },
  { id: 'score', label: 'Score', sort: 'score', numeric: true, render: (f) => f.score.toFixed(3) },
  { id: 'anomaly', label: 'Anomaly', sort: 'anomaly', numeric: true, render: (f) => f.anomaly.toFixed(2) },
  { id: 'conns', label: 'Conns', numeric: true, render: (f) => count(f.connections) },
  {
    id: 'bytes',
    label: 'Bytes fwd/bwd',
    numeric: true,
    render: (f) => `${bytes(f.fwd_bytes)} / ${bytes(f.bwd_bytes)}`,
  },
  { id: 'status', label: 'Status', render: (f) => <StatusBadge status={f.status} /> },
];

export function FindingsPage() {
  const loc = useLocation();
  const q = loc.query;
  const win = windowFrom(loc);
  const sortField = q.get('sort') ?? 'score';
  const order = q.get('order') === 'asc' ? 'asc' : 'desc';
  // The API's default list leaves suppressed findings out: that is the analyst's queue.
  const status = q.get('status') ?? '';
  const filters = {
    verdict: q.get('verdict') ?? '',
    severity: q.get('severity') ?? '',
    tactic: q.get('tactic') ?? '',
    src_ip: q.get('src_ip') ?? '',
    dst_ip: q.get('dst_ip') ?? '',
    min_score: q.get('min_score') ?? '',
  };
  const cursor = q.get('cursor');
  // Cursors of the pages before this one, so "Previous" works with cursor pagination.
  const [back, setBack] = useState<string[]>([]);
  const { data, error, loading } = useApi(
    () =>
      api
        .get<unknown>('/v1/findings', {
          from: win.from,
          to: win.to,
          verdict: filters.verdict,
          severity: filters.severity,
          tactic: filters.tactic,
          src_ip: filters.src_ip,
          dst_ip: filters.dst_ip,
          min_score: filters.min_score,
          status: status === 'all' ? ALL_STATUSES : status,
          sort: order === 'desc' ? `-${sortField}` : sortField,
          limit: PAGE_SIZE,
          cursor,
        })
        .then((v) => normalisePage<Finding>(v)),
    [loc.query.toString()],
  );
  const update = (patch: Record<string, string | null>) => {
    setBack([]);
    setQuery({ ...patch, cursor: null });
  };

  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>Findings</h1>
        <TimeRangePicker loc={loc} />
      </header>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>
          Source IP or CIDR
          <input
            type="search"
            data-search
            data-testid="filter-src"
            placeholder="10.0.0.5 or 10.0.0.0/24"
            value={filters.src_ip}
            onChange={(e) => update({ src_ip: (e.target as HTMLInputElement).value.trim() || null })}
          />
        </label>
        <label>
          Destination IP or CIDR
          <input
            type="search"
            data-testid="filter-dst"
            placeholder="any"
            value={filters.dst_ip}
            onChange={(e) => update({ dst_ip: (e.target as HTMLInputElement).value.trim() || null })}
          />
        </label>
        <label>
          Status
          <select
            value={status}
            data-testid="filter-status"
            onChange={(e) => update({ status: (e.target as HTMLSelectElement).value })}
          >
            <option value="">Not suppressed</option>
            <option value="all">All</option>
            <option value="new">New</option>
            <option value="in_progress">In progress</option>
            <option value="suppressed">Suppressed</option>
            <option value="resolved">Resolved</option>
          </select>
        </label>
        <label>
          Verdict
          <select
            value={filters.verdict}
            data-testid="filter-verdict"
            onChange={(e) => update({ verdict: (e.target as HTMLSelectElement).value || null })}
          >
            <option value="">Any</option>
            <option value="malicious">Malicious</option>
            <option value="benign">Benign</option>
          </select>
        </label>
        <label>
          Severity
          <select
            value={filters.severity}
            onChange={(e) => update({ severity: (e.target as HTMLSelectElement).value || null })}
          >
            <option value="">Any</option>
            {['critical', 'high', 'medium', 'low', 'info'].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tactic
          <select
            value={filters.tactic}
            onChange={(e) => update({ tactic: (e.target as HTMLSelectElement).value || null })}
          >
            <option value="">Any</option>
            {TACTICS.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Min score
          <input
            type="number"
            min="0"
            max="1"
            step="0.05"
            value={filters.min_score}
            onChange={(e) => update({ min_score: (e.target as HTMLInputElement).value || null })}
          />
        </label>
      </form>
      <ErrorBox error={error} />
      {!data && loading && <Loading what="findings" />}
      {data && (
        <>
          <p class="muted" aria-live="polite" data-testid="findings-count">
            {data.total !== undefined ? `${count(data.total)} findings` : `${data.items.length} shown`}
            {loading ? ' · refreshing…' : ''}
          </p>
          <DataTable
            label="Findings"
            testId="findings-table"
            columns={FINDING_COLUMNS}
            rows={data.items}
            rowKey={(f) => f.sequence_id}
            onOpen={(f) => navigate(`/findings/${f.sequence_id}`)}
            sort={{ field: sortField, order }}
            onSort={(field, o) => update({ sort: field, order: o })}
            empty="No findings match these filters."
          />
          <nav class="pager" aria-label="Pages">
            <button
              type="button"
              disabled={!cursor}
              onClick={() => {
                const prev = back.at(-1) ?? null;
                setBack(back.slice(0, -1));
                setQuery({ cursor: prev });
              }}
            >
              ← Previous
            </button>
            <button
              type="button"
              data-testid="next-page"
              disabled={!data.next_cursor}
              onClick={() => {
                setBack([...back, cursor ?? '']);
                setQuery({ cursor: data.next_cursor });
              }}
            >
              Next →
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
