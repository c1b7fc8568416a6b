import type { ChartConfiguration } from 'chart.js';
import { useMemo } from 'preact/hooks';
import { api, type OverviewData } from '../api.ts';
import { ChartView, PALETTE } from '../components/Chart.tsx';
import { Card, ErrorBox, Loading, Stat } from '../components/Status.tsx';
import { TimeRangePicker, windowFrom } from '../components/TimeRange.tsx';
import { tacticName } from '../attack.ts';
import { count, shortTime } from '../format.ts';
import { navigate, setQuery, useLocation } from '../router.ts';
import { normaliseOverview } from '../shapes.ts';
import { useApi } from '../useApi.ts';

/** More points than pixels only costs render time: hourly buckets of a long range are merged. */
const MAX_POINTS = 240;

export function downsample<T extends { t: number; count: number; suspicious: number }>(
  buckets: T[],
  max: number,
) {
  if (buckets.length <= max) return buckets;
  const size = Math.ceil(buckets.length / max);
  const out: { t: number; count: number; suspicious: number }[] = [];
  for (let i = 0; i < buckets.length; i += size) {
    const group = buckets.slice(i, i + size);
    out.push({
      t: group[0]?.t ?? 0,
      count: group.reduce((a, b) => a + b.count, 0),
      suspicious: group.reduce((a, b) => a + b.suspicious, 0),
    });
  }
  return out;
}

export function OverviewPage() {
  const loc = useLocation();
  const win = windowFrom(loc);
  const hideBenign = loc.query.get('hide_benign') === '1';
  const hideUnclassified = loc.query.get('hide_unclassified') === '1';
  const { data, error, loading } = useApi(
    () => api.get<unknown>('/v1/overview', { from: win.from ?? 0, to: win.to }).then(normaliseOverview),
    [win.from, win.to],
  );
  const passOn = (extra: Record<string, string>) => {
    const q = new URLSearchParams(extra);
    for (const k of ['range', 'from', 'to']) {
      const v = loc.query.get(k);
      if (v) q.set(k, v);
    }
    if (hideBenign) q.set('verdict', 'malicious');
    return q.toString();
  };

  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>Overview</h1>
        <div class="toolbar">
          <TimeRangePicker loc={loc} />
          <label class="check">
            <input
              type="checkbox"
              checked={hideBenign}
              data-testid="hide-benign"
              onChange={(e) => setQuery({ hide_benign: (e.target as HTMLInputElement).checked ? '1' : null })}
            />
            Hide benign
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={hideUnclassified}
              onChange={(e) =>
                setQuery({ hide_unclassified: (e.target as HTMLInputElement).checked ? '1' : null })
              }
            />
            Hide unclassified
          </label>
        </div>
      </header>
      <ErrorBox error={error} />
      {!data && loading && <Loading what="overview" />}
      {data && (
        <OverviewBody
          data={data}
          onTactic={(id) => navigate(`/findings?${passOn({ tactic: id })}`)}
          onSrc={(ip) => navigate(`/forensics?${passOn({ src: ip })}`)}
          hideBenign={hideBenign}
          hideUnclassified={hideUnclassified}
        />
      )}
    </section>
  );
}

