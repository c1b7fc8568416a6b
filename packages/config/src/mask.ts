const SECRET_NAME =
  /(^|[^a-z])(key|secret|password|passwd|pwd|token|credentials?|auth|authorization|cookie)s?($|[^a-z])/i;
const SECRET_CAMEL = /(Key|Secret|Password|Token|Credentials?|Auth)s?$/;

export const MASK = '***';

/** True for names that hold secrets: TIDEWATCH_ADMIN_KEY, password, apiToken, sasl_password... */
export function isSecretName(name: string): boolean {
  if (/_FILE$/i.test(name)) return false;
  return SECRET_NAME.test(name) || SECRET_CAMEL.test(name);
}

/** A URL's password (and a user without password, e.g. a token) replaced by the mask. */
export function maskUrl(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  try {
    const u = new URL(value);
    if (!u.username && !u.password) return value;
    if (u.password) u.password = MASK;
    else u.username = MASK;
    for (const name of [...u.searchParams.keys()]) {
      if (isSecretName(name)) u.searchParams.set(name, MASK);
    }
    return u.toString();
  } catch {
    return value;
  }
}

/**
 * A copy of the configuration fit for a log line: values under secret-looking names masked (when
 * set), credentials inside URLs masked, everything else as is.
 */
export function maskSecrets<T>(config: T): T {
  return maskValue(config, undefined) as T;
}

function maskValue(value: unknown, name: string | undefined): unknown {
  if (name !== undefined && isSecretName(name) && value !== undefined && value !== null && value !== '') {
    return MASK;
  }
  if (typeof value === 'string') return maskUrl(value);
  if (Array.isArray(value)) return value.map((v) => maskValue(v, undefined));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskValue(v, k)]));
  }
  return value;
}
