/**
 * Principal component analysis by power iteration on the centred data (never forming the D×D
 * covariance): each step is v ← Xᵀ(X v), O(N·D). Returns the N×2 projection on the top two
 * components, deterministic for a given input (fixed start vector).
 */
export function pca2(
  rows: ArrayLike<number>[],
  iterations = 60,
): { x: Float64Array; y: Float64Array; explained: [number, number] } {
  const n = rows.length;
  const d = n ? rows[0]!.length : 0;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  if (n === 0 || d === 0) return { x, y, explained: [0, 0] };
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j]! += (r[j] ?? 0) / n;
  const centred = rows.map((r) => {
    const c = new Float64Array(d);
    for (let j = 0; j < d; j++) c[j] = (r[j] ?? 0) - mean[j]!;
    return c;
  });
  let total = 0;
  for (const c of centred) for (let j = 0; j < d; j++) total += c[j]! * c[j]!;
  const components: Float64Array[] = [];
  const variances: number[] = [];
  for (let k = 0; k < 2; k++) {
    let v = new Float64Array(d);
    for (let j = 0; j < d; j++) v[j] = 1 / Math.sqrt(d) + (j % 7) * 1e-3 * (k + 1);
    let lambda = 0;
    for (let it = 0; it < iterations; it++) {
      for (const prev of components) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += v[j]! * prev[j]!;
        for (let j = 0; j < d; j++) v[j]! -= dot * prev[j]!;
      }
      const next = new Float64Array(d);
      for (const c of centred) {
        let s = 0;
        for (let j = 0; j < d; j++) s += c[j]! * v[j]!;
        for (let j = 0; j < d; j++) next[j]! += s * c[j]!;
      }
      let norm = 0;
      for (let j = 0; j < d; j++) norm += next[j]! * next[j]!;
      norm = Math.sqrt(norm);
      if (norm === 0) break;
      lambda = norm;
      for (let j = 0; j < d; j++) next[j]! /= norm;
      v = next;
    }
    components.push(v);
    variances.push(lambda);
  }
  const [pc1, pc2] = components as [Float64Array, Float64Array];
  centred.forEach((c, i) => {
    let a = 0;
    let b = 0;
    for (let j = 0; j < d; j++) {
      a += c[j]! * pc1[j]!;
      b += c[j]! * pc2[j]!;
    }
    x[i] = a;
    y[i] = b;
  });
  return { x, y, explained: [total ? variances[0]! / total : 0, total ? variances[1]! / total : 0] };
}

/** Even-odd ray casting: is (px, py) inside the polygon? */
export function insidePolygon(px: number, py: number, poly: { x: number; y: number }[]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const a = poly[i]!;
    const b = poly[j]!;
    if (a.y > py !== b.y > py && px < ((b.x - a.x) * (py - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}
