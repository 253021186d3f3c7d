import { credentials, makeGenericClientConstructor, status, type ServiceError } from '@grpc/grpc-js';
import { GenReq, ImageReq, RpcError, connectSkill, type SkillConnection } from '@sarai/proto';
import { Language, RunTestsRequest, connectSandbox, type SandboxConnection } from '@sarai/sandbox-contract';
import { pictureOf } from '../crash/image-cache-writer.js';
import type { Values } from './values.js';

/** A status name (`OK`, `INVALID_ARGUMENT`, …) or `TRANSPORT` for a call that never got a gRPC status. */
export type Outcome = string;

/** One contract method under fuzz: builds a random request from `v` and calls it, returning the status name. */
export interface FuzzMethod {
  readonly name: string;
  call(v: Values): Promise<Outcome>;
}

const codeName = (code: number): string => status[code] ?? `CODE_${code}`;

/** Keeps the message of the statuses a fuzz run must never see (`CODE|message`). */
const withMessage = (code: string, message: string): Outcome =>
  code === 'INTERNAL' || code === 'UNKNOWN' ? `${code}|${message.slice(0, 300)}` : code;

async function outcome(p: Promise<unknown> | (() => Promise<unknown>)): Promise<Outcome> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'OK';
  } catch (e) {
    if (e instanceof RpcError) return withMessage(e.code, e.message);
    const se = e as Partial<ServiceError>;
    // Not a gRPC status: the client library refused to encode the request (e.g. a float beyond float32); never sent.
    return typeof se.code === 'number' ? withMessage(codeName(se.code), se.details ?? '') : 'CLIENT_REJECTED';
  }
}

