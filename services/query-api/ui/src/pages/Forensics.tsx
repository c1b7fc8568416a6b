import type { ChartConfiguration } from 'chart.js';
import { useMemo, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ChartView, PALETTE } from '../components/Chart.tsx';
import { DataTable } from '../components/DataTable.tsx';
import { Card, ErrorBox, Loading, Stat } from '../components/Status.tsx';
import { TimeRangePicker, windowFrom } from '../components/TimeRange.tsx';
import { bytes, count, shortTime, time } from '../format.ts';
import { navigate, setQuery, useLocation } from '../router.ts';
import { FINDING_COLUMNS } from './Findings.tsx';
import { normaliseForensics, normaliseOverview, normalisePage } from '../shapes.ts';
import { useApi } from '../useApi.ts';
import { tacticName } from '../attack.ts';
import type { Finding } from '../api.ts';

const OCCURRENCE_LIMIT = 200;
const ALL_STATUSES = 'new,in_progress,suppressed,resolved';

/** Forward/backward bytes per time bucket; about 40 buckets over the span of the sequences. */
function trafficBuckets(items: Finding[]): { t: number; fwd: number; bwd: number }[] {
  const first = Math.min(...items.map((f) => f.window_start_ms));
  const last = Math.max(...items.map((f) => f.window_start_ms));
  const step = Math.max(60_000, Math.ceil((last - first + 1) / 40 / 60_000) * 60_000);
  const out = new Map<number, { t: number; fwd: number; bwd: number }>();
  for (const f of items) {
    const t = first + Math.floor((f.window_start_ms - first) / step) * step;
    const b = out.get(t) ?? { t, fwd: 0, bwd: 0 };
    b.fwd += f.fwd_bytes;
    b.bwd += f.bwd_bytes;
    out.set(t, b);
  }
  return [...out.values()].sort((a, b) => a.t - b.t);
}

