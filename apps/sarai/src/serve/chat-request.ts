import { jsonSchemaChecker, type Checker, type RunOptions } from '@sarai/loop-core';
import { badRequest, type ApiFailure } from './api-error.js';
import { jsonObjectGrammar, jsonSchemaGrammar } from './json-grammar.js';

/** A validated `POST /v1/chat/completions` request, ready for `OmniLoop.run`. */
export interface ChatRequest {
  model: string;
  stream: boolean;
  prompt: string;
  run: RunOptions;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant']);
const LABEL: Record<string, string> = {
  system: 'System',
  developer: 'System',
  user: 'User',
  assistant: 'Assistant',
};

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

type Parsed<T> = { ok: true; value: T } | { ok: false; error: ApiFailure };
const fail = (error: ApiFailure): { ok: false; error: ApiFailure } => ({ ok: false, error });

function decodeDataUrl(url: string, param: string): Parsed<Uint8Array> {
  const m = /^data:(image\/[a-z0-9.+-]+)?(;[^,]*)?,(.*)$/is.exec(url);
  if (!m) {
    return fail(
      badRequest(
        'image_url must be a data: URL (data:image/png;base64,...): this local-first server does not fetch remote URLs',
        param,
        'invalid_image_url',
      ),
    );
  }
  const base64 = /;base64/i.test(m[2] ?? '');
  const payload = m[3] ?? '';
  let text: string;
  try {
    text = base64 ? payload : decodeURIComponent(payload);
  } catch {
    // a broken %-escape (URIError) is the client's mistake, not an internal error
    return fail(
      badRequest('the image data: URL has a broken %-escape: use base64', param, 'invalid_image_url'),
    );
  }
  const bytes = base64 ? Buffer.from(text, 'base64') : Buffer.from(text, 'latin1');
  if (bytes.length === 0) return fail(badRequest('the image data: URL is empty', param, 'invalid_image_url'));
  return { ok: true, value: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
}

/** Message text and image of one message's `content` (a string or an array of text/image_url parts). */
function contentOf(content: unknown, i: number, images: Uint8Array[]): Parsed<string> {
  const param = `messages[${i}].content`;
  if (typeof content === 'string') return { ok: true, value: content };
  if (content === null || content === undefined) return { ok: true, value: '' };
  if (!Array.isArray(content))
    return fail(badRequest(`${param} must be a string or an array of parts`, param));
  const texts: string[] = [];
  for (const [j, part] of content.entries()) {
    const p = `${param}[${j}]`;
    if (!isObj(part)) return fail(badRequest(`${p} must be an object with a "type"`, p));
    if (part.type === 'text') {
      if (typeof part.text !== 'string') return fail(badRequest(`${p}.text must be a string`, `${p}.text`));
      texts.push(part.text);
    } else if (part.type === 'image_url') {
      const url = isObj(part.image_url) ? part.image_url.url : part.image_url;
      if (typeof url !== 'string')
        return fail(badRequest(`${p}.image_url.url must be a string`, `${p}.image_url`));
      const img = decodeDataUrl(url, `${p}.image_url`);
      if (!img.ok) return img;
      images.push(img.value);
    } else {
      return fail(
        badRequest(
          `${p}.type "${String(part.type)}" is not supported: use "text" or "image_url"`,
          `${p}.type`,
        ),
      );
    }
  }
  return { ok: true, value: texts.join('\n') };
}

/**
 * The loop's prompt for a conversation: a lone user message (after optional system messages) is sent as is, with
 * the system text first; longer conversations become a `System:/User:/Assistant:` transcript ending in `Assistant:`.
 */
function promptOf(msgs: Array<{ role: string; text: string }>): string {
  const system = msgs.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => m.text);
  const turns = msgs.filter((m) => m.role === 'user' || m.role === 'assistant');
  if (turns.length === 1 && turns[0]?.role === 'user') {
    return [...system, turns[0].text].filter((t) => t.trim()).join('\n\n');
  }
  const lines = msgs.map((m) => `${LABEL[m.role] as string}: ${m.text}`);
  return `${lines.join('\n')}\nAssistant:`;
}

function intIn(
  body: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): Parsed<number | undefined> {
  const v = body[key];
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    return fail(badRequest(`${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`, key));
  }
  return { ok: true, value: v };
}

function numIn(v: unknown, key: string, min: number, max: number): Parsed<number | undefined> {
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    return fail(badRequest(`${key} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}`, key));
  }
  return { ok: true, value: v };
}

function responseFormat(rf: unknown): Parsed<{ grammar?: string; checker?: Checker }> {
  if (rf === undefined || rf === null) return { ok: true, value: {} };
  if (!isObj(rf))
    return fail(badRequest('response_format must be an object with a "type"', 'response_format'));
  if (rf.type === 'text') return { ok: true, value: {} };
  if (rf.type === 'json_object') {
    return {
      ok: true,
      value: {
        grammar: jsonObjectGrammar(),
        checker: jsonSchemaChecker({ type: 'object' }, { name: 'json' }),
      },
    };
  }
  if (rf.type === 'json_schema') {
    const js = rf.json_schema;
    if (!isObj(js) || !isObj(js.schema)) {
      return fail(
        badRequest(
          'response_format.json_schema.schema must be a JSON Schema object',
          'response_format.json_schema.schema',
        ),
      );
    }
    try {
      const name = typeof js.name === 'string' && js.name ? js.name : 'json-schema';
      return {
        ok: true,
        value: { grammar: jsonSchemaGrammar(js.schema), checker: jsonSchemaChecker(js.schema, { name }) },
      };
    } catch (e) {
      return fail(
        badRequest(
          `response_format.json_schema.schema: ${(e as Error).message}`,
          'response_format.json_schema.schema',
        ),
      );
    }
  }
  return fail(
    badRequest(
      `response_format.type "${String(rf.type)}" is not supported: use "text", "json_object" or "json_schema"`,
      'response_format.type',
    ),
  );
}

