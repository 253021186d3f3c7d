// The adapters directory (ADAPTERS_DIR) the nightly trainer publishes into: noticed by fs.watch, a periodic rescan
// and the ReloadAdapters RPC; every new `lora_*.gguf` is verified (adapter-verify.ts) and, when valid, swapped in
// without downtime (DraftEngine.setAdapter); invalid ones are listed with their reason and never served.
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ADAPTER_FILE,
  adapterArtifacts,
  adapterName,
  compareAdapterFiles,
  errorMessage,
  sha256Text,
} from '@sarai/formats';
import type { Logger } from 'pino';
import type { AdapterRejectReason } from './adapter-reject-reasons.js';
import type { BaseModelIdentity } from './adapter-verify.js';
import { verifyAdapterOffThread } from './adapter-verify-pool.js';
import type { AdapterSwap, DraftEngine } from './engine.js';
import { DraftError } from './errors.js';

export interface AdapterInfoView {
  name: string;
  path: string;
  sha256: string;
  active: boolean;
  baseModelSha256: string;
  loadedAtUnixMs: number;
  inFlight: number;
}

export interface RejectedAdapterView {
  path: string;
  /** `<reason>: <explanation>`, reason one of ADAPTER_REJECT_REASONS. */
  reason: string;
}

/** What ListAdapters / ReloadAdapters / ActivateAdapter answer (AdaptersReply). */
export interface AdaptersView {
  adapters: AdapterInfoView[];
  active: string;
  rejected: RejectedAdapterView[];
}

export interface AdapterDirectoryOptions {
  dir: string;
  /** Armored OpenPGP public key(s) whose manifest signatures are accepted; re-read on every scan. */
  trustedKeysFile: string;
  engine: DraftEngine;
  /** sha256 and architecture (and tensor shapes) of the loaded base model. */
  base: BaseModelIdentity;
  /** LoRA scale applied to published adapters (default 1). */
  scale?: number;
  /** A newly accepted adapter becomes the default for requests that name none (default true). */
  autoActivate?: boolean;
  /** Periodic rescan in ms, a fallback for missed fs.watch events (0 = off). */
  rescanMs: number;
  /** Watch the directory with fs.watch (default true). */
  watch?: boolean;
  logger: Logger;
  onRejected?: (reason: AdapterRejectReason) => void;
  onSwap?: (swap: AdapterSwap) => void;
  /** After the active adapter may have changed. */
  onChange?: () => void;
}

interface Loaded {
  path: string;
  sha256: string;
  baseModelSha256: string;
  loadedAt: number;
}

interface Rejected {
  path: string;
  reason: AdapterRejectReason;
  message: string;
}

/** The adapters view of an engine without an adapters directory (ADAPTERS variants only). */
export function engineAdaptersView(engine: DraftEngine, loadedAt: number): AdaptersView {
  return {
    adapters: engine.variants.filter(Boolean).map((name) => ({
      name,
      path: '',
      sha256: '',
      active: engine.activeAdapter === name,
      baseModelSha256: '',
      loadedAtUnixMs: loadedAt,
      inFlight: engine.inFlight(name),
    })),
    active: engine.activeAdapter,
    rejected: [],
  };
}

/**
 * Watches ADAPTERS_DIR. Scans run one at a time; each one handles the files it has not seen (or whose files or the
 * trusted keys changed since), newest first: invalid ones are rejected with a reason, the newest valid one is loaded
 * (and activated), older new ones are skipped as superseded (ActivateAdapter loads one on demand, e.g. a rollback).
 */
export class AdapterDirectory {
  private readonly loaded = new Map<string, Loaded>();
  /** File name → fingerprint (sizes, mtimes, trusted keys) when it was last handled. */
  private readonly seen = new Map<string, string>();
  private readonly rejected = new Map<string, Rejected>();
  private lock: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly startedAt = Date.now();

  constructor(private readonly o: AdapterDirectoryOptions) {}

