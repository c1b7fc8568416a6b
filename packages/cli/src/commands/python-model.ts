import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * Runs `python -m <module> <args>` from the repository root inside the model's Python environment
 * (scripts/python-env.sh creates it on a fresh machine). stdout/stderr pass through; resolves to the exit code.
 */
export function runModelModule(module: string, args: readonly string[]): Promise<number> {
  const quoted = args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const script = `. scripts/python-env.sh >&2 && exec "$TW_PYTHON" -W ignore -m ${module} ${quoted}`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd: REPO_ROOT, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
