import { spawn } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { CrashCheckError } from '../crash/errors.js';
import { processHandle, reapOnExit, type SkillProcess } from '../skill-process.js';
import { workspaceRoot } from '../workspace.js';

const API_KEY = 'hostile-key';
const MiB = 1024 * 1024;

/** `sarai serve` as a user starts it (`sarai serve --embedded`, the generated stand-in model), on a free port. */
export async function startServe(stateDir: string): Promise<SkillProcess> {
  const main = join(workspaceRoot(), 'apps', 'sarai', 'dist', 'main.js');
  const child = spawn(process.execPath, [main, 'serve', '--embedded', '--port', '0'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      SARAI_STATE_DIR: stateDir,
      SARAI_API_KEY: API_KEY,
      SARAI_DRAFT_THREADS: '1',
      LOG_LEVEL: 'error',
      MALLOC_ARENA_MAX: '2', // the host image's allocator setting
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const exited = reapOnExit(child);
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(
      () =>
        reject(new CrashCheckError('serve', `not listening in 120 s: ${err}`, 'RELIABILITY_CHILD_FAILED')),
      120_000,
    );
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err = (err + d).slice(-4000);
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(m[1] as string);
      }
    });
    child.once('exit', () => {
      clearTimeout(t);
      reject(new CrashCheckError('serve', `exited before listening: ${err}`, 'RELIABILITY_CHILD_FAILED'));
    });
  });
  return processHandle({
    name: 'serve',
    address: url,
    child,
    exited,
    stderr: () => err,
    graceMs: 20_000,
  });
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  /** Request body bytes written before the response arrived. */
  sentBytes: number;
}

/**
 * A raw HTTP request: `body` is written in chunks (each after `gapMs`) until the server answers or it is all sent,
 * so a server that refuses early is seen to refuse early. Resolves with `status` 0 if the connection is reset.
 */
function raw(
  url: string,
  o: {
    path?: string;
    method?: string;
    headers?: Record<string, string | number>;
    body?: Buffer | string;
    chunkBytes?: number;
    gapMs?: number;
    chunked?: boolean;
  },
): Promise<Answer> {
  const body = typeof o.body === 'string' ? Buffer.from(o.body) : (o.body ?? Buffer.alloc(0));
  return new Promise((resolve) => {
    let sent = 0;
    let answered = false;
    const req = request(`${url}${o.path ?? '/v1/chat/completions'}`, {
      method: o.method ?? 'POST',
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(o.chunked ? {} : { 'content-length': body.length }),
        ...o.headers,
      },
    });
    req.on('response', (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(parts).toString(),
          sentBytes: sent,
        }),
      );
      res.on('error', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', sentBytes: sent }),
      );
    });
    req.on('error', () => {
      if (!answered) resolve({ status: 0, headers: {}, body: '', sentBytes: sent });
    });
    const step = o.chunkBytes ?? 1024 * 1024;
    const pump = () => {
      while (!answered && sent < body.length) {
        const piece = body.subarray(sent, sent + step);
        sent += piece.length;
        const more = req.write(piece);
        if (o.gapMs) return void setTimeout(pump, o.gapMs);
        if (!more) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

const chat = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model: 'sarai',
    messages: [{ role: 'user', content: 'Say something.' }],
    max_tokens: 8,
    sarai: { iterations: 1 },
    ...extra,
  });

const json = { 'content-type': 'application/json' };

/** The label of an answer: its status, or `unexpected …` when it is not what the case expects. */
function expectError(a: Answer, statuses: readonly number[]): string {
  if (!statuses.includes(a.status)) return `unexpected ${a.status}: ${a.body.slice(0, 160)}`;
  try {
    const e = (JSON.parse(a.body) as { error?: Record<string, unknown> }).error;
    if (
      !e ||
      typeof e.message !== 'string' ||
      typeof e.type !== 'string' ||
      !('param' in e) ||
      !('code' in e)
    )
      return `unexpected ${a.status} without an OpenAI-shaped error: ${a.body.slice(0, 160)}`;
  } catch {
    return `unexpected ${a.status} with a non-JSON body: ${a.body.slice(0, 160)}`;
  }
  return String(a.status);
}

