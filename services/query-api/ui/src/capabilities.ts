// Which routes this API instance serves, from its own /openapi.json (public). Pages ask before
// calling an optional route, so an older or slimmer API shows "not available" instead of a 404.

let paths: Promise<Map<string, Set<string>>> | null = null;

function load(): Promise<Map<string, Set<string>>> {
  paths ??= fetch('/openapi.json')
    .then((r) =>
      r.ok ? (r.json() as Promise<{ paths?: Record<string, Record<string, unknown>> }>) : { paths: {} },
    )
    .then((doc) => new Map(Object.entries(doc.paths ?? {}).map(([p, ops]) => [p, new Set(Object.keys(ops))])))
    .catch(() => new Map());
  return paths;
}

/** `path` in OpenAPI form, e.g. `/v1/models/{version}/activate`. */
export async function hasRoute(method: string, path: string): Promise<boolean> {
  return (await load()).get(path)?.has(method.toLowerCase()) ?? false;
}
