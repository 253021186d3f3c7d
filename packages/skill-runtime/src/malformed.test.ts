import { credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { GenChunk, GenReply, GenReq, skillDefinition } from '@sarai/proto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  commonConfigSchema,
  defineSkill,
  skillService,
  startSkill,
  type CommonConfig,
  type SkillHandle,
} from './index.js';

const echo = defineSkill({
  name: 'echo',
  config: commonConfigSchema,
  errors: {},
  services: () => [
    skillService(skillDefinition, {
      generate(call, callback) {
        callback(null, GenReply.create({ text: call.request.prompt }));
      },
      generateStream(call) {
        call.write(GenChunk.create({ token: call.request.prompt, final: true }));
        call.end();
      },
    }),
  ],
});

let handle: SkillHandle<CommonConfig, unknown> | undefined;
afterEach(async () => {
  await handle?.shutdown();
  handle = undefined;
});

/** Sends raw bytes as the request of `method` (no protobuf encoding). */
function rawCall(port: number, method: string, bytes: Buffer, stream = false): Promise<ServiceError | null> {
  const Raw = makeGenericClientConstructor(
    {
      call: {
        path: `/skills.Skill/${method}`,
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
  const client = new Raw(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as {
    call: (...a: unknown[]) => { on: (e: string, f: (x: unknown) => void) => void };
    close(): void;
  };
  return new Promise((resolve) => {
    if (stream) {
      const s = client.call(bytes);
      s.on('data', () => undefined);
      s.on('error', (e) => {
        client.close();
        resolve(e as ServiceError);
      });
      s.on('end', () => {
        client.close();
        resolve(null);
      });
    } else {
      client.call(bytes, (e: ServiceError | null) => {
        client.close();
        resolve(e);
      });
    }
  });
}

describe('a request that is not a valid protobuf message', () => {
  it('is INVALID_ARGUMENT naming the method (not INTERNAL), and the skill keeps serving', async () => {
    handle = await startSkill(echo, {});
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]); // field 1, length far past the end
    const e = await rawCall(handle.port, 'Generate', garbage);
    expect(e?.code).toBe(3);
    expect(e?.details).toMatch(/the Generate request is not a valid skills\.Skill Generate message/);
    const s = await rawCall(handle.port, 'GenerateStream', garbage, true);
    expect(s?.code).toBe(3);
    expect(s?.details).toMatch(/GenerateStream request is not a valid/);
    const ok = await rawCall(
      handle.port,
      'Generate',
      Buffer.from(GenReq.toBinary(GenReq.create({ prompt: 'hi' }))),
    );
    expect(ok).toBeNull();
  });
});

describe('an error message that cuts client input inside a surrogate pair', () => {
  it('is sent with U+FFFD instead of crashing the process (grpc-js encodeURI throws on a lone surrogate)', async () => {
    class EchoError extends Error {
      readonly code = 'ECHO_BAD_NAME';
    }
    const strict = defineSkill({
      name: 'strict',
      config: commonConfigSchema,
      errors: { ECHO_BAD_NAME: 'INVALID_ARGUMENT' },
      services: () => [
        skillService(skillDefinition, {
          generate(call, callback) {
            // A message that shortens the input, as error messages do: "a😀" cut to 2 UTF-16 units is "a\ud83d".
            callback(new EchoError(`no adapter named "${call.request.adapter.slice(0, 2)}"`) as never, null);
          },
        }),
      ],
    });
    handle = await startSkill(strict, {});
    const bytes = Buffer.from(GenReq.toBinary(GenReq.create({ prompt: 'x', adapter: 'a😀' })));
    const e = await rawCall(handle.port, 'Generate', bytes);
    expect(e?.code).toBe(3);
    expect(e?.details).toBe('ECHO_BAD_NAME: no adapter named "a\ufffd"');
    const again = await rawCall(handle.port, 'Generate', bytes);
    expect(again?.code).toBe(3); // the process is still serving
  });
});
