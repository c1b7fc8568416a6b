import type { OnnxModel, OnnxModelOptions } from './onnx-model.ts';
import type { ModelRepository } from './model-repository.ts';

/**
 * Holds the active model version. A swap loads and validates the new version completely, then
 * replaces one reference: a batch that already took `current` finishes on the old model, the next
 * batch gets the new one (atomic between batches). The previous versions are kept as names (not
 * sessions) so a rollback reloads from disk.
 */
export class ModelHost {
  private model: OnnxModel;
  private readonly history: string[] = [];
  private swapping: Promise<unknown> = Promise.resolve();
  private readonly listeners: ((m: OnnxModel, previous: string) => void)[] = [];

  constructor(
    readonly repository: ModelRepository,
    initial: OnnxModel,
    private readonly opts: OnnxModelOptions = {},
  ) {
    this.model = initial;
  }

  static async open(
    repository: ModelRepository,
    version?: string,
    opts: OnnxModelOptions = {},
  ): Promise<ModelHost> {
    return new ModelHost(repository, await repository.load(version, opts), opts);
  }

  get current(): OnnxModel {
    return this.model;
  }

  get previousVersions(): readonly string[] {
    return this.history;
  }

  onSwap(listener: (m: OnnxModel, previous: string) => void): void {
    this.listeners.push(listener);
  }

  /** Loads `version` (default: the repository's DEFAULT) and switches to it. */
  swap(version?: string): Promise<OnnxModel> {
    return this.serial(async () => {
      const next = await this.repository.load(version, this.opts);
      const old = this.model;
      this.model = next;
      this.history.push(old.version);
      for (const l of this.listeners) l(next, old.version);
      // In-flight runs on the old session hold their own promise; release after they had time to end.
      setTimeout(() => void old.release().catch(() => undefined), 5_000).unref();
      return next;
    });
  }

  /** Switches back to the version active before the last swap. */
  rollback(): Promise<OnnxModel> {
    return this.serial(async () => {
      const prev = this.history[this.history.length - 1];
      if (prev === undefined) throw new Error('no previous model version to roll back to');
      const next = await this.repository.load(prev, this.opts);
      this.history.pop();
      const old = this.model;
      this.model = next;
      for (const l of this.listeners) l(next, old.version);
      setTimeout(() => void old.release().catch(() => undefined), 5_000).unref();
      return next;
    });
  }

  async close(): Promise<void> {
    await this.swapping.catch(() => undefined);
    await this.model.release();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.swapping.then(fn, fn);
    this.swapping = next.catch(() => undefined);
    return next;
  }
}
