import type { ChartConfiguration } from 'chart.js';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, type Case, type Evidence, type Finding } from '../api.ts';
import { SeverityBadge, StatusBadge, TacticBadge, VerdictBadge } from '../components/Badges.tsx';
import { ChartView, PALETTE } from '../components/Chart.tsx';
import { DataTable } from '../components/DataTable.tsx';
import { Card, ErrorBox, Loading } from '../components/Status.tsx';
import { bytes, count, pct, protocolName, shortId, time } from '../format.ts';
import { navigate } from '../router.ts';
import { normalisePage, normaliseSimilar, topTactic, unwrapFinding } from '../shapes.ts';
import { useApi } from '../useApi.ts';

export function FindingDetailPage({ id }: { id: string }) {
  const finding = useApi(() => api.get<unknown>(`/v1/findings/${id}`).then(unwrapFinding), [id]);
  const evidence = useApi(() => api.get<Evidence>(`/v1/findings/${id}/evidence`), [id]);
  const similar = useApi(
    () => api.get<unknown>(`/v1/findings/${id}/similar`, { k: 20 }).then(normaliseSimilar),
    [id],
  );
  const f = finding.data;
  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>
          Finding <span class="mono">{shortId(id)}</span>
        </h1>
        <a href="/findings" class="muted">
          ← All findings
        </a>
      </header>
      <ErrorBox error={finding.error} />
      {!f && finding.loading && <Loading what="finding" />}
      {f && (
        <>
          <Summary f={f} />
          <Actions f={f} onChanged={finding.reload} />
          <div class="grid">
            <WhyItFired f={f} />
            <Card title="Similar findings">
              <ErrorBox error={similar.error} />
              {similar.data && (
                <DataTable
                  label="Similar findings"
                  testId="similar-table"
                  rows={similar.data}
                  rowKey={(s) => s.finding.sequence_id}
                  onOpen={(s) => navigate(`/findings/${s.finding.sequence_id}`)}
                  empty="No stored neighbours."
                  columns={[
                    { id: 'sim', label: 'Similarity', numeric: true, render: (s) => s.similarity.toFixed(3) },
                    {
                      id: 'pair',
                      label: 'Pair',
                      render: (s) => (
                        <a class="mono" href={`/findings/${s.finding.sequence_id}`}>
                          {s.finding.src_ip} → {s.finding.dst_ip}
                        </a>
                      ),
                    },
                    {
                      id: 'verdict',
                      label: 'Verdict',
                      render: (s) => <VerdictBadge verdict={s.finding.verdict} />,
                    },
                    {
                      id: 'tactic',
                      label: 'Tactic',
                      render: (s) => (
                        <TacticBadge tactic={topTactic(s.finding)} verdict={s.finding.verdict} />
                      ),
                    },
                    {
                      id: 'status',
                      label: 'Status',
                      render: (s) => <StatusBadge status={s.finding.status} />,
                    },
                  ]}
                />
              )}
            </Card>
          </div>
          <Card title="Evidence flows" wide>
            <ErrorBox error={evidence.error} />
            {evidence.data && (
              <DataTable
                label="Evidence flows"
                testId="evidence-table"
                rows={evidence.data.flows}
                rowKey={(fl) => `${fl.start_ms}-${fl.src_port}-${fl.dst_port}-${fl.fwd_bytes}-${fl.origin}`}
                empty="The flows of this sequence are not stored."
                columns={[
                  { id: 'start', label: 'Start', render: (fl) => time(fl.start_ms) },
                  {
                    id: 'dur',
                    label: 'Duration',
                    numeric: true,
                    render: (fl) => `${((fl.end_ms - fl.start_ms) / 1000).toFixed(2)} s`,
                  },
                  { id: 'proto', label: 'Proto', render: (fl) => protocolName(fl.protocol) },
                  { id: 'ports', label: 'Ports', render: (fl) => `${fl.src_port} → ${fl.dst_port}` },
                  {
                    id: 'fwd',
                    label: 'Fwd bytes/pkts',
                    numeric: true,
                    render: (fl) => `${bytes(fl.fwd_bytes)} / ${count(fl.fwd_pkts)}`,
                  },
                  {
                    id: 'bwd',
                    label: 'Bwd bytes/pkts',
                    numeric: true,
                    render: (fl) => `${bytes(fl.bwd_bytes)} / ${count(fl.bwd_pkts)}`,
                  },
                  {
                    id: 'label',
                    label: 'Label',
                    render: (fl) => (fl.label === null ? '–' : fl.label ? fl.attack || 'attack' : 'benign'),
                  },
                ]}
              />
            )}
          </Card>
        </>
      )}
    </section>
  );
}