function OverviewBody({
  data,
  onTactic,
  onSrc,
  hideBenign,
  hideUnclassified,
}: {
  data: OverviewData;
  onTactic: (id: string) => void;
  onSrc: (ip: string) => void;
  hideBenign: boolean;
  hideUnclassified: boolean;
}) {
  // Suspicious findings with no confident tactic form their own bar unless the analyst hides them.
  const tactics = useMemo(
    () =>
      hideUnclassified || data.unclassified === 0
        ? data.tactics
        : [...data.tactics, { key: 'unclassified', label: 'Unclassified', count: data.unclassified }],
    [data, hideUnclassified],
  );
  const tacticChart = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: tactics.map((t) => t.label ?? tacticName(t.key)),
        datasets: [
          {
            label: 'Suspicious sequences',
            data: tactics.map((t) => t.count),
            backgroundColor: tactics.map((t, i) =>
              t.key === 'unclassified' ? '#8e9bb0' : (PALETTE[i % PALETTE.length] as string),
            ),
          },
        ],
      },
      options: { indexAxis: 'y', plugins: { legend: { display: false } } },
    }),
    [tactics],
  );
  const srcChart = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: data.top_src_ips.map((t) => t.key),
        datasets: [
          { label: 'Sequences', data: data.top_src_ips.map((t) => t.count), backgroundColor: PALETTE[0] },
        ],
      },
      options: { indexAxis: 'y', plugins: { legend: { display: false } } },
    }),
    [data],
  );
  const portChart = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: data.top_dst_ports.map((t) => t.key),
        datasets: [
          { label: 'Sequences', data: data.top_dst_ports.map((t) => t.count), backgroundColor: PALETTE[2] },
        ],
      },
      options: { plugins: { legend: { display: false } } },
    }),
    [data],
  );
  const timeChart = useMemo<ChartConfiguration>(() => {
    const buckets = downsample(data.over_time, MAX_POINTS);
    const first = buckets[0]?.t ?? 0;
    const span = (buckets.at(-1)?.t ?? first) - first;
    return {
      type: 'line',
      data: {
        labels: buckets.map((b) => shortTime(b.t, span)),
        datasets: [
          ...(hideBenign
            ? []
            : [
                {
                  label: 'All sequences',
                  data: buckets.map((b) => b.count),
                  borderColor: PALETTE[0],
                  backgroundColor: 'rgba(78,154,241,0.15)',
                  fill: true,
                  pointRadius: 0,
                },
              ]),
          {
            label: 'Suspicious',
            data: buckets.map((b) => b.suspicious),
            borderColor: PALETTE[6],
            backgroundColor: 'rgba(232,90,122,0.2)',
            fill: true,
            pointRadius: 0,
          },
        ],
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        scales: { x: { ticks: { maxTicksLimit: 12, maxRotation: 0, autoSkip: true } } },
      },
    };
  }, [data, hideBenign]);

  return (
    <>
      <div class="stats" data-testid="overview-stats">
        <Stat label="Unique IP pairs" value={count(data.unique_pairs)} testId="stat-pairs" />
        <Stat label="Sequences" value={count(data.sequences)} testId="stat-sequences" />
        <Stat label="Flows" value={count(data.flows)} testId="stat-flows" />
        <Stat label="Suspicious" value={count(data.suspicious)} testId="stat-suspicious" tone="bad" />
        <Stat label="Unclassified" value={count(data.unclassified)} testId="stat-unclassified" tone="warn" />
      </div>
      <div class="grid">
        <Card title="ATT&CK tactics">
          {tactics.length ? (
            <ChartView
              config={tacticChart}
              label="Findings per ATT&CK tactic"
              height={Math.max(160, tactics.length * 26)}
              onClick={(i) => {
                const t = tactics[i];
                if (t && t.key !== 'unclassified') onTactic(t.key);
              }}
            />
          ) : (
            <p class="muted">No tactics in this range.</p>
          )}
        </Card>
        <Card title="Findings over time">
          <ChartView config={timeChart} label="Sequences and suspicious findings over time" />
        </Card>
        <Card title="Top source IPs">
          <ChartView
            config={srcChart}
            label="Top source IPs"
            onClick={(i) => {
              const t = data.top_src_ips[i];
              if (t) onSrc(t.key);
            }}
          />
          <ul class="chips" aria-label="Top source IPs">
            {data.top_src_ips.slice(0, 5).map((t) => (
              <li key={t.key}>
                <a href={`/forensics?src=${encodeURIComponent(t.key)}`}>{t.key}</a>
              </li>
            ))}
          </ul>
        </Card>
        <Card title="Top destination ports">
          <ChartView config={portChart} label="Top destination ports" />
        </Card>
      </div>
    </>
  );
}
