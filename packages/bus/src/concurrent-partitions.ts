/**
 * Runs `handle` over `items` with at most `limit` running at once, in order of start. After one
 * returns false (stopped, rebalanced, a commit refused) no further item starts. Resolves once every
 * started call settled (never while one still runs: its partition must not be handled twice at
 * once), with false if any returned false; rethrows the first error.
 */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  handle: (item: T) => Promise<boolean>,
): Promise<boolean> {
  if (limit <= 1 || items.length <= 1) {
    for (const item of items) if (!(await handle(item))) return false;
    return true;
  }
  let next = 0;
  let ok = true;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (ok && !failure && next < items.length) {
      const item = items[next++] as T;
      try {
        if (!(await handle(item))) ok = false;
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const lanes: Promise<void>[] = [];
  for (let i = 0; i < Math.min(limit, items.length); i++) lanes.push(lane());
  await Promise.all(lanes);
  if (failure) throw failure.error;
  return ok;
}
