import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectSandbox,
  Language,
  RunTestsRequest,
  RunTestsResponse,
  sandboxServiceDefinition,
  StopReason,
} from './index.js';

describe('sarai.sandbox.v1', () => {
  let server: Server;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sbx-contract-'));
    server = new Server();
    server.addService(sandboxServiceDefinition, {
      runTests(
        call: ServerUnaryCall<RunTestsRequest, RunTestsResponse>,
        cb: sendUnaryData<RunTestsResponse>,
      ) {
        const req = call.request;
        cb(
          null,
          RunTestsResponse.create({
            results: req.tests.map((t) => ({ passed: true, gotJson: t.expectedJson, error: '' })),
            stopReason: StopReason.OK,
            peakMemoryBytes: '123456789012',
          }),
        );
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${join(dir, 's.sock')}`, ServerCredentials.createInsecure(), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
  });
  afterAll(async () => {
    server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips a request through the binary encoding', () => {
    const req = RunTestsRequest.create({
      code: 'function f() {}',
      language: Language.TYPESCRIPT,
      functionName: 'f',
      tests: [{ argsJson: '[1]', expectedJson: '2' }],
      limits: { wallMs: 1000, cpuMs: 0, memoryMb: 128, outputBytes: 0, testTimeoutMs: 0 },
    });
    expect(RunTestsRequest.fromBinary(RunTestsRequest.toBinary(req))).toEqual(req);
  });

  it('a typed client reaches a server over a unix socket (the network-less container path)', async () => {
    const conn = connectSandbox(`unix:${join(dir, 's.sock')}`);
    try {
      const { response } = await conn.client.runTests({
        code: 'x',
        language: Language.JAVASCRIPT,
        functionName: 'f',
        tests: [{ argsJson: '[]', expectedJson: '"ok"' }],
      });
      expect(response.results).toEqual([{ passed: true, gotJson: '"ok"', error: '' }]);
      expect(response.stopReason).toBe(StopReason.OK);
      expect(response.peakMemoryBytes).toBe('123456789012');
    } finally {
      conn.close();
    }
  });
});
