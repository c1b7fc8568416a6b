import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { type Column, DataTable } from '../components/DataTable.tsx';
import { Card, ErrorBox } from '../components/Status.tsx';
import { navigate } from '../router.ts';

const EXAMPLES = [
  'which techniques were seen today',
  'high-severity findings from 10.0.0.5 in the last hour',
  'traffic between 10.0.0.5 and 10.0.0.9',
  'top 20 events similar to sequence <sequence id>',
];

interface Answer {
  columns: string[];
  rows: Record<string, unknown>[];
  query: string;
  answeredBy: string;
}

/** The API answers `{ query: {method, path, params}, columns, rows: [[...]], answered_by }`. */
function toAnswer(v: unknown): Answer {
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const columns = Array.isArray(o['columns']) ? (o['columns'] as string[]) : [];
  const raw = Array.isArray(o['rows']) ? (o['rows'] as unknown[]) : [];
  const rows = raw.map((r) =>
    Array.isArray(r)
      ? Object.fromEntries(columns.map((c, i) => [c, r[i]]))
      : ((r ?? {}) as Record<string, unknown>),
  );
  const q = (o['query'] ?? {}) as {
    method?: string;
    path?: string;
    params?: Record<string, string | number>;
  };
  const params = new URLSearchParams(
    Object.entries(q.params ?? {}).map(([k, val]) => [k, String(val)]),
  ).toString();
  return {
    columns: columns.length ? columns : Object.keys(rows[0] ?? {}),
    rows,
    query: q.path
      ? `${q.method ?? 'GET'} ${q.path}${params ? `?${params}` : ''}`
      : JSON.stringify(o['query'] ?? null),
    answeredBy: String(o['answered_by'] ?? ''),
  };
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (Array.isArray(v))
    return v
      .map((x) =>
        typeof x === 'object' && x
          ? ((x as { name?: string; id?: string }).name ?? JSON.stringify(x))
          : String(x),
      )
      .slice(0, 3)
      .join(', ');
  if (typeof v === 'object') return JSON.stringify(v).slice(0, 80);
  if (typeof v === 'number' && v > 1e12 && v < 1e14)
    return new Date(v).toISOString().slice(0, 19).replace('T', ' ');
  return String(v);
}

export function AskPage() {
  const [question, setQuestion] = useState('');
  const [answer, setAnswer] = useState<Answer>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const ask = async (e: Event) => {
    e.preventDefault();
    if (!question.trim()) return;
    setBusy(true);
    setError(undefined);
    try {
      setAnswer(toAnswer(await api.post<unknown>('/v1/ask', { question: question.trim() })));
    } catch (err) {
      setError((err as Error).message);
      setAnswer(undefined);
    } finally {
      setBusy(false);
    }
  };
  const columns: Column<Record<string, unknown>>[] = (answer?.columns ?? []).map((k) => ({
    id: k,
    label: k.replaceAll('_', ' '),
    render: (r) => cell(r[k]),
  }));
  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>Ask</h1>
      </header>
      <form class="ask" onSubmit={ask}>
        <label for="question">Question</label>
        <div class="row">
          <input
            id="question"
            type="search"
            data-search
            data-testid="ask-input"
            placeholder={EXAMPLES[0]}
            value={question}
            onInput={(e) => setQuestion((e.target as HTMLInputElement).value)}
          />
          <button type="submit" class="primary" disabled={busy} data-testid="ask-submit">
            {busy ? 'Asking…' : 'Ask'}
          </button>
        </div>
        <p class="muted small">
          Try:{' '}
          {EXAMPLES.map((ex) => (
            <button key={ex} type="button" class="link" onClick={() => setQuestion(ex)}>
              {ex}
            </button>
          ))}
        </p>
      </form>
      <ErrorBox error={error} />
      {answer && (
        <>
          <Card title="The query that ran" wide>
            <pre class="query" data-testid="ask-query">
              {answer.query}
            </pre>
            {answer.answeredBy && <p class="muted small">Interpreted by the {answer.answeredBy}.</p>}
          </Card>
          <Card title={`Results (${answer.rows.length})`} wide>
            <DataTable
              label="Answer"
              testId="ask-results"
              columns={columns}
              rows={answer.rows}
              rowKey={(r) => JSON.stringify(r)}
              onOpen={(r) => {
                if (typeof r['sequence_id'] === 'string') navigate(`/findings/${r['sequence_id']}`);
                else if (typeof r['src_ip'] === 'string')
                  navigate(
                    `/forensics?src=${encodeURIComponent(r['src_ip'])}${typeof r['dst_ip'] === 'string' ? `&dst=${encodeURIComponent(r['dst_ip'])}` : ''}`,
                  );
              }}
              empty="No rows."
            />
          </Card>
        </>
      )}
    </section>
  );
}