function Summary({ f }: { f: Finding }) {
  return (
    <dl class="summary" data-testid="finding-summary">
      <div>
        <dt>Pair</dt>
        <dd class="mono" data-testid="finding-pair">
          <a href={`/forensics?src=${encodeURIComponent(f.src_ip)}&dst=${encodeURIComponent(f.dst_ip)}`}>
            {f.src_ip} → {f.dst_ip}
          </a>
          {f.src_device_type || f.dst_device_type ? (
            <span class="muted small">
              {' '}
              ({f.src_device_type ?? '?'} → {f.dst_device_type ?? '?'})
            </span>
          ) : null}
        </dd>
      </div>
      <div>
        <dt>Window</dt>
        <dd>
          {time(f.window_start_ms)} – {time(f.window_end_ms).slice(11)}
        </dd>
      </div>
      <div>
        <dt>Verdict</dt>
        <dd>
          <VerdictBadge verdict={f.verdict} /> <SeverityBadge severity={f.severity} />{' '}
          <StatusBadge status={f.status} />
          {f.status === 'suppressed' && f.suppressed_by ? (
            <span class="muted" data-testid="suppressed-by">
              {' '}
              by rule <code>{f.suppressed_by}</code>
            </span>
          ) : null}
        </dd>
      </div>
      <div>
        <dt>Score / anomaly</dt>
        <dd>
          {f.score.toFixed(3)} / {f.anomaly.toFixed(2)}
        </dd>
      </div>
      <div>
        <dt>Traffic</dt>
        <dd>
          {count(f.connections)} conns · {bytes(f.fwd_bytes)} fwd · {bytes(f.bwd_bytes)} bwd · ports{' '}
          {f.dst_ports.slice(0, 5).join(', ')}
        </dd>
      </div>
      <div>
        <dt>Model</dt>
        <dd>
          {f.model_version}
          {f.label !== null ? ` · ground truth: ${f.label ? 'malicious' : 'benign'}` : ''}
        </dd>
      </div>
    </dl>
  );
}

/**
 * The baseline sub-scores in findings.v1 order, with what each one looks for. A finding stored before
 * `reflection` was added to the contract shows it as 0 (its default); keys the UI does not know
 * follow as they are.
 */
const SUB_SCORES: readonly { key: string; label: string; hint: string }[] = [
  { key: 'beacon', label: 'beacon', hint: 'regular timing and sizes (C2 beaconing)' },
  {
    key: 'scan',
    label: 'scan',
    hint: 'unanswered probes or pings to many hosts or ports, or from many hosts to this responder',
  },
  { key: 'brute_force', label: 'brute force', hint: 'repeated attempts to one login service' },
  { key: 'exfiltration', label: 'exfiltration', hint: 'large one-way upload' },
  {
    key: 'reflection',
    label: 'reflection',
    hint: 'unanswered UDP replies from an amplification port toward a host many sources send to (T1498.002)',
  },
];

function subScoreRows(
  sub: object | undefined,
): { key: string; label: string; hint: string; value: number }[] {
  const given = (sub ?? {}) as Record<string, number>;
  const rows = SUB_SCORES.map((s) => ({ ...s, value: given[s.key] ?? 0 }));
  for (const [key, value] of Object.entries(given))
    if (!SUB_SCORES.some((s) => s.key === key))
      rows.push({ key, label: key.replace('_', ' '), hint: '', value });
  return rows;
}

