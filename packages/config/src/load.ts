import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, ConfigErrors } from './errors.ts';
import { isSecretName } from './mask.ts';

export type Env = Record<string, string | undefined>;

export interface LoadConfigOptions {
  /**
   * A JSON file of variables (`{ "TIDEWATCH_HTTP_PORT": "8080" }`); the environment wins over it.
   * Default: the file named by TIDEWATCH_CONFIG_FILE, if any.
   */
  file?: string;
}

function readVariablesFile(path: string): Env {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError('TIDEWATCH_CONFIG_FILE', `cannot read ${path}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('TIDEWATCH_CONFIG_FILE', `${path} must hold a JSON object of variables`);
  }
  const vars: Env = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (value === null || value === undefined) continue;
    vars[name] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return vars;
}

/** What a variable was set to, for the error message (secrets are never echoed). */
function shown(name: string, raw: string | undefined): string {
  if (raw === undefined) return 'it is not set';
  if (isSecretName(name)) return `got a value of ${raw.length} characters`;
  return `got ${JSON.stringify(raw.length > 200 ? `${raw.slice(0, 200)}...` : raw)}`;
}

/**
 * Parses configuration from environment variables with a zod object whose keys are the variable
 * names. Empty strings count as unset (compose files leave them empty); a variable `X` may also be
 * given as `X_FILE` naming a file that holds its value (Docker/Kubernetes secrets). Throws a
 * ConfigError naming every bad variable: `TIDEWATCH_HTTP_PORT: expected an integer 0-65535, got "abc"`.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Env = process.env,
  options: LoadConfigOptions = {},
): z.infer<S> {
  const file = options.file ?? env['TIDEWATCH_CONFIG_FILE'];
  const fromFile = file ? readVariablesFile(file) : {};
  const input: Env = {};
  const errors: ConfigError[] = [];
  for (const name of Object.keys(schema.shape)) {
    let value = nonEmpty(env[name]) ?? nonEmpty(fromFile[name]);
    const fileVar = `${name}_FILE`;
    const path = nonEmpty(env[fileVar]) ?? nonEmpty(fromFile[fileVar]);
    if (value === undefined && path !== undefined) {
      try {
        value = readFileSync(path, 'utf8').trim();
      } catch (error) {
        errors.push(new ConfigError(fileVar, `cannot read ${path}: ${(error as Error).message}`));
        continue;
      }
      if (value === '') {
        errors.push(new ConfigError(fileVar, `${path} is empty`));
        continue;
      }
    }
    if (value !== undefined) input[name] = value;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const seen = new Set(errors.map((e) => e.variable));
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? '(config)');
      if (seen.has(name)) continue;
      seen.add(name);
      const raw = input[name];
      const problem = raw === undefined ? `required but not set (${issue.message})` : issue.message;
      errors.push(new ConfigError(name, raw === undefined ? problem : `${problem}, ${shown(name, raw)}`));
    }
  }
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw new ConfigErrors(errors);
  return result.data as z.infer<S>;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * For scripts and tools without runMain: loads the config or prints the error to stderr and exits 1.
 */
export function loadConfigOrExit<S extends z.ZodObject>(
  schema: S,
  env: Env = process.env,
  options: LoadConfigOptions = {},
): z.infer<S> {
  try {
    return loadConfig(schema, env, options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`configuration error:\n${error.message}\n`);
    process.exit(1);
  }
}