/** A hostile request against `sarai serve`: resolves to its outcome label (`unexpected …` on a violation). */
export interface ServeHostile {
  readonly name: string;
  send(): Promise<string>;
}

/**
 * The hostile set for the HTTP API. Every case expects a clean, OpenAI-shaped 4xx (or a normal answer where the
 * input is legal), and the server serving the next client.
 */
export function serveSet(url: string): { set: ServeHostile[]; warm: () => Promise<unknown>; close(): void } {
  const healthy = async (label: string) => {
    const a = await raw(url, { path: '/healthz', method: 'GET' });
    return a.status === 200 ? label : `unexpected: /healthz ${a.status} after ${label}`;
  };
  const set: ServeHostile[] = [
    {
      name: 'oversize body, Content-Length 64 MiB (refused before it is read)',
      send: async () => {
        const a = await raw(url, { headers: json, body: Buffer.alloc(64 * MiB, 0x20) });
        // the server answers 413 from the header and closes: we may see the reset before the answer
        if (a.status === 0)
          return a.sentBytes < 64 * MiB ? healthy('reset at the limit') : 'unexpected: read it all';
        const label = expectError(a, [413]);
        return a.sentBytes >= 64 * MiB ? `unexpected: ${label} only after the whole body` : label;
      },
    },
    {
      name: 'oversize chunked body, no Content-Length (refused at the 16 MiB limit)',
      send: async () => {
        const a = await raw(url, { headers: json, body: Buffer.alloc(48 * MiB, 0x20), chunked: true });
        // the connection may be closed right after the 413 (status 0 = reset while we were still writing)
        if (a.status === 0)
          return a.sentBytes < 48 * MiB ? healthy('reset at the limit') : 'unexpected: read it all';
        return expectError(a, [413]);
      },
    },
    {
      name: 'JSON nested 100 000 deep (an unknown field)',
      send: async () => {
        const a = await raw(url, {
          headers: json,
          body: `{"model":"sarai","messages":[{"role":"user","content":"hi"}],"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
        });
        // JSON.parse is not recursive: the unknown field is ignored and the chat answered, or refused cleanly
        return a.status === 200 ? 'answered (field ignored)' : expectError(a, [400]);
      },
    },
    {
      name: 'response_format json_schema nested 20 000 deep',
      send: async () => {
        let schema = '{"type":"string"}';
        for (let i = 0; i < 20_000; i++) schema = `{"type":"object","properties":{"a":${schema}}}`;
        return expectError(
          await raw(url, {
            headers: json,
            body: chat({
              response_format: { type: 'json_schema', json_schema: { name: 'deep', schema: 0 } },
            }).replace('"schema":0', `"schema":${schema}`),
          }),
          [400],
        );
      },
    },
    {
      name: '300 000 messages (14 MiB)',
      send: async () => {
        const msgs = Array.from({ length: 300_000 }, (_, i) => ({
          role: i % 2 ? 'assistant' : 'user',
          content: 'hello there',
        }));
        return expectError(await raw(url, { headers: json, body: chat({ messages: msgs }) }), [400]);
      },
    },
    {
      name: '15 MiB data: image URL of noise',
      send: async () => {
        const noise = Buffer.alloc(11 * MiB);
        for (let i = 0; i < noise.length; i += 7) noise[i] = (i * 2654435761) >>> 24;
        const body = chat({
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'what is this?' },
                {
                  type: 'image_url',
                  image_url: { url: `data:image/png;base64,${noise.toString('base64')}` },
                },
              ],
            },
          ],
        });
        return expectError(await raw(url, { headers: json, body }), [400]);
      },
    },
    {
      name: 'data: URL with a broken %-escape',
      send: async () =>
        expectError(
          await raw(url, {
            headers: json,
            body: chat({
              messages: [
                {
                  role: 'user',
                  content: [{ type: 'image_url', image_url: { url: 'data:image/png,%E0%A4%A' } }],
                },
              ],
            }),
          }),
          [400],
        ),
    },
    {
      name: 'max_tokens 2^53, -1, 1e308',
      send: async () => {
        const out = new Set<string>();
        for (const v of ['9007199254740993', '-1', '1e308'])
          out.add(
            expectError(
              await raw(url, { headers: json, body: chat().replace('"max_tokens":8', `"max_tokens":${v}`) }),
              [400],
            ),
          );
        return [...out].join(',');
      },
    },
    {
      name: 'bad content types (text/plain, multipart, none, invalid JSON)',
      send: async () => {
        const out = new Set<string>();
        out.add(
          expectError(await raw(url, { headers: { 'content-type': 'text/plain' }, body: chat() }), [415]),
        );
        out.add(
          expectError(
            await raw(url, { headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' }),
            [415],
          ),
        );
        out.add(expectError(await raw(url, { body: chat() }), [415]));
        out.add(
          expectError(await raw(url, { headers: json, body: '{"model": "sarai", "messages": [' }), [400]),
        );
        return [...out].join(',');
      },
    },
    {
      name: '32 concurrent chats from one client (limit 4: 429 + Retry-After)',
      send: async () => {
        const all = await Promise.all(
          Array.from({ length: 32 }, () => raw(url, { headers: json, body: chat({ max_tokens: 32 }) })),
        );
        const bad = all.filter((a) => a.status !== 200 && !(a.status === 429 && a.headers['retry-after']));
        if (bad.length)
          return `unexpected: ${bad.map((a) => `${a.status} ${a.body.slice(0, 80)}`).join('; ')}`;
        return all.some((a) => a.status === 429) ? '429' : 'unexpected: no 429 for 32 concurrent chats';
      },
    },
    {
      name: 'client gone mid-stream (8 streams, each dropped after its first event)',
      send: async () => {
        const drops = Array.from(
          { length: 8 },
          () =>
            new Promise<string>((resolve) => {
              const body = chat({ stream: true, max_tokens: 64, sarai: { iterations: 3, threshold: 1 } });
              const req = request(`${url}/v1/chat/completions`, {
                method: 'POST',
                headers: {
                  authorization: `Bearer ${API_KEY}`,
                  ...json,
                  'content-length': Buffer.byteLength(body),
                },
              });
              req.on('response', (res) => {
                res.once('data', () => {
                  req.destroy();
                  resolve(
                    res.statusCode === 200 || res.statusCode === 429
                      ? 'dropped'
                      : `unexpected ${res.statusCode}`,
                  );
                });
              });
              req.on('error', () => undefined);
              req.end(body);
            }),
        );
        const r = new Set(await Promise.all(drops));
        if (r.size !== 1 || !r.has('dropped')) return [...r].join(',');
        return healthy('dropped');
      },
    },
    {
      name: '16 slow bodies (a byte every 200 ms for 4 s) while others are served',
      send: async () => {
        const slow = Array.from({ length: 16 }, () =>
          raw(url, {
            headers: json,
            body: chat(),
            chunkBytes: Math.ceil(Buffer.byteLength(chat()) / 20),
            gapMs: 200,
          }),
        );
        const meanwhile = await raw(url, { headers: json, body: chat() });
        const answers = await Promise.all(slow);
        if (meanwhile.status !== 200)
          return `unexpected: a normal chat got ${meanwhile.status} during slow bodies`;
        const bad = answers.filter((a) => a.status !== 200 && a.status !== 429);
        return bad.length ? `unexpected: slow bodies got ${bad.map((a) => a.status).join(',')}` : 'served';
      },
    },
  ];
  return {
    set,
    warm: () => raw(url, { headers: json, body: chat() }),
    close: () => undefined,
  };
}