export function ForensicsPage() {
  const loc = useLocation();
  const win = windowFrom(loc);
  const src = loc.query.get('src') ?? '';
  const dst = loc.query.get('dst') ?? '';
  const [srcInput, setSrcInput] = useState(src);
  const [dstInput, setDstInput] = useState(dst);
  // Candidate addresses for the pickers: the busiest talkers of the range.
  const candidates = useApi(
    () =>
      api.get<unknown>('/v1/overview', { from: win.from ?? 0, to: win.to, top: 100 }).then(normaliseOverview),
    [win.from, win.to],
  );
  const where = { src_ip: src, dst_ip: dst, from: win.from, to: win.to };
  const result = useApi(
    () => api.get<unknown>('/v1/forensics', where).then(normaliseForensics),
    [src, dst, win.from, win.to],
  );
  // The sequences themselves, oldest first: the occurrence list and the traffic-over-time chart.
  const occurrences = useApi(
    () =>
      api
        .get<unknown>('/v1/findings', {
          ...where,
          status: ALL_STATUSES,
          sort: 'window_start_ms',
          limit: OCCURRENCE_LIMIT,
        })
        .then((v) => normalisePage<Finding>(v)),
    [src, dst, win.from, win.to],
  );
  const data = result.data;
  const trafficChart = useMemo<ChartConfiguration | null>(() => {
    const items = occurrences.data?.items ?? [];
    if (!items.length) return null;
    const buckets = trafficBuckets(items);
    const span = (buckets.at(-1)?.t ?? 0) - (buckets[0]?.t ?? 0);
    return {
      type: 'bar',
      data: {
        labels: buckets.map((b) => shortTime(b.t, span)),
        datasets: [
          { label: 'Forward bytes', data: buckets.map((b) => b.fwd), backgroundColor: PALETTE[0] },
          { label: 'Backward bytes', data: buckets.map((b) => b.bwd), backgroundColor: PALETTE[1] },
        ],
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    };
  }, [occurrences.data]);
  const tacticChart = useMemo<ChartConfiguration | null>(() => {
    if (!data?.tactics.length) return null;
    return {
      type: 'doughnut',
      data: {
        labels: data.tactics.map((t) => t.label ?? tacticName(t.key)),
        datasets: [{ data: data.tactics.map((t) => t.count), backgroundColor: PALETTE }],
      },
      options: { plugins: { legend: { position: 'right' } } },
    };
  }, [data]);

  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>Forensics</h1>
        <TimeRangePicker loc={loc} />
      </header>
      <form
        class="filters"
        aria-label="Pick addresses"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ src: srcInput.trim() || null, dst: dstInput.trim() || null });
        }}
      >
        <label>
          Source IP
          <input
            type="search"
            list="forensics-ips"
            data-search
            data-testid="forensics-src"
            placeholder="any"
            value={srcInput}
            onInput={(e) => setSrcInput((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Destination IP
          <input
            type="search"
            list="forensics-ips"
            data-testid="forensics-dst"
            placeholder="any"
            value={dstInput}
            onInput={(e) => setDstInput((e.target as HTMLInputElement).value)}
          />
        </label>
        <datalist id="forensics-ips">
          {(candidates.data?.top_src_ips ?? []).map((t) => (
            <option key={t.key} value={t.key}>
              {count(t.count)} sequences
            </option>
          ))}
        </datalist>
        <button type="submit" class="primary" data-testid="forensics-go">
          Investigate
        </button>
      </form>
      <ErrorBox error={result.error} />
      {!data && result.loading && <Loading what="forensics" />}
      {data && (
        <>
          <p class="muted">
            {src || 'any source'} → {dst || 'any destination'}
          </p>
          <div class="stats" data-testid="forensics-stats">
            <Stat label="Connections" value={count(data.connections)} testId="forensics-connections" />
            <Stat label="Forward bytes" value={bytes(data.fwd_bytes)} testId="forensics-fwd" />
            <Stat label="Backward bytes" value={bytes(data.bwd_bytes)} testId="forensics-bwd" />
            <Stat label="Sequences" value={count(data.sequences)} testId="forensics-sequences" />
          </div>
          <p class="sr-only" data-testid="forensics-exact">
            {`${data.connections} ${data.fwd_bytes} ${data.bwd_bytes}`}
          </p>
          <div class="grid">
            <Card title="Tactic distribution">
              {tacticChart ? (
                <ChartView config={tacticChart} label="Tactic distribution" height={180} />
              ) : (
                <p class="muted">No suspicious sequences.</p>
              )}
              <DataTable
                label="Tactic occurrences"
                testId="tactic-occurrences"
                rows={data.tactics}
                rowKey={(t) => t.key}
                onOpen={(t) =>
                  navigate(
                    `/findings?tactic=${t.key}&status=all${src ? `&src_ip=${src}` : ''}${dst ? `&dst_ip=${dst}` : ''}`,
                  )
                }
                empty="No tactic occurrences."
                columns={[
                  { id: 'tactic', label: 'Tactic', render: (t) => t.label ?? tacticName(t.key) },
                  { id: 'n', label: 'Sequences', numeric: true, render: (t) => count(t.count) },
                  {
                    id: 'first',
                    label: 'First seen',
                    render: (t) => (t.first_seen_ms ? time(t.first_seen_ms) : '–'),
                  },
                  {
                    id: 'last',
                    label: 'Last seen',
                    render: (t) => (t.last_seen_ms ? time(t.last_seen_ms) : '–'),
                  },
                ]}
              />
            </Card>
            <Card title="Traffic over time">
              {trafficChart ? (
                <ChartView config={trafficChart} label="Forward and backward bytes over time" />
              ) : (
                <p class="muted">No traffic in this range.</p>
              )}
            </Card>
          </div>
          <Card title="Sequences" wide>
            <ErrorBox error={occurrences.error} />
            <DataTable
              label="Sequences"
              testId="occurrences-table"
              columns={FINDING_COLUMNS}
              rows={occurrences.data?.items ?? []}
              rowKey={(f) => f.sequence_id}
              onOpen={(f) => navigate(`/findings/${f.sequence_id}`)}
              empty="No sequences for these addresses."
            />
            {occurrences.data?.next_cursor && (
              <p class="muted small">
                The first {OCCURRENCE_LIMIT} sequences are listed and charted;{' '}
                <a href={`/findings?status=all${src ? `&src_ip=${src}` : ''}${dst ? `&dst_ip=${dst}` : ''}`}>
                  see all
                </a>
                .
              </p>
            )}
          </Card>
        </>
      )}
    </section>
  );
}
