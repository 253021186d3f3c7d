import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { GenReq } from '@sarai/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { SkillReplicaSet, type ReplicaState } from './replica-set.js';
import { SkillPool } from './skill-pool.js';

const REPLICA = join(import.meta.dirname, 'test-support', 'replica-skill.mjs');
const children: ChildProcess[] = [];
const pools: SkillPool[] = [];

async function startReplica(
  env: Record<string, string> = {},
): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [REPLICA], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`replica exited (${code}) before listening`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, child };
}

function poolFor(address: string): { pool: SkillPool; set: SkillReplicaSet } {
  const pool = new SkillPool({ addresses: { draft: address }, env: {} });
  pools.push(pool);
  const set = pool.get('draft');
  if (!(set instanceof SkillReplicaSet)) throw new Error(`${address} did not make a replica set`);
  return { pool, set };
}

const generate = (set: SkillReplicaSet) =>
  set.call(
    (skill, opts) => skill.generate(GenReq.create({ prompt: 'hi', maxTokens: 4 }), opts).response,
    5_000,
  );

function stateOf(set: SkillReplicaSet, address: string): ReplicaState {
  const s = set.states.find((x) => x.address === address);
  if (!s) throw new Error(`no replica ${address} in ${JSON.stringify(set.states)}`);
  return s;
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterEach(() => {
  for (const p of pools.splice(0)) p.close();
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

describe('SkillPool with several replicas per skill (client-side load balancing)', () => {
  it('spreads calls over 3 replicas; a replica killed mid-load fails nothing beyond its in-flight calls', async () => {
    const [first, victim, third] = await Promise.all([startReplica(), startReplica(), startReplica()]);
    const replicas = [first, victim, third];
    const { set } = poolFor(replicas.map((r) => `127.0.0.1:${r.port}`).join(','));
    await until(() => set.states.every((s) => s.health === 'SERVING'), 'all replicas SERVING');

    const victimAddr = `127.0.0.1:${victim.port}`;
    const total = 600;
    const concurrency = 12;
    const servedBy = new Map<string, number>();
    let done = 0;
    let failed = 0;
    let started = 0;
    let inFlightOnVictimAtKill = -1;
    let servedBeforeKill: Record<string, number> = {};
    const worker = async () => {
      while (started < total) {
        started += 1;
        try {
          const reply = await generate(set);
          servedBy.set(reply.model, (servedBy.get(reply.model) ?? 0) + 1);
        } catch {
          failed += 1;
        }
        done += 1;
        if (done === total / 3 && inFlightOnVictimAtKill < 0) {
          inFlightOnVictimAtKill = stateOf(set, victimAddr).inFlight;
          servedBeforeKill = Object.fromEntries(servedBy);
          victim.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));

    const spread = Object.fromEntries([...servedBy].sort(([a], [b]) => a.localeCompare(b)));
    console.log(
      `load spread over 3 replicas (${total} calls, ${concurrency} concurrent; replica ${victim.port} SIGKILLed after ${total / 3}): ` +
        `before kill ${JSON.stringify(servedBeforeKill)}, total ${JSON.stringify(spread)}; ` +
        `in flight on the killed replica: ${inFlightOnVictimAtKill}, failed: ${failed}; ` +
        `client view ${JSON.stringify(set.states.map(({ address, health, calls }) => ({ address, health, calls })))}`,
    );
    expect(failed).toBeLessThanOrEqual(inFlightOnVictimAtKill);
    expect(done).toBe(total);
    // Round-robin before the kill: each replica took about a third.
    for (const r of replicas)
      expect(servedBeforeKill[String(r.port)] ?? 0).toBeGreaterThanOrEqual(total / 3 / 3 - concurrency);
    // After the kill the two survivors took the rest; the dead one is out (its health Watch broke).
    expect(stateOf(set, victimAddr).health).not.toBe('SERVING');
    for (const r of [first, third])
      expect((spread[String(r.port)] ?? 0) - (servedBeforeKill[String(r.port)] ?? 0)).toBeGreaterThan(
        total / 4,
      );
  }, 60_000);

  it('keeps a breaker per replica: a failing replica is taken out, the others keep serving', async () => {
    const [good1, bad, good2] = await Promise.all([
      startReplica(),
      startReplica({ REPLICA_FAIL: '1' }),
      startReplica(),
    ]);
    const badAddr = `127.0.0.1:${bad.port}`;
    const { set } = poolFor(`127.0.0.1:${good1.port}, ${badAddr} ,127.0.0.1:${good2.port}`);
    await until(() => set.states.every((s) => s.health === 'SERVING'), 'all replicas SERVING');
    let failed = 0;
    for (let i = 0; i < 60; i++) await generate(set).catch(() => (failed += 1));
    const badState = stateOf(set, badAddr);
    expect(badState.breakerState).toBe('open');
    expect(set.breakerState).toBe('closed');
    // Only the calls that opened the bad replica's breaker failed (volumeThreshold 2 of the draft entry).
    expect(failed).toBeLessThanOrEqual(3);
    expect(badState.calls).toBe(failed);
    const after = badState.calls;
    for (let i = 0; i < 20; i++) await generate(set);
    expect(stateOf(set, badAddr).calls).toBe(after);
  }, 60_000);

  it('resolves dns:///name:port to every address of the name', async () => {
    const r = await startReplica();
    const { set } = poolFor(`dns:///localhost:${r.port}`);
    const reply = await generate(set);
    expect(reply.model).toBe(String(r.port));
    expect(set.states.map((s) => s.address)).toContain(`127.0.0.1:${r.port}`);
    // Whatever else localhost resolves to (::1, where nothing listens) never fails a call.
    for (let i = 0; i < 10; i++) expect((await generate(set)).model).toBe(String(r.port));
  });

  it('refuses an address list with an empty entry, saying what to write', () => {
    expect(() =>
      new SkillPool({ addresses: { draft: '127.0.0.1:1,,127.0.0.1:2' }, env: {} }).get('draft'),
    ).toThrow(/empty replica; use host:port,host:port/);
  });
});
