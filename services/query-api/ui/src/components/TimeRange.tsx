import type { Location } from '../router.ts';
import { setQuery } from '../router.ts';

export const RANGES = [
  { id: 'all', label: 'All time', ms: 0 },
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: 'Last 24 h', ms: 86_400_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
  { id: 'custom', label: 'Custom…', ms: 0 },
] as const;

export interface TimeWindow {
  from?: number;
  to?: number;
}

/** The time window a page's URL asks for (`range=24h`, or `range=custom&from=…&to=…`). */
export function windowFrom(loc: Location, now = Date.now()): TimeWindow {
  const range = loc.query.get('range') ?? 'all';
  if (range === 'custom') {
    const from = Date.parse(loc.query.get('from') ?? '');
    const to = Date.parse(loc.query.get('to') ?? '');
    return { ...(Number.isFinite(from) ? { from } : {}), ...(Number.isFinite(to) ? { to } : {}) };
  }
  const preset = RANGES.find((r) => r.id === range);
  return preset && preset.ms > 0 ? { from: now - preset.ms, to: now } : {};
}

export function TimeRangePicker({ loc }: { loc: Location }) {
  const range = loc.query.get('range') ?? 'all';
  return (
    <fieldset class="time-range">
      <legend class="sr-only">Time range</legend>
      <label>
        <span class="sr-only">Time range</span>
        <select
          value={range}
          data-testid="time-range"
          onChange={(e) => setQuery({ range: (e.target as HTMLSelectElement).value, cursor: null })}
        >
          {RANGES.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </select>
      </label>
      {range === 'custom' && (
        <>
          <label>
            From{' '}
            <input
              type="datetime-local"
              value={loc.query.get('from') ?? ''}
              onChange={(e) => setQuery({ from: (e.target as HTMLInputElement).value, cursor: null })}
            />
          </label>
          <label>
            To{' '}
            <input
              type="datetime-local"
              value={loc.query.get('to') ?? ''}
              onChange={(e) => setQuery({ to: (e.target as HTMLInputElement).value, cursor: null })}
            />
          </label>
        </>
      )}
    </fieldset>
  );
}
