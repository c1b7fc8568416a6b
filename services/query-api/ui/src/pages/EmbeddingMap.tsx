import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, type Finding } from '../api.ts';
import { hasRoute } from '../capabilities.ts';
import { tacticName } from '../attack.ts';
import { PALETTE } from '../components/Chart.tsx';
import { ErrorBox, Loading } from '../components/Status.tsx';
import { TimeRangePicker, windowFrom } from '../components/TimeRange.tsx';
import { time } from '../format.ts';
import { navigate, useLocation } from '../router.ts';
import { insidePolygon, pca2 } from '../pca.ts';
import { normalisePage, normaliseSimilar } from '../shapes.ts';
import { useApi } from '../useApi.ts';

const SAMPLE = 1500;
const LANDMARKS = 16;

interface MapPoint {
  finding: Finding;
  x: number;
  y: number;
}

interface Projection {
  points: MapPoint[];
  method: string;
}

type Colouring = 'verdict' | 'tactic';

function colourKey(f: Finding, by: Colouring): string {
  if (by === 'verdict') return f.status === 'suppressed' ? 'suppressed' : f.verdict;
  const t = f.verdict === 'malicious' ? f.tactics?.[0] : undefined;
  return t && t.probability >= 0.5 ? t.id : f.verdict === 'malicious' ? 'unclassified' : 'benign';
}

const FIXED_COLOURS: Record<string, string> = {
  malicious: '#e85a7a',
  benign: '#4e9af1',
  suppressed: '#8e9bb0',
  unclassified: '#f1c14e',
};

/**
 * Vectors from GET /v1/embeddings when the API serves them; otherwise each finding is placed by its
 * cosine similarity to a few landmark findings (GET /v1/findings/{id}/similar), which preserves the
 * neighbourhoods PCA would show, at the cost of one request per landmark.
 */
async function project(win: { from?: number; to?: number }): Promise<Projection> {
  if (await hasRoute('get', '/v1/embeddings')) {
    const res = await api.get<unknown>('/v1/embeddings', { from: win.from, to: win.to, limit: SAMPLE });
    const items = normalisePage<{ vector: number[]; finding?: Finding; payload?: Finding }>(res).items;
    const rows = items.filter((i) => Array.isArray(i.vector));
    const { x, y, explained } = pca2(rows.map((r) => r.vector));
    return {
      points: rows.map((r, i) => ({ finding: (r.finding ?? r.payload) as Finding, x: x[i]!, y: y[i]! })),
      method: `PCA of ${rows.length} embeddings (${Math.round((explained[0] + explained[1]) * 100)}% of variance)`,
    };
  }
  const sample = normalisePage<Finding>(
    await api.get<unknown>('/v1/findings', {
      from: win.from,
      to: win.to,
      status: 'new,in_progress,suppressed,resolved',
      sort: '-score',
      limit: 500,
    }),
  ).items;
  if (sample.length === 0) return { points: [], method: 'no findings in range' };
  // Landmarks spread over the score ranking: the most suspicious and some of the most ordinary.
  const step = Math.max(1, Math.floor(sample.length / LANDMARKS));
  const landmarks = sample.filter((_, i) => i % step === 0).slice(0, LANDMARKS);
  const byId = new Map<string, Finding>(sample.map((f) => [f.sequence_id, f]));
  const sims = new Map<string, Float64Array>();
  const lists = await Promise.all(
    landmarks.map((l) =>
      api
        .get<unknown>(`/v1/findings/${l.sequence_id}/similar`, { k: 200, from: win.from, to: win.to })
        .then(normaliseSimilar),
    ),
  );
  lists.forEach((list, li) => {
    const self = landmarks[li]!;
    const entries = [{ finding: self, similarity: 1 }, ...list];
    for (const s of entries) {
      byId.set(s.finding.sequence_id, s.finding);
      let v = sims.get(s.finding.sequence_id);
      if (!v) {
        v = new Float64Array(landmarks.length).fill(Number.NaN);
        sims.set(s.finding.sequence_id, v);
      }
      v[li] = s.similarity;
    }
  });
  // A point outside a landmark's k nearest is at most as similar as that landmark's k-th.
  const floor = lists.map((l) => Math.min(0, ...l.map((s) => s.similarity)));
  const ids = [...sims.keys()];
  const rows = ids.map((id) => Array.from(sims.get(id)!, (v, li) => (Number.isNaN(v) ? floor[li]! : v)));
  const { x, y } = pca2(rows);
  return {
    points: ids.map((id, i) => ({ finding: byId.get(id)!, x: x[i]!, y: y[i]! })),
    method: `PCA of similarity to ${landmarks.length} landmark findings (${ids.length} points; /v1/embeddings not available)`,
  };
}