  /** First scan (the newest valid adapter serves before the service reports SERVING), then watch and rescan. */
  async start(): Promise<void> {
    await this.reload();
    this.ensureWatch();
    if (this.o.rescanMs > 0) {
      this.timer = setInterval(() => {
        this.ensureWatch();
        this.schedule(0);
      }, this.o.rescanMs);
      this.timer.unref();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private ensureWatch(): void {
    if (this.watcher || this.closed || this.o.watch === false) return;
    try {
      this.watcher = watch(this.o.dir, { persistent: false }, (_event, file) => {
        if (!file || ADAPTER_FILE.test(file) || file.endsWith('.asc') || file.endsWith('.manifest.json'))
          this.schedule(100);
      });
      this.watcher.on('error', (err) => {
        this.o.logger.warn(
          { err, dir: this.o.dir },
          'ADAPTERS_DIR watch failed; relying on the periodic rescan',
        );
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      // Missing directory (nothing published yet) or no inotify: the periodic rescan retries.
      this.o.logger.debug({ err, dir: this.o.dir }, 'ADAPTERS_DIR not watchable yet');
    }
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.reload().catch((err: unknown) => this.o.logger.error({ err }, 'adapter scan failed'));
    }, delayMs);
    this.debounce.unref();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Rescans the directory now (ReloadAdapters); resolves with the resulting view. */
  reload(): Promise<AdaptersView> {
    return this.exclusive(async () => {
      if (!this.closed) await this.scan();
      return this.view();
    });
  }

  private async trustedKeys(): Promise<{ text: string; hash: string }> {
    const text = await readFile(this.o.trustedKeysFile, 'utf8').catch((err: unknown) => {
      this.o.logger.error(
        { err, file: this.o.trustedKeysFile },
        'TRUSTED_KEYS_FILE unreadable: no adapter can verify',
      );
      return '';
    });
    return { text, hash: sha256Text(text).slice(0, 16) };
  }

  private async fingerprint(file: string, keysHash: string): Promise<string> {
    const path = join(this.o.dir, file);
    const { manifest, signature } = adapterArtifacts(path);
    const parts = await Promise.all(
      [path, manifest, signature].map((p) =>
        stat(p).then(
          (s) => `${s.size}@${s.mtimeMs}`,
          () => '-',
        ),
      ),
    );
    return `${parts.join('|')}|${keysHash}`;
  }

  private async scan(): Promise<void> {
    let files: string[];
    try {
      files = (await readdir(this.o.dir)).filter((f) => ADAPTER_FILE.test(f));
    } catch (err) {
      this.o.logger.debug({ err, dir: this.o.dir }, 'ADAPTERS_DIR not readable (nothing published yet?)');
      return;
    }
    const present = new Set(files);
    for (const f of [...this.seen.keys()]) if (!present.has(f)) this.seen.delete(f);
    for (const f of [...this.rejected.keys()]) if (!present.has(f)) this.rejected.delete(f);
    const keys = await this.trustedKeys();
    let settled = false;
    for (const file of files.sort(compareAdapterFiles).reverse()) {
      // Older than the adapter serving: superseded whatever it holds, so a known one costs no stat calls (the
      // trainer keeps every night's file; a scan stays O(new files), not O(directory)).
      if (settled && this.seen.has(file)) continue;
      const fp = await this.fingerprint(file, keys.hash);
      const name = adapterName(file);
      const serving = this.loaded.has(name) && this.o.engine.variants.includes(name);
      if (this.seen.get(file) === fp) {
        settled ||= serving;
        continue;
      }
      if (settled || serving) {
        // Older than the adapter just accepted (superseded), or already serving.
        settled = true;
        this.seen.set(file, fp);
        continue;
      }
      this.seen.set(file, fp);
      settled = await this.admit(file, keys.text, this.o.autoActivate !== false);
    }
  }

  /** Verifies and loads one published file; true when it now serves. Rejections are recorded, never thrown. */
  private async admit(file: string, trusted: string, activate: boolean): Promise<boolean> {
    const path = join(this.o.dir, file);
    const name = adapterName(file);
    if (this.o.engine.variants.includes(name) && !this.loaded.has(name)) {
      this.recordRejection(file, 'name-conflict', `an ADAPTERS variant is already named "${name}"`);
      return false;
    }
    const verdict = await verifyAdapterOffThread({ adapterPath: path, trusted, base: this.o.base });
    if (!verdict.ok) {
      this.recordRejection(file, verdict.reason, verdict.message);
      return false;
    }
    let swap: AdapterSwap;
    try {
      swap = await this.o.engine.setAdapter(name, [{ path, scale: this.o.scale ?? 1 }], { activate });
    } catch (e) {
      this.recordRejection(file, 'load-failed', errorMessage(e));
      return false;
    }
    this.rejected.delete(file);
    this.loaded.set(name, {
      path,
      sha256: verdict.adapter.sha256,
      baseModelSha256: verdict.adapter.baseModelSha256,
      loadedAt: Date.now(),
    });
    for (const dropped of swap.dropped) this.loaded.delete(dropped);
    this.o.onSwap?.(swap);
    this.o.logger.info(
      {
        adapter: name,
        sha256: verdict.adapter.sha256,
        signer: verdict.adapter.signer,
        active: this.o.engine.activeAdapter,
        swap: swap.kind,
        instance: swap.instance,
        dropped: swap.dropped,
      },
      activate ? 'adapter loaded and activated' : 'adapter loaded',
    );
    this.o.onChange?.();
    return true;
  }

  private recordRejection(file: string, reason: AdapterRejectReason, message: string): void {
    this.rejected.set(file, { path: join(this.o.dir, file), reason, message });
    this.o.onRejected?.(reason);
    this.o.logger.warn(
      { adapter: file, reason, detail: message, active: this.o.engine.activeAdapter },
      'adapter rejected; the current adapter keeps serving',
    );
  }

  /**
   * Makes `name` the default: a loaded variant, '' (base model), or a published file not loaded now (verified and
   * loaded first, e.g. to roll back). Unknown names → DRAFT_UNKNOWN_ADAPTER; a refused file → DRAFT_ADAPTER_REJECTED.
   */
  activate(name: string): Promise<AdaptersView> {
    return this.exclusive(async () => {
      const engine = this.o.engine;
      if (name === '' || engine.variants.includes(name)) {
        await engine.activate(name);
      } else {
        const file = `${name}.gguf`;
        const exists =
          ADAPTER_FILE.test(file) && (await stat(join(this.o.dir, file)).catch(() => null)) !== null;
        if (!exists) await engine.activate(name); // throws the NOT_FOUND listing the loaded names
        const keys = await this.trustedKeys();
        this.seen.set(file, await this.fingerprint(file, keys.hash));
        if (!(await this.admit(file, keys.text, true))) {
          const r = this.rejected.get(file);
          throw new DraftError(
            'DRAFT_ADAPTER_REJECTED',
            `adapter "${name}" was rejected (${r?.reason}): ${r?.message}`,
          );
        }
      }
      this.o.onChange?.();
      return this.view();
    });
  }

  /** Loaded adapters (ADAPTERS variants and published ones), the default, and rejected files with reasons. */
  view(): AdaptersView {
    const engine = this.o.engine;
    const base = engineAdaptersView(engine, this.startedAt);
    for (const name of [...this.loaded.keys()]) if (!engine.variants.includes(name)) this.loaded.delete(name);
    return {
      ...base,
      adapters: base.adapters.map((a) => {
        const l = this.loaded.get(a.name);
        return l
          ? {
              ...a,
              path: l.path,
              sha256: l.sha256,
              baseModelSha256: l.baseModelSha256,
              loadedAtUnixMs: l.loadedAt,
            }
          : a;
      }),
      rejected: [...this.rejected.values()]
        .sort((a, b) => (a.path < b.path ? -1 : 1))
        .map((r) => ({ path: r.path, reason: `${r.reason}: ${r.message}` })),
    };
  }
}
