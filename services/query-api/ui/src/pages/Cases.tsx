import { useState } from 'preact/hooks';
import { api, type Case } from '../api.ts';
import { DataTable } from '../components/DataTable.tsx';
import { Card, ErrorBox, Loading } from '../components/Status.tsx';
import { time } from '../format.ts';
import { navigate, setQuery, useLocation } from '../router.ts';
import { normalisePage, topTactic, unwrapFinding } from '../shapes.ts';
import { SeverityBadge, TacticBadge } from '../components/Badges.tsx';
import { useApi } from '../useApi.ts';

const STATUSES = ['open', 'in_progress', 'closed'] as const;
const PRIORITIES = ['low', 'medium', 'high', 'critical'] as const;

export function CasesPage() {
  const loc = useLocation();
  const selected = loc.query.get('case');
  const cases = useApi(() => api.get<unknown>('/v1/cases').then((v) => normalisePage<Case>(v).items), []);
  const [title, setTitle] = useState('');
  const [error, setError] = useState<string>();
  const create = async (e: Event) => {
    e.preventDefault();
    if (!title.trim()) return;
    try {
      const c = await api.post<Case>('/v1/cases', { title: title.trim(), priority: 'medium' });
      setTitle('');
      cases.reload();
      if (c?.id) setQuery({ case: c.id });
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>Cases</h1>
        <form class="inline" onSubmit={create}>
          <label>
            <span class="sr-only">New case title</span>
            <input
              placeholder="New case title"
              value={title}
              onInput={(e) => setTitle((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" class="primary">
            Create case
          </button>
        </form>
      </header>
      <ErrorBox error={cases.error ?? error} />
      {!cases.data && cases.loading && <Loading what="cases" />}
      <div class="split">
        {cases.data && (
          <DataTable
            label="Cases"
            testId="cases-table"
            rows={cases.data}
            rowKey={(c) => c.id}
            onOpen={(c) => setQuery({ case: c.id })}
            empty="No cases yet. Add a finding to a case from its page."
            columns={[
              { id: 'title', label: 'Title', render: (c) => <a href={`/cases?case=${c.id}`}>{c.title}</a> },
              {
                id: 'status',
                label: 'Status',
                render: (c) => <span class={`badge status-${c.status}`}>{c.status.replace('_', ' ')}</span>,
              },
              {
                id: 'priority',
                label: 'Priority',
                render: (c) => <span class={`badge sev-${c.priority}`}>{c.priority}</span>,
              },
              { id: 'n', label: 'Findings', numeric: true, render: (c) => c.finding_ids.length },
              { id: 'updated', label: 'Updated', render: (c) => time(c.updated_at_ms) },
            ]}
          />
        )}
        {selected && <CaseDetail id={selected} onChanged={cases.reload} />}
      </div>
    </section>
  );
}

function CaseDetail({ id, onChanged }: { id: string; onChanged: () => void }) {
  const c = useApi(
    () => api.get<unknown>(`/v1/cases/${id}`).then((v) => ((v as { case?: Case }).case ?? v) as Case),
    [id],
  );
  const [note, setNote] = useState('');
  const [error, setError] = useState<string>();
  const update = async (patch: Record<string, unknown>) => {
    try {
      await api.patch(`/v1/cases/${id}`, patch);
      c.reload();
      onChanged();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  if (!c.data) return <ErrorBox error={c.error} />;
  const data = c.data;
  return (
    <Card title={data.title}>
      <ErrorBox error={error} />
      <div class="row">
        <label>
          Status{' '}
          <select
            value={data.status}
            onChange={(e) => update({ status: (e.target as HTMLSelectElement).value })}
          >
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Priority{' '}
          <select
            value={data.priority}
            onChange={(e) => update({ priority: (e.target as HTMLSelectElement).value })}
          >
            {PRIORITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          onClick={() =>
            api
              .download(`/v1/exports/navigator?case_id=${id}`, `case-${id}.navigator.json`)
              .catch((e: Error) => setError(e.message))
          }
        >
          Navigator layer
        </button>
      </div>
      {data.description && <p>{data.description}</p>}
      <h3>Findings ({data.finding_ids.length})</h3>
      <CaseFindings ids={data.finding_ids} />
      <h3>Notes</h3>
      <ul>
        {(data.notes ?? []).map((n) => (
          <li key={n.at_ms}>
            <span class="muted small">
              {time(n.at_ms)} {n.author}:
            </span>{' '}
            {n.text}
          </li>
        ))}
      </ul>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (!note.trim()) return;
          void update({ note: note.trim() }).then(() => setNote(''));
        }}
      >
        <label>
          <span class="sr-only">Note</span>
          <input
            placeholder="Add a note"
            value={note}
            onInput={(e) => setNote((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit">Add note</button>
      </form>
    </Card>
  );
}

const SHOWN = 20;

/** The first findings of a case, fetched one by one (the list route has no id filter). */
function CaseFindings({ ids }: { ids: string[] }) {
  const shown = ids.slice(0, SHOWN);
  const findings = useApi(
    () => Promise.all(shown.map((id) => api.get<unknown>(`/v1/findings/${id}`).then(unwrapFinding))),
    [shown.join(',')],
  );
  return (
    <>
      <ErrorBox error={findings.error} />
      <DataTable
        label="Findings of the case"
        testId="case-findings"
        rows={findings.data ?? []}
        rowKey={(f) => f.sequence_id}
        onOpen={(f) => navigate(`/findings/${f.sequence_id}`)}
        empty={findings.loading ? 'Loading…' : 'No findings attached yet.'}
        columns={[
          {
            id: 'pair',
            label: 'Pair',
            render: (f) => (
              <a class="mono" href={`/findings/${f.sequence_id}`}>
                {f.src_ip} → {f.dst_ip}
              </a>
            ),
          },
          { id: 'sev', label: 'Severity', render: (f) => <SeverityBadge severity={f.severity} /> },
          {
            id: 'tactic',
            label: 'Tactic',
            render: (f) => <TacticBadge tactic={topTactic(f)} verdict={f.verdict} />,
          },
          { id: 'time', label: 'Window', render: (f) => time(f.window_start_ms).slice(0, 16) },
        ]}
      />
      {ids.length > SHOWN && <p class="muted small">and {ids.length - SHOWN} more.</p>}
    </>
  );
}
