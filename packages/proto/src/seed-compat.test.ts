import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SkillHealth, bindServer, createGrpcServer, skillDefinition, type ISkill } from './index.js';

// A client generated at run time from the seed's own skills.proto (verbatim copy in test/seed) must keep working
// against servers built on our contract.
const seedProto = fileURLToPath(new URL('../test/seed/skills.proto', import.meta.url));

type Unary = (req: object, cb: (e: ServiceError | null, r: Record<string, unknown>) => void) => void;

describe('wire compatibility with the seed contract', () => {
  let close: () => void;
  let seedSkill: Client & { Generate: Unary; PreprocessImage: Unary };
  let seedHealth: Client & { Check: Unary };

  beforeAll(async () => {
    const server = createGrpcServer();
    const impl: Partial<ISkill> = {
      generate: (call, cb) =>
        cb(null, {
          text: `${call.request.prompt}|${call.request.maxTokens}|${call.request.stop.join(',')}|${call.request.temperature.toFixed(1)}|${call.request.grammar}`,
          tokensPerSecond: 50,
          ramMb: 48.5,
          tokensGenerated: 9,
          finishReason: 'stop',
          decodeTokensPerSecond: 50.2,
          promptTokensEvaluated: 1,
          promptTokensReused: 2,
          meanLogprob: -0.5,
          minLogprob: -2,
          adapter: 'a',
          model: 'm',
        }),
      preprocessImage: (call, cb) =>
        cb(null, {
          webpPath: 'ab/abcd.webp',
          perceptualHash: 'abcd',
          ramMb: 12.5,
          cache: 'miss',
          width: 2,
          height: 3,
          format: call.request.format,
          bytes: '10',
          contentHash: 'x',
        }),
    };
    server.addService(skillDefinition, impl as ISkill);
    const health = new SkillHealth({ '': 'SERVING' });
    health.addToServer(server);
    const port = await bindServer(server, '127.0.0.1', 0);
    const pkg = loadPackageDefinition(
      loadSync(seedProto, { keepCase: true, defaults: true, enums: String }),
    ) as unknown as {
      skills: {
        Skill: new (a: string, c: unknown) => typeof seedSkill;
        Health: new (a: string, c: unknown) => typeof seedHealth;
      };
    };
    seedSkill = new pkg.skills.Skill(`127.0.0.1:${port}`, credentials.createInsecure());
    seedHealth = new pkg.skills.Health(`127.0.0.1:${port}`, credentials.createInsecure());
    close = () => {
      seedSkill.close();
      seedHealth.close();
      server.forceShutdown();
    };
  });
  afterAll(() => close());

  const call = (fn: Unary, req: object) =>
    new Promise<Record<string, unknown>>((res, rej) => fn(req, (e, r) => (e ? rej(e) : res(r))));

  it('a seed client calls Generate and reads the seed fields (new fields are ignored)', async () => {
    const r = await call(seedSkill.Generate.bind(seedSkill), {
      prompt: 'hi',
      max_tokens: 256,
      temperature: 0.7,
      stop: ['</response>', '\n\n\n'],
      grammar: 'root ::= "x"',
    });
    expect(r['text']).toBe('hi|256|</response>,\n\n\n|0.7|root ::= "x"');
    expect(r['tokens_per_second']).toBe(50);
    expect(r['ram_mb']).toBeCloseTo(48.5);
  });

  it('a seed client calls PreprocessImage and Health.Check', async () => {
    const r = await call(seedSkill.PreprocessImage.bind(seedSkill), {
      image_data: Buffer.from([1, 2]),
      format: 'webp',
      quality: 85,
    });
    expect(r).toMatchObject({ webp_path: 'ab/abcd.webp', perceptual_hash: 'abcd' });
    const h = await call(seedHealth.Check.bind(seedHealth), { service: '' });
    expect(h['status']).toBe('SERVING');
  });
});
