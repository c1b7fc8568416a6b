import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ModelManifest, readManifest } from './manifest.ts';
import { OnnxModel, type OnnxModelOptions } from './onnx-model.ts';

/** `model/versions` of this checkout, or TIDEWATCH_MODEL_DIR. */
export function defaultModelsDir(): string {
  const env = process.env['TIDEWATCH_MODEL_DIR'];
  if (env) return resolve(env);
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../model/versions');
}

export interface ModelVersionInfo {
  version: string;
  dir: string;
  created_at: string;
  is_default: boolean;
  manifest: ModelManifest;
}

export class ModelNotFoundError extends Error {
  override name = 'ModelNotFoundError';
}

/** The versioned model folder: `<root>/<version>/{model.onnx, manifest.json, golden.json}` + `<root>/DEFAULT`. */
export class ModelRepository {
  readonly root: string;

  constructor(root: string = defaultModelsDir()) {
    this.root = root;
  }

  async defaultVersion(): Promise<string> {
    const file = join(this.root, 'DEFAULT');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      throw new ModelNotFoundError(
        `no default model: ${file} does not exist (train one with 'pnpm tidewatch train')`,
      );
    }
    const v = text.trim();
    if (!v) throw new ModelNotFoundError(`${file} is empty`);
    return v;
  }

  /** Every version folder holding a manifest and a model, newest first. */
  async list(): Promise<ModelVersionInfo[]> {
    if (!existsSync(this.root)) return [];
    const def = await this.defaultVersion().catch(() => null);
    const out: ModelVersionInfo[] = [];
    for (const e of await readdir(this.root, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const dir = join(this.root, e.name);
      if (!existsSync(join(dir, 'model.onnx')) || !existsSync(join(dir, 'manifest.json'))) continue;
      try {
        const manifest = await readManifest(dir);
        out.push({
          version: e.name,
          dir,
          created_at: manifest.created_at ?? '',
          is_default: e.name === def,
          manifest,
        });
      } catch {
        // A half-written or foreign folder is not a version; load() reports why if asked for it.
      }
    }
    return out.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
  }

  dirOf(version: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(version))
      throw new ModelNotFoundError(`invalid model version name '${version}'`);
    const dir = join(this.root, version);
    if (!existsSync(join(dir, 'manifest.json'))) {
      throw new ModelNotFoundError(`model version '${version}' not found under ${this.root}`);
    }
    return dir;
  }

  async load(version?: string, opts?: OnnxModelOptions): Promise<OnnxModel> {
    const v = version ?? (await this.defaultVersion());
    return OnnxModel.load(this.dirOf(v), opts);
  }
}
