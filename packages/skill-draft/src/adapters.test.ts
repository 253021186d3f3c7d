import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { grpcHealthV1, type AdaptersReply, type GenReply } from '@sarai/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL } from './test-support/models.js';
import {
  fileSha256,
  publishTestAdapter,
  runTrainer,
  testKey,
  type PublishOptions,
  type TestKey,
} from './test-support/adapters.js';
import {
  genReq,
  metricValue,
  rpcFailure,
  startTestServer,
  until,
  type TestServer,
} from './test-support/server.js';

const SERVING = grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING;
const NOT_SERVING = grpcHealthV1.HealthCheckResponse_ServingStatus.NOT_SERVING;

describe('published adapters: verification and zero-downtime hot swap over gRPC (tiny model)', () => {
  let s: TestServer;
  let dir: string;
  let key: TestKey;
  let stranger: TestKey;
  let trainedName: string;
  const K = 3;

  const list = async (): Promise<AdaptersReply> => (await s.conn.skill.listAdapters({})).response;
  const reload = async (): Promise<AdaptersReply> => (await s.conn.skill.reloadAdapters({})).response;
  const publish = (o: Partial<PublishOptions> & { seed: number }) =>
    publishTestAdapter({ dir, baseModelPath: TINY_MODEL, key, ...o });
  const healthOf = async (name: string) =>
    (await s.conn.grpcHealth.check({ service: `skills.Skill/adapter/${name}` })).response.status;
  const engine = () => {
    const e = s.service.engine;
    if (!e) throw new Error('engine not loaded');
    return e;
  };

  beforeAll(async () => {
    const root = await mkdtemp(join(tmpdir(), 'sarai-draft-adapters-'));
    dir = join(root, 'adapters');
    await mkdir(dir);
    [key, stranger] = await Promise.all([testKey(), testKey('not trusted')]);
    const keysFile = join(root, 'trusted.asc');
    await writeFile(keysFile, key.pair.publicKeyArmored);
    // The real nightly trainer publishes the first adapter before the service starts.
    trainedName = basename(
      await runTrainer({
        adaptersDir: dir,
        baseModelPath: TINY_MODEL,
        privateKeyArmored: key.pair.privateKeyArmored,
        workDir: join(root, 'work'),
      }),
      '.gguf',
    );
    s = await startTestServer({
      MAX_CONCURRENT: '4',
      MAX_QUEUE: '16',
      ADAPTERS_DIR: dir,
      TRUSTED_KEYS_FILE: keysFile,
      ADAPTERS_RESCAN_MS: '0',
      ADAPTERS_PER_MODEL: String(K),
      // Fresh model instances under load are what this suite checks (in-place release: adapters-memory.test.ts).
      ADAPTERS_RELEASE: 'with-model',
    });
    return async () => {
      await s?.close();
      await rm(root, { recursive: true, force: true });
    };
  });

  it('starts on the adapter the real trainer published; ListAdapters, GenReply, health and metrics name it', async () => {
    const l = await list();
    expect(l.active).toBe(trainedName);
    const info = l.adapters.find((a) => a.name === trainedName);
    expect(info?.active).toBe(true);
    expect(info?.sha256).toBe(await fileSha256(join(dir, `${trainedName}.gguf`)));
    expect(info?.baseModelSha256).toBe(await fileSha256(TINY_MODEL));
    expect(Number(info?.loadedAtUnixMs)).toBeGreaterThan(0);
    const { response } = await s.conn.skill.generate(genReq({ prompt: 'Which adapter?', maxTokens: 8 }));
    expect(response.adapter).toBe(trainedName);
    expect(await healthOf(trainedName)).toBe(SERVING);
    const body = await (await fetch(`http://127.0.0.1:${s.service.running.metricsPort}/metrics`)).text();
    expect(body).toMatch(new RegExp(`sarai_draft_active_adapter\\{adapter="${trainedName}"[^}]*\\} 1\n`));
    expect(body).toMatch(/sarai_draft_adapter_rejected_total\{reason="bad-signature"[^}]*\} 0\n/);
  });

  it('notices a newly published adapter through fs.watch alone and switches new requests to it', async () => {
    const a = await publish({ seed: 11 });
    await until(async () => (await list()).active === a.name);
    const { response } = await s.conn.skill.generate(genReq({ prompt: 'Which adapter now?', maxTokens: 8 }));
    expect(response.adapter).toBe(a.name);
    expect(await healthOf(a.name)).toBe(SERVING);
    expect(await healthOf(trainedName)).toBe(NOT_SERVING);
  });

  it('finishes an in-flight generation on the adapter it started with while new requests get the new one', async () => {
    const old = (await list()).active;
    const req = genReq({ prompt: 'In flight across a swap:', maxTokens: 300, temperature: 0, seed: 3 });
    const reference = (await s.conn.skill.generate({ ...req, adapter: old })).response;
    const call = s.conn.skill.generateStream(req);
    const chunks = call.responses[Symbol.asyncIterator]();
    const first = await chunks.next(); // running on `old` now
    expect(first.done).toBe(false);
    const next = await publish({ seed: 12 });
    expect((await reload()).active).toBe(next.name);
    let text = first.value?.final ? '' : (first.value?.token ?? '');
    let final: GenReply | undefined;
    for (let c = await chunks.next(); !c.done; c = await chunks.next()) {
      if (c.value.final) final = c.value.reply;
      else text += c.value.token;
    }
    await call.status;
    expect(final?.adapter).toBe(old);
    expect(text).toBe(reference.text);
    const after = (await s.conn.skill.generate(req)).response;
    expect(after.adapter).toBe(next.name);
    expect(after.text).not.toBe(reference.text);
  });

  it('swap under load: 5 swaps while 4 clients stream — 0 failures, each reply names the adapter active when it was admitted', async () => {
    interface Done {
      sent: number;
      first: number;
      end: number;
      adapter: string;
    }
    const done: Done[] = [];
    const failures: unknown[] = [];
    const names = [(await list()).active];
    const swaps: Array<{ start: number; end: number }> = [];
    let stop = false;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const sent = performance.now();
        let first = 0;
        let reply: GenReply | undefined;
        try {
          const call = s.conn.skill.generateStream(
            genReq({
              prompt: `client ${c} request ${i}:`,
              maxTokens: 60 + ((c * 37 + i * 53) % 120),
              temperature: 0.7,
              seed: i,
            }),
          );
          for await (const chunk of call.responses) {
            first ||= performance.now();
            if (chunk.final) reply = chunk.reply;
          }
          await call.status;
          if (!reply) throw new Error('stream ended without a final chunk');
          done.push({ sent, first, end: performance.now(), adapter: reply.adapter });
        } catch (e) {
          failures.push(e);
        }
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    for (let k = 0; k < 5; k++) {
      const before = done.length;
      await until(() => done.length >= before + 4 && engine().running >= 2);
      const start = performance.now();
      const a = await publish({ seed: 100 + k });
      const r = await reload();
      swaps.push({ start, end: performance.now() });
      names.push(a.name);
      expect(r.active).toBe(a.name);
    }
    const settledAt = done.length;
    await until(() => done.length >= settledAt + 4);
    stop = true;
    await Promise.all(clients);

    expect(failures).toEqual([]);
    let spanning = 0;
    for (const d of done) {
      const served = names.indexOf(d.adapter);
      // Admitted after the sends and before the first token: the adapter active at some point in between.
      const lo = swaps.filter((w) => w.end < d.sent).length;
      const hi = swaps.filter((w) => w.start < d.first).length;
      expect(served, `reply served by ${d.adapter}`).toBeGreaterThanOrEqual(lo);
      expect(served).toBeLessThanOrEqual(hi);
      if (swaps.some((w) => d.first < w.start && d.end > w.end)) spanning += 1;
    }
    // Some requests were in flight across a swap (and by the check above finished on their old adapter).
    expect(spanning).toBeGreaterThan(0);
    const stats = engine().stats();
    expect(stats.swaps.model).toBeGreaterThan(0);
    expect(stats.swaps.context).toBeGreaterThan(0);
    console.log(
      `swap under load: ${done.length} streams, ${failures.length} failed, ${spanning} spanned a swap; swaps so far: ${JSON.stringify(stats.swaps)}`,
    );
  });

  it('rejects corrupt, tampered, wrong-base, wrong-architecture, untrusted and unsigned adapters; the old one keeps serving', async () => {
    const active = (await list()).active;
    const cases: Array<[string, Partial<PublishOptions> & { seed: number }]> = [
      ['corrupt', { seed: 200, adapterBytes: Buffer.from('not a gguf at all '.repeat(64)) }],
      ['checksum-mismatch', { seed: 201, tamperAfterSigning: true }],
      ['wrong-base-model', { seed: 202, baseSha256: 'a'.repeat(64) }],
      ['wrong-architecture', { seed: 203, architecture: 'llama' }],
      ['bad-signature', { seed: 204, key: stranger }],
      ['unsigned', { seed: 205, unsigned: true }],
    ];
    for (const [reason, opts] of cases) {
      const before = await metricValue(s.service, 'sarai_draft_adapter_rejected_total', { reason });
      const bad = await publish(opts);
      const r = await reload();
      expect(r.active, reason).toBe(active);
      expect(r.adapters.map((a) => a.name)).not.toContain(bad.name);
      const entry = r.rejected.find((x) => x.path === bad.path);
      expect(entry?.reason, reason).toMatch(new RegExp(`^${reason}: `));
      await until(
        async () =>
          (await metricValue(s.service, 'sarai_draft_adapter_rejected_total', { reason })) === before + 1,
      );
      const { response } = await s.conn.skill.generate(
        genReq({ prompt: `still serving after ${reason}`, maxTokens: 6 }),
      );
      expect(response.adapter).toBe(active);
      expect(response.tokensGenerated).toBe(6);
    }
    expect((await list()).rejected.length).toBeGreaterThanOrEqual(cases.length);
  });

  it('serves two adapters side by side per request; ActivateAdapter sets the default; unknown names are NOT_FOUND', async () => {
    const l = await list();
    const loaded = l.adapters.map((a) => a.name);
    expect(loaded.length).toBeGreaterThanOrEqual(2);
    const [a, b] = [l.active, loaded.find((n) => n !== l.active) as string];
    const req = genReq({ prompt: 'Side by side:', maxTokens: 24, temperature: 0, seed: 9 });
    const [ra, rb, rBase] = await Promise.all([
      s.conn.skill.generate({ ...req, adapter: a }).response,
      s.conn.skill.generate({ ...req, adapter: b }).response,
      s.conn.skill.generate(req).response,
    ]);
    expect([ra.adapter, rb.adapter, rBase.adapter]).toEqual([a, b, a]);
    expect(ra.text).not.toBe(rb.text);

    expect((await s.conn.skill.activateAdapter({ name: b })).response.active).toBe(b);
    expect((await s.conn.skill.generate(req)).response.adapter).toBe(b);
    expect(await healthOf(b)).toBe(SERVING);
    expect((await s.conn.skill.activateAdapter({ name: '' })).response.active).toBe('');
    const base = (await s.conn.skill.generate(req)).response;
    expect(base.adapter).toBe('');
    expect(base.text).not.toBe(ra.text);
    expect(await healthOf('base')).toBe(SERVING);

    const nf = await rpcFailure(
      s.conn.skill.activateAdapter({ name: 'lora_19990101' }).response,
      'NOT_FOUND',
    );
    expect(nf.message).toContain(a);
    const nf2 = await rpcFailure(s.conn.skill.generate({ ...req, adapter: 'nope' }).response, 'NOT_FOUND');
    expect(nf2.message).toContain(b);
    await rpcFailure(s.conn.skill.activateAdapter({ name: '../../etc/passwd' }).response, 'NOT_FOUND');

    // Roll back to the first (trainer-made) adapter, no longer loaded: verified and loaded on demand.
    expect((await list()).adapters.map((x) => x.name)).not.toContain(trainedName);
    const rolled = (await s.conn.skill.activateAdapter({ name: trainedName })).response;
    expect(rolled.active).toBe(trainedName);
    expect((await s.conn.skill.generate(req)).response.adapter).toBe(trainedName);
    // A rejected file cannot be activated.
    const rejected = (await list()).rejected[0];
    expect(rejected).toBeDefined();
    await rpcFailure(
      s.conn.skill.activateAdapter({ name: basename(rejected?.path ?? '', '.gguf') }).response,
      'FAILED_PRECONDITION',
    );
    expect((await list()).active).toBe(trainedName);
  });

  it('keeps at most two model instances and at most ADAPTERS_PER_MODEL adapter files per instance', async () => {
    await engine().settled();
    const stats = engine().stats();
    expect(stats.instances).toHaveLength(1);
    expect(stats.instances[0]?.adapterFiles).toBeLessThanOrEqual(K);
    expect(stats.maxAdaptersPerModel).toBe(K);
  });

  it('a file published under a name older than the one serving is superseded: a scan skips it, ActivateAdapter loads it', async () => {
    const serving = (await list()).active;
    const old = await publish({ seed: 31, fileName: 'lora_20200101.gguf' });
    const after = (await s.conn.skill.reloadAdapters({})).response;
    expect(after.active).toBe(serving);
    expect(after.adapters.map((a) => a.name)).not.toContain(old.name);
    expect(after.rejected.map((r) => basename(r.path))).not.toContain('lora_20200101.gguf');
    expect((await s.conn.skill.activateAdapter({ name: old.name })).response.active).toBe(old.name);
    expect((await s.conn.skill.generate(genReq({ prompt: 'Old one?', maxTokens: 4 }))).response.adapter).toBe(
      old.name,
    );
  });
});

describe('adapters without ADAPTERS_DIR', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({});
  });
  afterAll(async () => s?.close());

  it('ListAdapters lists nothing, ReloadAdapters says how to enable it, ActivateAdapter rejects unknown names', async () => {
    const l = (await s.conn.skill.listAdapters({})).response;
    expect(l).toMatchObject({ adapters: [], active: '', rejected: [] });
    const e = await rpcFailure(s.conn.skill.reloadAdapters({}).response, 'FAILED_PRECONDITION');
    expect(e.message).toContain('ADAPTERS_DIR');
    await rpcFailure(s.conn.skill.activateAdapter({ name: 'x' }).response, 'NOT_FOUND');
    expect((await s.conn.skill.activateAdapter({ name: '' })).response.active).toBe('');
  });
});