function WhyItFired({ f }: { f: Finding }) {
  const tactics = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: f.tactics.slice(0, 8).map((t) => t.name),
        datasets: [
          {
            label: 'Probability',
            data: f.tactics.slice(0, 8).map((t) => t.probability),
            backgroundColor: PALETTE[1],
          },
        ],
      },
      options: { indexAxis: 'y', scales: { x: { min: 0, max: 1 } }, plugins: { legend: { display: false } } },
    }),
    [f],
  );
  const sub = subScoreRows(f.explanation?.subscores);
  return (
    <Card title="Why it fired">
      <h3>Tactic probabilities</h3>
      {f.tactics.length ? (
        <ChartView config={tactics} label="Tactic probabilities" height={160} />
      ) : (
        <p class="muted">None.</p>
      )}
      {f.techniques.length > 0 && (
        <p>
          Techniques:{' '}
          {f.techniques.slice(0, 5).map((t) => (
            <span key={t.id} class="badge tactic" title={t.name}>
              {t.id} {t.name} {pct(t.probability)}
            </span>
          ))}
        </p>
      )}
      <h3>Baseline sub-scores</h3>
      <ul class="bars" data-testid="subscores">
        {sub.map((s) => (
          <li key={s.key} title={s.hint}>
            <span>{s.label}</span>
            <meter min={0} max={1} value={s.value} aria-label={s.key} />
            <span class="num">{s.value.toFixed(2)}</span>
          </li>
        ))}
      </ul>
      <h3>Top features</h3>
      <table class="compact" aria-label="Top features">
        <tbody>
          {(f.explanation?.top_features ?? []).slice(0, 8).map((t) => (
            <tr key={t.name}>
              <td>{t.name}</td>
              <td class="num">{t.value.toFixed(3)}</td>
              <td class="num">
                {t.contribution >= 0 ? '+' : ''}
                {t.contribution.toFixed(3)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

function Actions({ f, onChanged }: { f: Finding; onChanged: () => void }) {
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [caseId, setCaseId] = useState('');
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState('Known benign behaviour');
  const reasonInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (asking) reasonInput.current?.select();
  }, [asking]);
  const cases = useApi(() => api.get<unknown>('/v1/cases').then((v) => normalisePage<Case>(v).items), []);
  const run = async (what: string, fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    setMessage(undefined);
    try {
      await fn();
      setMessage(what);
      onChanged();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const id = f.sequence_id;
  return (
    <div class="actions" role="toolbar" aria-label="Actions">
      <button
        type="button"
        disabled={busy}
        onClick={() =>
          run('Marked as a true positive.', () => api.post(`/v1/findings/${id}/feedback`, { label: 'tp' }))
        }
      >
        True positive
      </button>
      <button
        type="button"
        disabled={busy}
        data-testid="action-fp"
        onClick={() =>
          run('Marked as a false positive.', () => api.post(`/v1/findings/${id}/feedback`, { label: 'fp' }))
        }
      >
        False positive
      </button>
      <button
        type="button"
        class="primary"
        disabled={busy}
        aria-expanded={asking}
        data-testid="action-commonplace"
        onClick={() => setAsking(!asking)}
      >
        Commonplace → suppress similar
      </button>
      {asking && (
        <form
          class="inline reason"
          onSubmit={(e) => {
            e.preventDefault();
            setAsking(false);
            void run('Marked commonplace: a suppression rule now hides it and everything similar.', () =>
              api.post('/v1/suppressions', { finding_id: id, reason: reason.trim() || 'commonplace' }),
            );
          }}
        >
          <label>
            Why is it commonplace?{' '}
            <input
              ref={reasonInput}
              data-testid="commonplace-reason"
              value={reason}
              maxLength={1000}
              onInput={(e) => setReason((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" class="primary" data-testid="commonplace-confirm">
            Suppress it and similar findings
          </button>
          <button type="button" onClick={() => setAsking(false)}>
            Cancel
          </button>
        </form>
      )}
      <span class="group">
        <label>
          <span class="sr-only">Case</span>
          <select
            value={caseId}
            onChange={(e) => setCaseId((e.target as HTMLSelectElement).value)}
            data-testid="case-select"
          >
            <option value="">New case…</option>
            {(cases.data ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                {c.title}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          disabled={busy}
          data-testid="action-case"
          onClick={() =>
            run('Added to the case.', async () => {
              if (caseId) await api.post(`/v1/cases/${caseId}/findings`, { finding_ids: [id] });
              else
                await api.post('/v1/cases', {
                  title: `${f.src_ip} → ${f.dst_ip} (${f.tactics[0]?.name ?? f.verdict})`,
                  priority:
                    f.severity === 'critical' ? 'critical' : f.severity === 'high' ? 'high' : 'medium',
                  finding_ids: [id],
                });
              cases.reload();
            })
          }
        >
          Add to case
        </button>
      </span>
      <span class="group exports">
        Export:
        <button
          type="button"
          onClick={() =>
            run('OCSF downloaded.', () =>
              api.download(`/v1/exports/findings?format=ocsf&id=${id}`, `${id}.ocsf.jsonl`),
            )
          }
        >
          OCSF
        </button>
        <button
          type="button"
          onClick={() =>
            run('Navigator layer downloaded.', () =>
              api.download(
                `/v1/exports/navigator?from=${f.window_start_ms}&to=${f.window_end_ms}`,
                `${id}.navigator.json`,
              ),
            )
          }
        >
          Navigator
        </button>
        <button
          type="button"
          onClick={() =>
            run('Timesketch JSONL downloaded.', () =>
              api.download(`/v1/exports/findings?format=timesketch&id=${id}`, `${id}.timesketch.jsonl`),
            )
          }
        >
          Timesketch
        </button>
      </span>
      {message && (
        <p class="ok" role="status" data-testid="action-message">
          {message}
        </p>
      )}
      <ErrorBox error={error} />
    </div>
  );
}