/**
 * Validates an OpenAI chat completion request. Supported: messages (system/developer/user/assistant; string or
 * text/image_url parts, one data: image per request), max_tokens / max_completion_tokens, temperature, stop, seed,
 * n = 1, response_format, stream, and the extension `sarai: { iterations, threshold }`. tools/functions are refused.
 */
export function parseChatRequest(body: unknown, limits: { maxTokens: number }): Parsed<ChatRequest> {
  if (body === undefined || typeof body === 'string') {
    // no body, or one fastify read as text/plain: the client did not send JSON
    return fail({
      ...badRequest('send the request body as JSON (Content-Type: application/json)'),
      status: 415,
    });
  }
  if (!isObj(body)) return fail(badRequest('the request body must be a JSON object'));
  if (typeof body.model !== 'string' || !body.model) {
    return fail(badRequest('model is required (GET /v1/models lists them)', 'model'));
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return fail(badRequest('messages must be a non-empty array of {role, content}', 'messages'));
  }
  for (const k of ['tools', 'functions', 'tool_choice', 'function_call']) {
    if (body[k] !== undefined && body[k] !== null) {
      return fail(badRequest(`${k} is not supported by this server`, k, 'unsupported_parameter'));
    }
  }
  const images: Uint8Array[] = [];
  const msgs: Array<{ role: string; text: string }> = [];
  for (const [i, m] of (body.messages as unknown[]).entries()) {
    if (!isObj(m) || typeof m.role !== 'string' || !ROLES.has(m.role)) {
      return fail(
        badRequest(
          `messages[${i}].role must be one of system, developer, user, assistant`,
          `messages[${i}].role`,
        ),
      );
    }
    const text = contentOf(m.content, i, images);
    if (!text.ok) return text;
    msgs.push({ role: m.role, text: text.value });
  }
  if (!msgs.some((m) => m.role === 'user')) {
    return fail(badRequest('messages needs at least one user message', 'messages'));
  }
  if (images.length > 1) {
    return fail(badRequest('at most one image per request: the Omni-Loop takes a single image', 'messages'));
  }
  const prompt = promptOf(msgs);
  if (!prompt.trim() && images.length === 0) {
    return fail(badRequest('the messages contain no text: ask a question or attach an image', 'messages'));
  }
  const n = intIn(body, 'n', 1, 1);
  if (!n.ok) return fail(badRequest('n must be 1: the Omni-Loop returns one answer', 'n'));
  const maxTokens = intIn(
    body,
    body.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens',
    1,
    limits.maxTokens,
  );
  if (!maxTokens.ok) return maxTokens;
  const temperature = numIn(body.temperature, 'temperature', 0, 2);
  if (!temperature.ok) return temperature;
  const seed = intIn(body, 'seed', 0, 2 ** 32 - 1);
  if (!seed.ok) return seed;
  let stop: string[] | undefined;
  if (typeof body.stop === 'string') stop = [body.stop];
  else if (
    Array.isArray(body.stop) &&
    body.stop.length <= 4 &&
    body.stop.every((s) => typeof s === 'string' && s)
  ) {
    stop = body.stop as string[];
  } else if (body.stop !== undefined && body.stop !== null) {
    return fail(badRequest('stop must be a string or an array of up to 4 non-empty strings', 'stop'));
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') {
    return fail(badRequest('stream must be true or false', 'stream'));
  }
  const rf = responseFormat(body.response_format);
  if (!rf.ok) return rf;
  const ext = body.sarai;
  if (ext !== undefined && !isObj(ext)) {
    return fail(badRequest('sarai must be an object: { iterations?: 1..3, threshold?: 0..1 }', 'sarai'));
  }
  const iterations = intIn(ext ?? {}, 'iterations', 1, 3);
  if (!iterations.ok)
    return fail({
      ...iterations.error,
      param: 'sarai.iterations',
      message: `sarai.${iterations.error.message}`,
    });
  const threshold = numIn(ext?.threshold, 'sarai.threshold', 0, 1);
  if (!threshold.ok) return threshold;

  const run: RunOptions = {
    ...(images[0] ? { image: images[0] } : {}),
    ...(maxTokens.value !== undefined ? { maxTokens: maxTokens.value } : {}),
    ...(temperature.value !== undefined ? { temperature: temperature.value } : {}),
    ...(seed.value !== undefined ? { seed: seed.value } : {}),
    ...(stop ? { stop } : {}),
    ...(rf.value.grammar ? { grammar: rf.value.grammar } : {}),
    ...(rf.value.checker ? { checkers: [rf.value.checker] } : {}),
    ...(iterations.value !== undefined ? { maxIterations: iterations.value } : {}),
    ...(threshold.value !== undefined ? { confidenceThreshold: threshold.value } : {}),
  };
  return {
    ok: true,
    value: {
      model: body.model,
      stream: body.stream === true,
      prompt: prompt.trim() ? prompt : 'Describe the image.',
      run,
    },
  };
}
