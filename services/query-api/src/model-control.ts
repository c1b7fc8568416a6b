import type { ModelRepository, ModelVersionInfo } from '@tidewatch/detector';
import { ApiError } from './errors.ts';

/** The inference process's model switch, when the query API runs in the same process. */
export interface ModelControl {
  active(): string | null;
  activate(version: string): Promise<void>;
}

export interface ModelRow {
  version: string;
  created_at: string;
  active: boolean;
  default: boolean;
  embedding_dim: number;
  tactics: string[];
  thresholds: Record<string, number>;
  feature_spec_hash: string;
  metrics: unknown;
}

/**
 * The model versions on disk and how to switch between them: through the in-process inference app
 * when there is one, else through the inference service's admin endpoint, else not at all (409).
 */
export class ModelCatalog {
  #repository: Promise<ModelRepository> | null = null;

  constructor(
    private readonly opts: {
      control?: ModelControl;
      repository?: ModelRepository;
      inferenceAdminUrl?: string;
      adminKey: string;
    },
  ) {}

  // Loaded on first use: @tidewatch/detector brings the ONNX runtime, which listing never needs up front.
  repository(): Promise<ModelRepository> {
    this.#repository ??= this.opts.repository
      ? Promise.resolve(this.opts.repository)
      : import('@tidewatch/detector').then((m) => new m.ModelRepository());
    return this.#repository;
  }

  /** True when inference runs in this process, so its state is known here. */
  get inProcess(): boolean {
    return this.opts.control !== undefined;
  }

  active(): string | null {
    return this.opts.control?.active() ?? null;
  }

  async defaultVersion(): Promise<string | null> {
    return (await this.repository()).defaultVersion().catch(() => null);
  }

  async list(): Promise<{ versions: ModelRow[]; active: string | null; default: string | null }> {
    const versions = await (await this.repository()).list();
    const active = this.active();
    const def = versions.find((v) => v.is_default)?.version ?? null;
    return { versions: versions.map((v) => row(v, active)), active, default: def };
  }

  async activate(version: string): Promise<ModelRow> {
    const info = (await (await this.repository()).list()).find((v) => v.version === version);
    if (!info) throw new ApiError(404, 'not_found', `model version '${version}' not found`);
    if (this.opts.control) {
      await this.opts.control.activate(version).catch((e: unknown) => {
        throw new ApiError(409, 'conflict', `activating ${version} failed: ${(e as Error).message}`);
      });
    } else if (this.opts.inferenceAdminUrl) {
      await this.#swapRemote(this.opts.inferenceAdminUrl, version);
    } else {
      throw new ApiError(
        409,
        'conflict',
        'model activation needs the inference service: this query API runs apart from it and TIDEWATCH_INFERENCE_ADMIN_URL is not set',
      );
    }
    return row(info, this.opts.control ? this.active() : version);
  }

  async #swapRemote(base: string, version: string): Promise<void> {
    const url = new URL('/v1/admin/model/swap', base);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.opts.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ version }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      throw new ApiError(
        502,
        'bad_gateway',
        `inference admin at ${url} unreachable: ${(e as Error).message}`,
      );
    }
    if (res.ok) return;
    const text = await res.text();
    let reason = text;
    try {
      reason = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {}
    throw new ApiError(
      res.status === 409 ? 409 : 502,
      res.status === 409 ? 'conflict' : 'bad_gateway',
      `inference refused to activate ${version} (${res.status}): ${reason}`,
    );
  }
}

function row(v: ModelVersionInfo, active: string | null): ModelRow {
  const m = v.manifest;
  return {
    version: v.version,
    created_at: v.created_at,
    active: v.version === active,
    default: v.is_default,
    embedding_dim: m.embedding_dim,
    tactics: m.tactics,
    thresholds: m.thresholds,
    feature_spec_hash: m.feature_spec_hash,
    metrics: m.metrics ?? null,
  };
}
