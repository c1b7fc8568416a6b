import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelRepository } from '../src/index.ts';

/** The model repository the tests use: model/versions of this checkout (or TIDEWATCH_MODEL_DIR). */
export const repository = new ModelRepository();

/** A temporary repository holding copies of the default model under new version names. */
export async function copiedRepository(
  versions: string[],
  patch: (manifest: Record<string, unknown>, version: string) => void = () => {},
): Promise<ModelRepository> {
  const src = repository.dirOf(await repository.defaultVersion());
  const root = await mkdtemp(join(tmpdir(), 'tw-models-'));
  for (const v of versions) {
    const dir = join(root, v);
    await cp(src, dir, { recursive: true });
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    manifest['version'] = v;
    patch(manifest, v);
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  }
  await writeFile(join(root, 'DEFAULT'), `${versions[0]}\n`);
  return new ModelRepository(root);
}
