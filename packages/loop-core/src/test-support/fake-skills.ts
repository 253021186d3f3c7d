// A deterministic fake draft/image skill for the loop's control-flow tests: a real grpc-js server on loopback
// (real health protocols, real deadlines), scripted answers. The real skills have their own tests.
import { status, type Server } from '@grpc/grpc-js';
import {
  GenReply,
  type GenReq,
  ImageReply,
  SkillHealth,
  bindServer,
  createGrpcServer,
  rpcStatus,
  skillDefinition,
  type ISkill,
} from '@sarai/proto';

export interface Scripted {
  text?: string;
  meanLogprob?: number;
  delayMs?: number;
  error?: { code: status; message: string };
}

export interface FakeSkill {
  port: number;
  address: string;
  prompts: string[];
  /** Every Generate request as received (options included). */
  requests: GenReq[];
  /** Generate calls the client cancelled before the reply. */
  cancelled: number;
  stop(): Promise<void>;
}

export async function startFakeSkill(opts: {
  port?: number;
  draft?: (prompt: string, n: number) => Scripted;
  image?: (bytes: Uint8Array) => Scripted & { reply?: Partial<ImageReply> };
  events?: string[];
}): Promise<FakeSkill> {
  const prompts: string[] = [];
  const requests: GenReq[] = [];
  let cancelled = 0;
  const server: Server = createGrpcServer();
  const impl: Partial<ISkill> = {
    generate(call, cb) {
      const n = prompts.push(call.request.prompt);
      requests.push(call.request);
      opts.events?.push(`skill:received:${n}`);
      const s = opts.draft?.(call.request.prompt, n) ?? { text: 'ok' };
      const reply = () => {
        if (s.error) return cb(rpcStatus(s.error.code, s.error.message));
        cb(
          null,
          GenReply.create({
            text: s.text ?? '',
            tokensGenerated: 5,
            meanLogprob: s.meanLogprob ?? Math.log(0.3),
            finishReason: 'stop',
          }),
        );
      };
      if (s.delayMs) {
        const t = setTimeout(reply, s.delayMs);
        call.on('cancelled', () => {
          cancelled += 1;
          clearTimeout(t);
        });
      } else reply();
    },
    preprocessImage(call, cb) {
      // Hash-first request: this fake caches nothing, so it asks for the bytes (like a cold image skill).
      if (call.request.imageData.length === 0 && call.request.contentHash) {
        return cb(null, ImageReply.create({ needsUpload: true, contentHash: call.request.contentHash }));
      }
      const s = opts.image?.(call.request.imageData) ?? {};
      if (s.error) return cb(rpcStatus(s.error.code, s.error.message));
      cb(
        null,
        ImageReply.create({
          webpPath: 'ab/abcdef.webp',
          perceptualHash: 'abcdef0123456789',
          width: 64,
          height: 48,
          format: call.request.format,
          cache: 'miss',
          ...s.reply,
        }),
      );
    },
  };
  server.addService(skillDefinition, impl as ISkill);
  const health = new SkillHealth({ '': 'SERVING', 'skills.Skill': 'SERVING' });
  health.addToServer(server);
  const port = await bindServer(server, '127.0.0.1', opts.port ?? 0);
  return {
    port,
    address: `127.0.0.1:${port}`,
    prompts,
    requests,
    get cancelled() {
      return cancelled;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}
