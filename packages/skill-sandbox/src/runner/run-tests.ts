import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SandboxError } from '../errors.js';
import { jsonEqual, parseGot } from './compare.js';
import { HARNESS_SOURCE } from './harness-source.js';
import { MAX_LIMITS, resolveLimits, validateRequest } from './limits.js';
import { netnsArgs, type NetIsolation } from './netns.js';
import { childNodeFlags, nodeMajorOf } from './node-flags.js';
import { sampleProcess } from './proc-stats.js';
import type {
  ResolvedLimits,
  SandboxRequest,
  SandboxResult,
  SandboxTestResult,
  StopReason,
} from './types.js';

/** Where and how children run. */
export interface RunnerOptions {
  /** Node binary for the children (default: this process's). */
  nodePath?: string;
  /** Its version string when it is not this process's Node (e.g. `v24.21.0`). */
  nodeVersion?: string;
  /** Parent directory of the per-request working directories; a tmpfs in the container (default: os.tmpdir()). */
  workRoot?: string;
  /** Ceilings of request limits (default MAX_LIMITS). */
  ceilings?: ResolvedLimits;
  /** How often RSS and CPU of a child are sampled, ms (default 10). */
  sampleMs?: number;
  /** Start each child in a network namespace of its own (see probeNetIsolation); default: the caller's network. */
  netns?: NetIsolation;
}

/** Bytes of the result channel (fd 3) beyond which the run counts as flooding it. */
const RESULT_CHANNEL_CAP = 4 * 1024 * 1024;
/** The heap is capped this far below the RSS limit (Node's own code, stacks and buffers live outside it). */
const HEAP_HEADROOM_MB = 56;

interface Frame {
  n?: string;
  t?: string;
  i?: number;
  got?: string;
  error?: string;
  cpuUs?: number;
  maxRssKb?: number;
}

/** Captures a stream up to `cap` bytes; reports once when more arrives. */
function capture(stream: Readable, cap: number, onOverflow: () => void) {
  const chunks: Buffer[] = [];
  let kept = 0;
  let seen = 0;
  let truncated = false;
  stream.on('data', (c: Buffer) => {
    seen += c.length;
    if (kept < cap) {
      const part = c.subarray(0, cap - kept);
      chunks.push(part);
      kept += part.length;
    }
    if (seen > cap && !truncated) {
      truncated = true;
      onOverflow();
    }
  });
  return {
    text: () => Buffer.concat(chunks).toString('utf8'),
    truncated: () => truncated,
  };
}

/**
 * Runs `req` in a fresh child process: empty environment, Node's permission model (read/write only its own tmp dir),
 * the harness as `-e` program, the job on stdin. Enforces wall, CPU, RSS and output limits from the parent and
 * removes the working directory afterwards. Never throws for anything the code does; throws `SandboxError`
 * (`SANDBOX_BAD_REQUEST`) for a request that cannot be run and `SANDBOX_RUNNER_FAILED` if no child can start.
 */
