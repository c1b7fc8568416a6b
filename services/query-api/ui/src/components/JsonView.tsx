import { time } from '../format.ts';

function scalar(key: string, v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') {
    if (key.endsWith('_ms') && v > 1e12) return time(v);
    return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(3);
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) return v.join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const label = (k: string) => k.replaceAll('_', ' ');

/** Renders a status document whatever its shape: lists of records as tables, records as lists. */
export function JsonView({ value, name = '' }: { value: unknown; name?: string }) {
  if (
    Array.isArray(value) &&
    value.length &&
    value.every((r) => r && typeof r === 'object' && !Array.isArray(r))
  ) {
    const keys = [...new Set(value.flatMap((r) => Object.keys(r as object)))].slice(0, 10);
    return (
      <div class="table-wrap">
        <table class="compact" aria-label={label(name) || 'Details'}>
          <thead>
            <tr>
              {keys.map((k) => (
                <th key={k} scope="col">
                  {label(k)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {value.map((r, i) => (
              <tr key={i}>
                {keys.map((k) => (
                  <td key={k}>{scalar(k, (r as Record<string, unknown>)[k])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return (
      <dl class="kv">
        {Object.entries(value).map(([k, v]) =>
          v && typeof v === 'object' && !(Array.isArray(v) && v.every((x) => typeof x !== 'object')) ? (
            <div key={k} class="kv-nested">
              <dt>{label(k)}</dt>
              <dd>
                <JsonView value={v} name={k} />
              </dd>
            </div>
          ) : (
            <div key={k}>
              <dt>{label(k)}</dt>
              <dd>{scalar(k, v)}</dd>
            </div>
          ),
        )}
      </dl>
    );
  }
  return <span>{scalar(name, value)}</span>;
}