/** The API takes at most this many finding ids per case request. */
const CASE_BATCH = 1000;

async function openCase(ids: string[]): Promise<void> {
  const first = ids.slice(0, CASE_BATCH);
  const c = await api.post<{ id: string }>('/v1/cases', {
    title: `Embedding map group (${ids.length} findings)`,
    priority: 'medium',
    finding_ids: first,
  });
  for (let i = CASE_BATCH; i < ids.length; i += CASE_BATCH)
    await api.post(`/v1/cases/${c.id}/findings`, { finding_ids: ids.slice(i, i + CASE_BATCH) });
}

/** Analyst feedback on each selected finding, eight requests in flight at a time. */
async function markCommonplace(ids: string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      await api.post(`/v1/findings/${id}/feedback`, {
        label: 'commonplace',
        comment: 'marked from the embedding map',
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

export function EmbeddingMapPage() {
  const loc = useLocation();
  const win = windowFrom(loc);
  const [by, setBy] = useState<Colouring>('verdict');
  const proj = useApi(() => project(win), [win.from, win.to]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<string>();
  const legend = useMemo(() => {
    const keys = new Map<string, number>();
    for (const p of proj.data?.points ?? []) {
      const k = colourKey(p.finding, by);
      keys.set(k, (keys.get(k) ?? 0) + 1);
    }
    let i = 0;
    return [...keys]
      .sort((a, b) => b[1] - a[1])
      .map(([key, n]) => ({
        key,
        n,
        colour: FIXED_COLOURS[key] ?? (PALETTE[i++ % PALETTE.length] as string),
      }));
  }, [proj.data, by]);

  const act = async (what: string, fn: (ids: string[]) => Promise<unknown>) => {
    setError(undefined);
    setMessage(undefined);
    try {
      await fn([...selected]);
      setMessage(what);
      setSelected(new Set());
      proj.reload();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1}>Embedding map</h1>
        <div class="toolbar">
          <TimeRangePicker loc={loc} />
          <label>
            Colour by{' '}
            <select value={by} onChange={(e) => setBy((e.target as HTMLSelectElement).value as Colouring)}>
              <option value="verdict">Verdict</option>
              <option value="tactic">Tactic</option>
            </select>
          </label>
        </div>
      </header>
      <ErrorBox error={proj.error ?? error} />
      {!proj.data && proj.loading && <Loading what="embeddings" />}
      {proj.data && (
        <>
          <p class="muted small" data-testid="map-method">
            {proj.data.method}. Drag to lasso-select; hover a point to see its sequence; click to open it.
          </p>
          <div class="map-layout">
            <ScatterCanvas
              points={proj.data.points}
              by={by}
              legend={legend}
              selected={selected}
              onSelect={setSelected}
            />
            <aside class="map-side" aria-label="Selection">
              <h2>Legend</h2>
              <ul class="legend">
                {legend.map((l) => (
                  <li key={l.key}>
                    <button
                      type="button"
                      class="link"
                      title="Select every point of this colour"
                      onClick={() =>
                        setSelected(
                          new Set(
                            proj
                              .data!.points.filter((p) => colourKey(p.finding, by) === l.key)
                              .map((p) => p.finding.sequence_id),
                          ),
                        )
                      }
                    >
                      <span class="swatch" style={{ background: l.colour }} />{' '}
                      {by === 'tactic' && l.key.startsWith('TA') ? tacticName(l.key) : l.key} ({l.n})
                    </button>
                  </li>
                ))}
              </ul>
              <h2>
                Selected: <span data-testid="map-selected">{selected.size}</span>
              </h2>
              <div class="stack">
                <button
                  type="button"
                  disabled={!selected.size}
                  data-testid="map-commonplace"
                  onClick={() => act(`${selected.size} findings marked commonplace.`, markCommonplace)}
                >
                  Mark commonplace
                </button>
                <button
                  type="button"
                  disabled={!selected.size}
                  data-testid="map-case"
                  onClick={() => act(`A case was opened with ${selected.size} findings.`, openCase)}
                >
                  Add to a new case
                </button>
                <button type="button" disabled={!selected.size} onClick={() => setSelected(new Set())}>
                  Clear selection
                </button>
              </div>
              {message && (
                <p class="ok" role="status">
                  {message}
                </p>
              )}
            </aside>
          </div>
        </>
      )}
    </section>
  );
}

function ScatterCanvas({
  points,
  by,
  legend,
  selected,
  onSelect,
}: {
  points: MapPoint[];
  by: Colouring;
  legend: { key: string; colour: string }[];
  selected: Set<string>;
  onSelect: (s: Set<string>) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<{ p: MapPoint; sx: number; sy: number } | null>(null);
  const lasso = useRef<{ x: number; y: number }[] | null>(null);
  const [size, setSize] = useState({ w: 800, h: 560 });
  useEffect(() => {
    const el = canvas.current?.parentElement;
    if (!el) return;
    const ro = new ResizeObserver(() =>
      setSize({ w: Math.max(320, el.clientWidth), h: Math.max(360, Math.min(720, el.clientWidth * 0.62)) }),
    );
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const screen = useMemo(() => {
    const pad = 24;
    const xs = points.map((p) => p.x);
    const ys = points.map((p) => p.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const sx = (size.w - 2 * pad) / (x1 - x0 || 1);
    const sy = (size.h - 2 * pad) / (y1 - y0 || 1);
    return points.map((p) => ({ p, sx: pad + (p.x - x0) * sx, sy: size.h - pad - (p.y - y0) * sy }));
  }, [points, size]);
  const colours = useMemo(() => new Map(legend.map((l) => [l.key, l.colour])), [legend]);

  const draw = () => {
    const c = canvas.current;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = size.w * dpr;
    c.height = size.h * dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size.w, size.h);
    for (const s of screen) {
      const isSel = selected.has(s.p.finding.sequence_id);
      ctx.globalAlpha = selected.size && !isSel ? 0.35 : 0.9;
      ctx.fillStyle = colours.get(colourKey(s.p.finding, by)) ?? '#888';
      ctx.beginPath();
      ctx.arc(s.sx, s.sy, isSel ? 4.5 : 3, 0, Math.PI * 2);
      ctx.fill();
      if (isSel) {
        ctx.strokeStyle = getComputedStyle(c).color;
        ctx.lineWidth = 1;
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
    const poly = lasso.current;
    if (poly && poly.length > 1) {
      ctx.strokeStyle = getComputedStyle(c).color;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(poly[0]!.x, poly[0]!.y);
      for (const q of poly) ctx.lineTo(q.x, q.y);
      ctx.closePath();
      ctx.stroke();
      ctx.setLineDash([]);
    }
  };
  useEffect(draw, [screen, selected, colours, by, size]);

  const local = (e: PointerEvent) => {
    const r = canvas.current!.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const nearest = (x: number, y: number) => {
    let best: (typeof screen)[number] | null = null;
    let bestD = 49;
    for (const s of screen) {
      const d = (s.sx - x) ** 2 + (s.sy - y) ** 2;
      if (d < bestD) {
        bestD = d;
        best = s;
      }
    }
    return best;
  };

  return (
    <div class="map-canvas">
      <canvas
        ref={canvas}
        data-testid="embedding-canvas"
        style={{ width: `${size.w}px`, height: `${size.h}px` }}
        role="img"
        aria-label={`Embedding map of ${points.length} sequences`}
        onPointerDown={(e) => {
          lasso.current = [local(e)];
          canvas.current?.setPointerCapture(e.pointerId);
        }}
        onPointerMove={(e) => {
          const q = local(e);
          if (lasso.current) {
            lasso.current.push(q);
            draw();
            return;
          }
          const s = nearest(q.x, q.y);
          setHover(s ? { p: s.p, sx: s.sx, sy: s.sy } : null);
        }}
        onPointerUp={(e) => {
          const poly = lasso.current;
          lasso.current = null;
          const q = local(e);
          if (!poly || poly.length < 4) {
            const s = nearest(q.x, q.y);
            if (s) navigate(`/findings/${s.p.finding.sequence_id}`);
            draw();
            return;
          }
          onSelect(
            new Set(
              screen.filter((s) => insidePolygon(s.sx, s.sy, poly)).map((s) => s.p.finding.sequence_id),
            ),
          );
        }}
        onPointerLeave={() => setHover(null)}
      />
      {hover && (
        <div
          class="tooltip"
          style={{ left: `${hover.sx + 12}px`, top: `${hover.sy + 12}px` }}
          role="tooltip"
          data-testid="map-tooltip"
        >
          <div class="mono">
            {hover.p.finding.src_ip} → {hover.p.finding.dst_ip}
          </div>
          <div>
            {hover.p.finding.verdict} · {hover.p.finding.tactics?.[0]?.name ?? 'no tactic'} · score{' '}
            {hover.p.finding.score.toFixed(2)}
          </div>
          <div class="muted">
            {time(hover.p.finding.window_start_ms)} · {hover.p.finding.connections} conns · ports{' '}
            {hover.p.finding.dst_ports.slice(0, 3).join(',')}
          </div>
        </div>
      )}
    </div>
  );
}