export async function runTests(req: SandboxRequest, options: RunnerOptions = {}): Promise<SandboxResult> {
  validateRequest(req);
  const limits = resolveLimits(req.limits, options.ceilings ?? MAX_LIMITS);
  const nodePath = options.nodePath ?? process.execPath;
  const major = nodeMajorOf(options.nodeVersion ?? process.version);
  let workDir: string;
  try {
    workDir = await mkdtemp(join(options.workRoot ?? tmpdir(), 'sarai-sbx-'));
  } catch (e) {
    throw new SandboxError(
      'SANDBOX_RUNNER_FAILED',
      `cannot create a working directory: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  try {
    return await supervise(req, limits, nodePath, major, workDir, options.sampleMs ?? 10, options.netns);
  } finally {
    await rm(workDir, { recursive: true, force: true, maxRetries: 3 });
  }
}

function supervise(
  req: SandboxRequest,
  limits: ResolvedLimits,
  nodePath: string,
  major: number,
  workDir: string,
  sampleMs: number,
  netns: NetIsolation | undefined,
): Promise<SandboxResult> {
  const nonce = randomBytes(16).toString('hex');
  const heapMb = Math.max(16, limits.memoryMb - HEAP_HEADROOM_MB);
  const started = performance.now();
  const nodeArgs = [...childNodeFlags(major, workDir, heapMb), '-e', HARNESS_SOURCE];
  // with netns, `unshare` execs node: the pid (limits, /proc sampling, kill) stays the child's
  const [command, args] = netns ? [netns.unshare, netnsArgs(nodePath, nodeArgs)] : [nodePath, nodeArgs];
  const child = spawn(command, args, {
    cwd: workDir,
    env: {},
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    windowsHide: true,
  });

  const { stdin, stdout: out, stderr: err } = child;
  const channel = child.stdio[3] as Readable | null;
  if (!stdin || !out || !err || !channel)
    throw new SandboxError('SANDBOX_RUNNER_FAILED', 'child stdio missing');

  let stop: StopReason | undefined;
  const halt = (reason: StopReason): void => {
    if (stop === undefined) stop = reason;
    child.kill('SIGKILL');
  };

  const stdout = capture(out, limits.outputBytes, () => halt('output-limit'));
  const stderr = capture(err, limits.outputBytes, () => halt('output-limit'));

  const results = new Map<number, { got: string; error: string }>();
  let loadError = '';
  let done: Frame | undefined;
  let channelBytes = 0;
  let pendingLine = '';
  channel.setEncoding('utf8');
  channel.on('data', (text: string) => {
    channelBytes += text.length;
    if (channelBytes > RESULT_CHANNEL_CAP) return halt('output-limit');
    const lines = (pendingLine + text).split('\n');
    pendingLine = lines.pop() ?? '';
    for (const line of lines) {
      let f: Frame;
      try {
        f = JSON.parse(line) as Frame;
      } catch {
        continue;
      }
      if (f.n !== nonce) continue; // not from the harness
      if (
        f.t === 'test' &&
        typeof f.i === 'number' &&
        f.i >= 0 &&
        f.i < req.tests.length &&
        !results.has(f.i)
      )
        results.set(f.i, { got: String(f.got ?? ''), error: String(f.error ?? '') });
      else if (f.t === 'load') loadError = String(f.error ?? '');
      else if (f.t === 'done') done = f;
    }
  });

  let peak = 0;
  let cpuMs = 0;
  const memoryBytes = limits.memoryMb * 1024 * 1024;
  let sampling = false;
  const sampler = setInterval(() => {
    if (sampling || child.pid === undefined) return;
    sampling = true;
    void sampleProcess(child.pid).then((s) => {
      sampling = false;
      if (!s) return;
      peak = Math.max(peak, s.peakRssBytes, s.rssBytes);
      cpuMs = Math.max(cpuMs, s.cpuMs);
      if (s.rssBytes > memoryBytes) halt('memory');
      else if (s.cpuMs > limits.cpuMs) halt('timeout');
    });
  }, sampleMs);
  const wall = setTimeout(() => halt('timeout'), limits.wallMs);

  // The job: tests as JSON strings so no host object ever enters the code's realm.
  const job = JSON.stringify({
    nonce,
    code: req.code,
    language: req.language,
    fn: req.functionName,
    tests: req.tests.map((t) => JSON.stringify(t.args)),
    testTimeoutMs: limits.testTimeoutMs,
  });
  stdin.on('error', () => undefined); // a child that dies early closes the pipe
  stdin.end(job);

  return new Promise<SandboxResult>((resolve, reject) => {
    child.once('error', (e) => {
      clearInterval(sampler);
      clearTimeout(wall);
      reject(
        new SandboxError('SANDBOX_RUNNER_FAILED', `cannot start ${nodePath}: ${e.message}`, { cause: e }),
      );
    });
    child.once('close', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(wall);
      const wallMs = performance.now() - started;
      if (done) {
        cpuMs = Math.max(cpuMs, (done.cpuUs ?? 0) / 1000);
        peak = Math.max(peak, (done.maxRssKb ?? 0) * 1024);
      }
      const errText = stderr.text();
      let reason: StopReason = stop ?? 'ok';
      if (stop === undefined && !done) {
        reason = /heap out of memory|Reached heap limit|Allocation failed/i.test(errText)
          ? 'memory'
          : 'crash';
      }
      const why = stopMessage(reason, limits, code, signal);
      const tests: SandboxTestResult[] = req.tests.map((t, i) => {
        const r = results.get(i);
        if (!r)
          return { passed: false, got: '', error: loadError || why || 'not run: the code ended the process' };
        if (r.error) return { passed: false, got: r.got, error: r.error };
        return { passed: jsonEqual(parseGot(r.got), t.expected), got: r.got, error: '' };
      });
      resolve({
        tests,
        stop: reason,
        error: loadError || why,
        stdout: stdout.text(),
        stderr: errText,
        stdoutTruncated: stdout.truncated(),
        stderrTruncated: stderr.truncated(),
        wallMs,
        cpuMs,
        peakMemoryBytes: peak,
      });
    });
  });
}

function stopMessage(
  reason: StopReason,
  limits: ResolvedLimits,
  code: number | null,
  signal: NodeJS.Signals | null,
): string {
  switch (reason) {
    case 'ok':
      return '';
    case 'timeout':
      return `stopped: over the time limit (${limits.wallMs} ms wall or ${limits.cpuMs} ms CPU)`;
    case 'memory':
      return `stopped: over the memory limit (${limits.memoryMb} MiB)`;
    case 'output-limit':
      return `stopped: more output than ${limits.outputBytes} bytes`;
    case 'crash':
      return `the code ended the test process (${signal ? `signal ${signal}` : `exit code ${code}`})`;
  }
}
