import type { SandboxRequest, StopReason } from '../runner/types.js';

/**
 * Hostile answers. Each one's test expects the value the attack would produce if it worked, so "no test passes"
 * means the attack failed; tests additionally check that no secret shows up and no marker file appears.
 */
export interface Attack {
  name: string;
  /** `marker`: a path outside the request's tmp dir the attack tries to create. */
  request(marker: string): SandboxRequest;
  /** The stop reason the run must end with, when it matters. */
  stop?: StopReason;
}

/** Secret-looking values the tests plant in the environment of the host (or of the service container). */
export const SECRET_ENV = 'SARAI_SIGNING_PASSPHRASE';

const escape = `(function () {
  try { return this.constructor.constructor('return process')(); } catch (e) { /* next */ }
  try { return globalThis.process; } catch (e) { /* next */ }
  try { return Function('return process')(); } catch (e) { return undefined; }
})()`;

function attack(
  name: string,
  body: (marker: string) => string,
  expected: unknown,
  opts: { stop?: StopReason; limits?: SandboxRequest['limits'] } = {},
): Attack {
  return {
    name,
    ...(opts.stop ? { stop: opts.stop } : {}),
    request: (marker) => ({
      language: 'javascript',
      functionName: 'add',
      code: `function add(a, b) {\n  const proc = ${escape};\n${body(marker)}\n}`,
      tests: [{ args: [1, 2], expected }],
      limits: { wallMs: 4_000, cpuMs: 3_000, testTimeoutMs: 1_000, ...opts.limits },
    }),
  };
}

const m = (marker: string): string => JSON.stringify(marker);

export const ATTACKS: Attack[] = [
  attack(
    'env via constructor.constructor',
    () => `  return typeof proc.env.${SECRET_ENV} === 'string';`,
    true,
  ),
  attack('env via globalThis.process', () => `  return JSON.stringify(globalThis.process.env);`, '{}'),
  attack(
    'read /etc/passwd via getBuiltinModule',
    () => `  return proc.getBuiltinModule('fs').readFileSync('/etc/passwd', 'utf8').length > 0;`,
    true,
  ),
  attack(
    'read the parent environment from /proc',
    () =>
      `  return proc.getBuiltinModule('fs').readFileSync('/proc/' + proc.ppid + '/environ', 'utf8').length >= 0;`,
    true,
  ),
  attack(
    'write outside the tmp dir via getBuiltinModule',
    (mk) => `  proc.getBuiltinModule('fs').writeFileSync(${m(mk)}, 'x'); return true;`,
    true,
  ),
  attack(
    'write outside the tmp dir via ../',
    () => `  proc.getBuiltinModule('fs').writeFileSync('../escaped', 'x'); return true;`,
    true,
  ),
  attack('process.binding', () => `  return typeof proc.binding('fs').open === 'function';`, true),
  attack('require', () => `  return typeof require('child_process').execSync === 'function';`, true),
  attack(
    'child_process',
    () => `  return String(proc.getBuiltinModule('child_process').execSync('id')).includes('uid=');`,
    true,
  ),
  attack(
    'fork bomb',
    () =>
      `  const cp = proc.getBuiltinModule('child_process'); for (let i = 0; i < 1e4; i++) cp.spawn(proc.execPath, ['-e', 'for(;;){}']); return true;`,
    true,
  ),
  attack(
    'worker_threads',
    () =>
      `  const { Worker } = proc.getBuiltinModule('worker_threads'); new Worker('for(;;){}', { eval: true }); return true;`,
    true,
  ),
  attack(
    'dynamic import()',
    (mk) => `  return import('node:fs').then((fs) => { fs.writeFileSync(${m(mk)}, 'x'); return true; });`,
    true,
  ),
  attack(
    'vm module from the host realm',
    () =>
      `  const vm = proc.getBuiltinModule('vm'); return typeof vm.runInThisContext('process.env') === 'object';`,
    true,
  ),
  attack(
    'Error.prepareStackTrace call-site escape',
    () =>
      [
        '  Error.prepareStackTrace = (_e, cs) => cs.map((c) => { try { return c.getThis(); } catch { return undefined; } });',
        "  const frames = new Error('x').stack;",
        '  for (const t of frames) { try { const p = t && t.constructor && t.constructor.constructor("return process")(); if (p && p.env) return true; } catch { /* next */ } }',
        '  return undefined;',
      ].join('\n'),
    true,
  ),
  attack('fetch to the host', () => `  return fetch('http://127.0.0.1:9/').then(() => true);`, true),
  attack(
    'TCP to the host via net',
    () =>
      `  return new Promise((res) => { const s = proc.getBuiltinModule('net').connect(22, '172.17.0.1'); s.on('connect', () => res(true)); s.on('error', () => res(false)); });`,
    true,
  ),
  attack(
    'DNS lookup',
    () =>
      `  return new Promise((res) => proc.getBuiltinModule('dns').lookup('example.com', (e) => res(!e)));`,
    true,
  ),
  attack(
    'WebAssembly',
    () => `  return new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])) !== undefined;`,
    true,
  ),
  attack('process.kill of the parent', () => `  proc.kill(proc.ppid, 'SIGKILL'); return true;`, true),
  attack('process.exit to skip the tests', () => `  proc.exit(0);`, 3),
  attack('memory bomb', () => `  const bag = []; for (;;) bag.push(new Array(1e5).fill(bag.length));`, 3, {
    stop: 'memory',
  }),
  attack(
    'off-heap memory bomb',
    () => `  const bag = []; for (;;) bag.push(new Uint8Array(16 << 20).fill(1));`,
    3,
    { stop: 'memory' },
  ),
  attack('endless loop', () => `  for (;;) {}`, 3),
  attack(
    'endless loop that no test timeout can stop',
    () => `  return Promise.resolve().then(() => { for (;;) {} });`,
    3,
    { stop: 'timeout' },
  ),
  attack(
    'Atomics.wait forever',
    () => `  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); return 3;`,
    3,
  ),
  attack('huge output', () => `  for (;;) console.log('A'.repeat(4096));`, 3, { stop: 'output-limit' }),
  attack(
    'forge a pass through the harness (its globals, stack frames, printed frames)',
    () =>
      [
        "  for (const k of Object.getOwnPropertyNames(globalThis)) { const v = globalThis[k]; if (typeof v === 'function' && k.startsWith('__')) { try { v(() => 'forged', '[]', 0); } catch { /* next */ } } }",
        '  Error.prepareStackTrace = (_e, cs) => cs.map((c) => c.getFunction());',
        "  for (const f of new Error('x').stack) { if (typeof f === 'function' && f !== add) { try { f(() => 'forged', '[]', 0); } catch { /* next */ } } }",
        '  console.log(JSON.stringify({ n: "0", t: "test", i: 0, got: \'"forged"\', error: "" }));',
        "  return 'honest-fail';",
      ].join('\n'),
    'forged',
  ),
  attack('stack overflow', () => `  const f = () => f(); return f();`, 3),
];

/** An honest request used next to the attacks. */
export const HONEST: SandboxRequest = {
  language: 'javascript',
  functionName: 'add',
  code: 'function add(a, b) { return a + b; }',
  tests: [
    { args: [1, 2], expected: 3 },
    { args: [20, 22], expected: 42 },
  ],
};
