/**
 * Sorts `a[0…n)` ascending in place, without allocating: insertion sort when short (no subarray
 * view), else the typed array sort of a view. For hot paths that keep their values in scratch
 * typed arrays (sub-score quantiles, a finding's ports and protocols).
 */
export function sortPrefix(a: Float64Array, n: number): void {
  if (n > 64) {
    a.subarray(0, n).sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const v = a[i] as number;
    let j = i - 1;
    while (j >= 0 && (a[j] as number) > v) {
      a[j + 1] = a[j] as number;
      j--;
    }
    a[j + 1] = v;
  }
}
