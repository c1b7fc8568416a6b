import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { type Column, DataTable } from '../components/DataTable.tsx';
import { Card, ErrorBox } from '../components/Status.tsx';
import { navigate } from '../router.ts';

const EXAMPLES = [
  'which techniques were seen today',
  'high-severity findings from 10.0.0.5 in the last hour',
  'traffic between 10.0.0.5 and 10.0.0.9',
  'top 20 events similar to sequence <id>',
];

interface Answer {
  rows: Record<string, unknown>[];
  query: unknown;
  summary?: string;
}

function toAnswer(v: unknown): Answer {
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const table = o['table'] ?? o['rows'] ?? o['items'] ?? o['results'] ?? [];
  const rows = (Array.isArray(table) ? table : ((table as { rows?: unknown[] }).rows ?? [])) as Record<
    string,
    unknown
  >[];
  const summary = o['answer'] ?? o['summary'] ?? o['text'];
  return {
    rows: rows.map((r) => (r && typeof r === 'object' ? r : { value: r })),
    query: o['query'] ?? o['ran'] ?? o['interpretation'] ?? null,
    ...(typeof summary === 'string' ? { summary } : {}),
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
  const keys = answer?.rows.length
    ? Object.keys(answer.rows[0] ?? {})
        .filter((k) => k !== 'explanation')
        .slice(0, 10)
    : [];
  const columns: Column<Record<string, unknown>>[] = keys.map((k) => ({
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
          {answer.summary && <p>{answer.summary}</p>}
          <Card title="The query that ran" wide>
            <pre class="query" data-testid="ask-query">
              {typeof answer.query === 'string' ? answer.query : JSON.stringify(answer.query, null, 2)}
            </pre>
          </Card>
          <Card title={`Results (${answer.rows.length})`} wide>
            <DataTable
              label="Answer"
              testId="ask-results"
              columns={columns}
              rows={answer.rows}
              rowKey={(r) => String(r['sequence_id'] ?? JSON.stringify(r))}
              onOpen={(r) => {
                if (typeof r['sequence_id'] === 'string') navigate(`/findings/${r['sequence_id']}`);
              }}
              empty="No rows."
            />
          </Card>
        </>
      )}
    </section>
  );
}
