import { LlamaLogLevel, type Llama } from 'node-llama-cpp';
import type { Logger } from 'pino';
import { DraftError } from '../errors.js';
import { chooseOpenmpVariant, loadBindings, type NodeLlamaCpp, type OpenmpVariant } from './bindings.js';
import { missingCpuFlags } from './cpu-level.js';

type Level = 'warn' | 'debug';

/**
 * Where llama.cpp's start-up messages go: a pino logger, or a buffer replayed into one once it exists (a model
 * preloaded before the service's modules are imported has no logger yet).
 */
export class DeferredLog {
  private target: Logger | undefined;
  private readonly buffered: Array<[Level, object, string]> = [];

  constructor(target?: Logger) {
    this.target = target;
  }

  warn(obj: object, msg: string): void {
    this.write('warn', obj, msg);
  }

  debug(obj: object, msg: string): void {
    this.write('debug', obj, msg);
  }

  /** From now on messages go to `logger`; buffered ones are written to it first (at most 100 are kept). */
  attach(logger: Logger | undefined): void {
    this.target = logger;
    for (const [level, obj, msg] of this.buffered.splice(0)) logger?.[level](obj, msg);
  }

  private write(level: Level, obj: object, msg: string): void {
    if (this.target) this.target[level](obj, msg);
    else if (this.buffered.length < 100) this.buffered.push([level, obj, msg]);
  }
}

/** What {@link openLlama} needs: which binaries, and the most threads a context may use. */
export interface OpenLlamaOptions {
  binaries: 'prebuilt' | 'openmp';
  openmpModule?: string | undefined;
  threads: number;
}

/** A loaded llama.cpp: the node-llama-cpp module it came from, the build picked, its recent error lines. */
export interface OpenedLlama {
  readonly nlc: NodeLlamaCpp;
  readonly llama: Llama;
  /** The binaries really loaded ('prebuilt' when an OpenMP build does not fit this CPU). */
  readonly binaries: 'prebuilt' | 'openmp';
  readonly variant: OpenmpVariant | undefined;
  /** llama.cpp's latest error/fatal lines (at most 20), for error messages. */
  readonly errors: string[];
  readonly log: DeferredLog;
}

/**
 * Whether the libuv thread pool has one thread (UV_THREADPOOL_SIZE=1, as in the image): every decode then comes from
 * one OpenMP team, and no two llama.cpp jobs ever run at the same time.
 */
export const singlePoolThread = (): boolean => process.env['UV_THREADPOOL_SIZE'] === '1';

/**
 * Loads node-llama-cpp's bindings (the best OpenMP build this CPU runs, else the prebuilt binaries) and a Llama
 * instance for CPU inference. Fails with DRAFT_MODEL_LOAD_FAILED saying how to fix the binaries.
 */
export async function openLlama(options: OpenLlamaOptions, log = new DeferredLog()): Promise<OpenedLlama> {
  let binaries = options.binaries;
  let variant: OpenmpVariant | undefined;
  let openmpModule = options.openmpModule;
  if (binaries === 'openmp') {
    const choice = await chooseOpenmpVariant(options.openmpModule);
    if ('reason' in choice) {
      log.warn({ missingCpuFlags: missingCpuFlags() }, choice.reason);
      binaries = 'prebuilt';
    } else {
      variant = choice.variant;
      openmpModule = choice.module;
    }
  }
  if (binaries === 'openmp' && !singlePoolThread()) {
    log.warn(
      {},
      'LLAMA_BINARIES=openmp runs best with UV_THREADPOOL_SIZE=1 (one OpenMP team for all decodes)',
    );
  }
  const errors: string[] = [];
  const nlc = await loadBindings(binaries, openmpModule);
  try {
    const llama = await nlc.getLlama({
      gpu: false,
      maxThreads: options.threads,
      build: 'never',
      ...(binaries === 'openmp'
        ? { usePrebuiltBinaries: false, cmakeOptions: { ...variant?.cmakeOptions } }
        : { usePrebuiltBinaries: true }),
      progressLogs: false,
      skipDownload: true,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        const line = message.trim();
        if (!line) return;
        if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) {
          errors.push(line);
          if (errors.length > 20) errors.shift();
        }
        log.debug({ llama: level }, line);
      },
    });
    return { nlc, llama, binaries, variant, errors, log };
  } catch (e) {
    throw new DraftError(
      'DRAFT_MODEL_LOAD_FAILED',
      binaries === 'openmp'
        ? `LLAMA_BINARIES=openmp: the OpenMP build of node-llama-cpp did not load (${(e as Error).message}); rebuild it with nx run @sarai/skill-draft:openmp-binaries`
        : `node-llama-cpp's CPU binaries could not be loaded: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