/** Sends bytes that are not (or not quite) a protobuf message to `path` (`/pkg.Service/Method`). */
export function rawCall(address: string, path: string, bytes: Uint8Array, stream: boolean): Promise<Outcome> {
  const Raw = makeGenericClientConstructor(
    {
      call: {
        path,
        requestStream: false,
        responseStream: stream,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    'Raw',
  );
  const client = new Raw(address, credentials.createInsecure()) as unknown as {
    call: (...a: unknown[]) => { on: (e: string, f: (x: unknown) => void) => void };
    close(): void;
  };
  const deadline = Date.now() + 20_000;
  return new Promise((resolve) => {
    const done = (e: unknown) => {
      client.close();
      const se = e as ServiceError | null;
      resolve(se ? withMessage(codeName(se.code), se.details) : 'OK');
    };
    if (stream) {
      const s = client.call(Buffer.from(bytes), { deadline });
      s.on('data', () => undefined);
      s.on('error', done);
      s.on('end', () => done(null));
    } else client.call(Buffer.from(bytes), { deadline }, (e: unknown) => done(e));
  });
}

function genReq(v: Values): GenReq {
  const prompt = v.chance(0.05) ? 'p'.repeat(v.pick([3329, 10_000, 200_000])) : v.string(48);
  return GenReq.create({
    prompt,
    maxTokens: v.chance(0.5) ? 1 + v.int(8) : v.int32(),
    stop: v.array(() => v.string(v.pick([4, 300]))),
    temperature: v.chance(0.5) ? v.float() : v.float32(),
    grammar: v.chance(0.85)
      ? ''
      : v.pick([
          'root ::= "a"',
          'root ::= [0-9]+',
          'root ::= root',
          'root ::= ',
          v.string(80),
          'x'.repeat(70_000),
        ]),
    ...(v.chance(0.5) ? { seed: v.uint32() } : {}),
    adapter: v.chance(0.8) ? '' : v.string(16),
    logprobs: v.chance(0.5),
  });
}

/** skills.Skill Generate and GenerateStream on the draft skill. */
export function draftMethods(address: string): { methods: FuzzMethod[]; close(): void } {
  const conn: SkillConnection = connectSkill(address);
  const opts = { timeout: 20_000 };
  return {
    close: () => conn.close(),
    methods: [
      { name: 'skills.Skill/Generate', call: (v) => outcome(conn.skill.generate(genReq(v), opts).response) },
      {
        name: 'skills.Skill/GenerateStream',
        call: (v) =>
          outcome(
            (async () => {
              const c = conn.skill.generateStream(genReq(v), opts);
              for await (const _ of c.responses) void _;
              await c.status;
            })(),
          ),
      },
      {
        name: 'skills.Skill/Generate (malformed bytes)',
        call: (v) => rawCall(address, '/skills.Skill/Generate', v.bytes(64), false),
      },
    ],
  };
}

async function imageBytes(v: Values): Promise<Uint8Array> {
  const kind = v.int(4);
  if (kind === 0) return v.bytes(512);
  const png = await pictureOf(`fuzz-${v.int(50)}`);
  if (kind === 1) return png;
  const out = Buffer.from(png);
  for (let i = 0, n = 1 + v.int(8); i < n; i++) out[v.int(out.length)] = v.int(256);
  return kind === 2 ? out : out.subarray(0, v.int(out.length));
}

/** skills.Skill PreprocessImage on the image skill. */
export function imageMethods(address: string): { methods: FuzzMethod[]; close(): void } {
  const conn = connectSkill(address);
  return {
    close: () => conn.close(),
    methods: [
      {
        name: 'skills.Skill/PreprocessImage',
        call: async (v) =>
          outcome(
            conn.skill.preprocessImage(
              ImageReq.create({
                imageData: await imageBytes(v),
                format: v.chance(0.5) ? v.pick(['', 'webp', 'jpeg', 'png', 'avif']) : v.string(8),
                quality: v.chance(0.5) ? v.int(101) : v.int32(),
                maxDimension: v.chance(0.5) ? v.int(200) : v.int32(),
              }),
              { timeout: 30_000 },
            ).response,
          ),
      },
      {
        name: 'skills.Skill/PreprocessImage (malformed bytes)',
        call: (v) => rawCall(address, '/skills.Skill/PreprocessImage', v.bytes(64), false),
      },
    ],
  };
}

const JS = [
  'function add(a, b) { return a + b; }',
  'function add(a, b) { while (true) {} }',
  'function add(a, b) { return "x".repeat(1e9); }',
  'function add(a, b) { throw new Error("boom"); }',
  'function add(a, b) { const x = []; for (;;) x.push(new Array(1e6)); }',
  'function add(a, b) { return process.exit(3); }',
  'syntax error here (',
];

/** sarai.sandbox.v1.SandboxService RunTests on the sandbox skill. */
export function sandboxMethods(address: string): { methods: FuzzMethod[]; close(): void } {
  const conn: SandboxConnection = connectSandbox(address);
  return {
    close: () => conn.close(),
    methods: [
      {
        name: 'sarai.sandbox.v1.SandboxService/RunTests',
        call: (v) =>
          outcome(
            conn.client.runTests(
              RunTestsRequest.create({
                code: v.chance(0.6) ? v.pick(JS) : v.string(200),
                language: v.chance(0.8) ? Language.JAVASCRIPT : (v.pick([0, 2, 99, -1]) as Language),
                functionName: v.chance(0.7) ? 'add' : v.string(20),
                tests: v.array(
                  () => ({
                    argsJson: v.chance(0.7)
                      ? v.pick(['[1,2]', '[]', '[null]', '[1e308, -1e308]'])
                      : v.string(30),
                    expectedJson: v.chance(0.7) ? v.pick(['3', 'null', '"x"']) : v.string(30),
                  }),
                  3,
                ),
                ...(v.chance(0.5)
                  ? {
                      limits: {
                        wallMs: v.uint32(),
                        cpuMs: v.uint32(),
                        memoryMb: v.uint32(),
                        outputBytes: v.uint32(),
                        testTimeoutMs: v.uint32(),
                      },
                    }
                  : {}),
              }),
              { timeout: 30_000 },
            ).response,
          ),
      },
      {
        name: 'sarai.sandbox.v1.SandboxService/RunTests (malformed bytes)',
        call: (v) => rawCall(address, '/sarai.sandbox.v1.SandboxService/RunTests', v.bytes(64), false),
      },
    ],
  };
}

/** grpc.health.v1 Check and Watch, and the seed skills.Health Check, with random service names. */
export function healthMethods(address: string): { methods: FuzzMethod[]; close(): void } {
  const conn = connectSkill(address);
  const service = (v: Values) =>
    v.chance(0.3) ? v.pick(['', 'skills.Skill', 'sarai.sandbox.v1.SandboxService']) : v.string(40);
  return {
    close: () => conn.close(),
    methods: [
      {
        name: 'grpc.health.v1.Health/Check',
        call: (v) => outcome(conn.grpcHealth.check({ service: service(v) }).response),
      },
      {
        name: 'grpc.health.v1.Health/Watch',
        call: (v) =>
          outcome(
            (async () => {
              const ac = new AbortController();
              const c = conn.grpcHealth.watch({ service: service(v) }, { abort: ac.signal });
              for await (const _ of c.responses) {
                void _;
                ac.abort(); // one status is enough
              }
            })().catch((e: unknown) => {
              if (e instanceof RpcError && e.code === 'CANCELLED') return;
              throw e;
            }),
          ),
      },
      {
        name: 'skills.Health/Check',
        call: (v) => outcome(conn.health.check({ service: service(v) }).response),
      },
    ],
  };
}
