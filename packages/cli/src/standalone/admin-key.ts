import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The bootstrap admin key of the one-process mode: TIDEWATCH_ADMIN_KEY, else the file named by
 * TIDEWATCH_ADMIN_KEY_FILE, else `<dataDir>/admin.key` (created with a random key on first start,
 * mode 0600), so a restarted instance keeps working with the key it printed.
 */
export function resolveAdminKey(
  env: NodeJS.ProcessEnv,
  dataDir: string,
): { key: string; source: string; created: boolean } {
  if (env['TIDEWATCH_ADMIN_KEY'])
    return { key: env['TIDEWATCH_ADMIN_KEY'], source: 'TIDEWATCH_ADMIN_KEY', created: false };
  if (env['TIDEWATCH_ADMIN_KEY_FILE']) {
    const key = readFileSync(env['TIDEWATCH_ADMIN_KEY_FILE'], 'utf8').trim();
    return { key, source: env['TIDEWATCH_ADMIN_KEY_FILE'], created: false };
  }
  const file = join(dataDir, 'admin.key');
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), source: file, created: false };
  mkdirSync(dataDir, { recursive: true });
  const key = `tw_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { key, source: file, created: true };
}
