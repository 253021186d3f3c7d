/**
 * The program the child runs (`node -e`), as CommonJS source. It reads one job from stdin, then locks itself down
 * before any model-written code runs, and runs that code in a `vm` context that holds nothing of the host realm:
 *
 * - The child's own realm cannot compile code from strings (`--disallow-code-generation-from-strings`), so a
 *   `constructor.constructor('return process')` that reaches it throws; the context itself keeps eval (tests may
 *   use it) but gets no WebAssembly code generation.
 * - The only host functions in the context are two output sinks with a null prototype that never throw.
 * - `process.kill`/`_kill` (the parent has the same uid), `getBuiltinModule`, `binding`, `dlopen`, `chdir` are
 *   replaced by non-configurable throwers, and `require`/`module` globals are deleted.
 * Results go to fd 3 as JSON lines tagged with a per-job nonce the code never sees; console output goes to fds 1/2.
 *
 * This is the second layer. The first is the process itself: empty environment, Node's permission model (read and
 * write only the request's tmp dir; no child processes, workers, addons, WASI, inspector), heap, RSS, CPU, wall and
 * output limits enforced by the parent — and in the container, no network, read-only rootfs and no capabilities.
 */
export const HARNESS_SOURCE = String.raw`'use strict';
const vm = require('node:vm');
const fs = require('node:fs');
const writeSync = fs.writeSync;
const jsonParse = JSON.parse;
const jsonStringify = JSON.stringify;
const exit = process.exit.bind(process);
const cpuUsage = process.cpuUsage.bind(process);
const resourceUsage = process.resourceUsage.bind(process);
const setTimer = setTimeout;
const randomBytes = require('node:crypto').randomBytes;
let stripTypes;
try { stripTypes = require('node:module').stripTypeScriptTypes; } catch { stripTypes = undefined; }

function writeAll(fd, text) {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try { off += writeSync(fd, buf, off, buf.length - off); }
    catch (e) { if (e && e.code === 'EAGAIN') continue; return; }
  }
}

function lockDown() {
  const denied = (what) => function () { throw new Error(what + ' is not available in the sandbox'); };
  for (const k of ['kill', '_kill', 'getBuiltinModule', 'binding', '_linkedBinding', 'dlopen', 'chdir',
    'setuid', 'setgid', 'seteuid', 'setegid', 'setgroups', 'initgroups', 'openStdin']) {
    try { Object.defineProperty(process, k, { value: denied('process.' + k), writable: false, configurable: false }); }
    catch { /* already locked */ }
  }
  for (const k of ['require', 'module', 'exports', '__filename', '__dirname']) {
    try { delete globalThis[k]; } catch { /* not configurable */ }
  }
}

function sink(fd) {
  const f = function (s) { try { writeAll(fd, typeof s === 'string' ? s : ''); } catch { /* never throw */ } };
  Object.setPrototypeOf(f, null);
  return f;
}

// Strict, and it RETURNS the call wrapper instead of putting it on the global: nothing the code can reach reports a
// result (stack inspection of strict frames yields no function or receiver either).
const CONTEXT_PRELUDE = "(() => {\n  'use strict';\n" +
  "  const out = globalThis.__out, err = globalThis.__err, report = globalThis.__report;\n" +
  "  delete globalThis.__out; delete globalThis.__err; delete globalThis.__report;\n" +
  "  const show = (x) => { if (typeof x === 'string') return x; try { const j = JSON.stringify(x); return j === undefined ? String(x) : j; } catch { try { return String(x); } catch { return '[unprintable]'; } } };\n" +
  "  const line = (a) => a.map(show).join(' ') + '\\n';\n" +
  "  globalThis.console = Object.freeze({ log: (...a) => out(line(a)), info: (...a) => out(line(a)), debug: (...a) => out(line(a)),\n" +
  "    warn: (...a) => err(line(a)), error: (...a) => err(line(a)), trace: (...a) => err(line(a)) });\n" +
  "  const encode = (v) => { if (v === undefined) return 'undefined'; const j = JSON.stringify(v); if (j === undefined) throw new TypeError('the result is not JSON (' + typeof v + ')'); return j; };\n" +
  "  const message = (e) => { try { return e !== null && typeof e === 'object' && typeof e.message === 'string' ? String(e.name) + ': ' + e.message : 'threw ' + show(e); } catch { return 'threw an unprintable value'; } };\n" +
  "  return (fn, argsJson, i) => {\n" +
  "    let r;\n" +
  "    try { r = fn(...JSON.parse(argsJson)); } catch (e) { report(i, '', message(e)); return; }\n" +
  "    if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {\n" +
  "      Promise.resolve(r).then((v) => { try { report(i, encode(v), ''); } catch (e) { report(i, '', message(e)); } }, (e) => report(i, '', message(e)));\n" +
  "      return;\n" +
  "    }\n" +
  "    try { report(i, encode(r), ''); } catch (e) { report(i, '', message(e)); }\n" +
  "  };\n" +
  "})();";

function main(job) {
  const nonce = job.nonce;
  const emit = (obj) => { obj.n = nonce; writeAll(3, jsonStringify(obj) + '\n'); };
  const finish = () => {
    const ru = resourceUsage();
    const cpu = cpuUsage();
    emit({ t: 'done', cpuUs: cpu.user + cpu.system, maxRssKb: ru.maxRSS });
    exit(0);
  };
  let code = job.code;
  if (job.language === 'typescript') {
    if (typeof stripTypes !== 'function') {
      emit({ t: 'load', error: 'typescript needs Node >= 22.13 in the sandbox (module.stripTypeScriptTypes)' });
      return finish();
    }
    try { code = stripTypes(code, { mode: 'strip' }); }
    catch (e) { emit({ t: 'load', error: 'the code does not compile: ' + String(e && e.message || e) }); return finish(); }
  }
  const pending = new Set();
  let waiting = null;
  const reportRaw = function (i, got, error) {
    try {
      const idx = typeof i === 'number' ? i : -1;
      if (!pending.has(idx)) return;
      pending.delete(idx);
      emit({ t: 'test', i: idx, got: typeof got === 'string' ? got : '', error: typeof error === 'string' ? error : '' });
      if (waiting && pending.size === 0) waiting();
    } catch { /* never throw into the context */ }
  };
  Object.setPrototypeOf(reportRaw, null);
  // A null-prototype sandbox object: the context's global leads to no host Object/Function.
  const sandbox = Object.create(null);
  sandbox.__out = sink(1);
  sandbox.__err = sink(2);
  sandbox.__report = reportRaw;
  const ctx = vm.createContext(sandbox, { codeGeneration: { strings: true, wasm: false }, name: 'answer' });
  lockDown();
  const call = vm.runInContext(CONTEXT_PRELUDE, ctx);
  // A global slot name the code cannot guess, used for a moment to hand values across (emptied before any code).
  const slot = '__sbx_' + randomBytes(12).toString('hex');
  const timeout = job.testTimeoutMs;
  try {
    const script = new vm.Script(code + '\n;globalThis.' + slot + ' = typeof ' + job.fn + " === 'function' ? " + job.fn + ' : undefined;',
      { filename: 'answer.js' });
    script.runInContext(ctx, { timeout });
  } catch (e) {
    const msg = e && typeof e.message === 'string' ? e.message : 'an unprintable error';
    const kind = e && e.name === 'SyntaxError' ? 'the code does not compile: SyntaxError: ' : 'the code does not run: ';
    emit({ t: 'load', error: kind + msg });
    return finish();
  }
  const fn = vm.runInContext('(() => { const f = globalThis.' + slot + '; delete globalThis.' + slot + '; return f; })()', ctx);
  if (typeof fn !== 'function') {
    emit({ t: 'load', error: 'the code does not define a function named ' + job.fn });
    return finish();
  }
  const runner = new vm.Script('(() => { const s = globalThis.' + slot + '; delete globalThis.' + slot + '; s.c(s.f, s.a, s.i); })()',
    { filename: 'test.js' });
  const runOne = (i) => {
    pending.add(i);
    try {
      const handOver = Object.create(null);
      handOver.c = call; handOver.f = fn; handOver.a = job.tests[i]; handOver.i = i;
      ctx[slot] = handOver;
      runner.runInContext(ctx, { timeout });
    } catch (e) {
      const msg = e && typeof e.message === 'string' ? e.message : 'an unprintable error';
      reportRaw(i, '', /timed out/.test(msg) ? 'timed out after ' + timeout + ' ms' : msg);
    } finally {
      try { delete ctx[slot]; } catch { /* ignore */ }
    }
  };
  for (let i = 0; i < job.tests.length; i++) runOne(i);
  if (pending.size === 0) return finish();
  // Async results: wait for them, a test at most testTimeoutMs after the last call (the parent's wall limit is
  // the hard stop if a continuation spins).
  waiting = finish;
  setTimer(() => {
    for (const i of Array.from(pending)) reportRaw(i, '', 'timed out after ' + timeout + ' ms (promise never settled)');
  }, timeout);
}

const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  let job;
  try { job = jsonParse(Buffer.concat(chunks).toString('utf8')); }
  catch { writeAll(2, 'sandbox harness: unreadable job\n'); exit(70); }
  main(job);
});
`;
