import { int, num, optional, parse } from '../args.js';
import { CliError } from '../errors.js';
import type { Io } from '../io.js';
import { openSession } from '../session.js';
import { isLoopback, loadApiKey } from './auth.js';
import { createServeApp } from './server.js';

export const SERVE_USAGE = `  serve [--embedded] [--host H] [--port P] [--max-concurrent N] [--body-limit-mb N] [--iterations N]
        [--threshold X] [--deadline MS] [--insecure-no-auth]
      OpenAI-compatible HTTP API of the Omni-Loop: POST /v1/chat/completions (JSON or SSE stream), GET /v1/models,
      /healthz, /readyz, /metrics. Default 127.0.0.1:8080 (SARAI_HOST, SARAI_PORT); --deadline per draft call
      (SARAI_DRAFT_DEADLINE_MS, default 10000). Bearer API key from
      SARAI_API_KEY_FILE or SARAI_API_KEY, required when bound to a non-loopback address. SIGTERM drains
      (SHUTDOWN_GRACE_MS, default 30000).
`;

/**
 * `sarai serve`: opens a session (running skills, or --embedded local ones) and serves it over HTTP until SIGTERM or
 * SIGINT, then drains: readyz turns 503, in-flight answers finish (up to SHUTDOWN_GRACE_MS), skills stop.
 */
export async function serveCommand(
  args: string[],
  io: Io,
  signals: NodeJS.EventEmitter = process,
): Promise<number> {
  const { values } = parse(
    args,
    {
      embedded: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      'max-concurrent': { type: 'string' },
      'body-limit-mb': { type: 'string' },
      iterations: { type: 'string' },
      threshold: { type: 'string' },
      deadline: { type: 'string' },
      'insecure-no-auth': { type: 'boolean' },
    },
    0,
  );
  const host = String(values.host ?? io.env['SARAI_HOST'] ?? '127.0.0.1');
  const port = int(values.port ?? io.env['SARAI_PORT'] ?? '8080', 'port', 0, 65535) as number;
  const maxConcurrent = int(
    values['max-concurrent'] ?? io.env['SARAI_MAX_CONCURRENT_PER_CLIENT'] ?? '4',
    'max-concurrent',
    1,
    1024,
  ) as number;
  const bodyMb = num(
    values['body-limit-mb'] ?? io.env['SARAI_BODY_LIMIT_MB'] ?? '16',
    'body-limit-mb',
    0.001,
    1024,
  ) as number;
  const graceMs = int(
    io.env['SHUTDOWN_GRACE_MS'] ?? '30000',
    'SHUTDOWN_GRACE_MS (env)',
    0,
    3_600_000,
  ) as number;
  const apiKey = await loadApiKey(io.env);
  if (!apiKey && !isLoopback(host) && !values['insecure-no-auth']) {
    throw new CliError(
      'CLI_CONFIG',
      `serving on ${host} (reachable from other machines) needs an API key: set SARAI_API_KEY_FILE (or SARAI_API_KEY), ` +
        'or pass --insecure-no-auth to serve without one',
    );
  }
  const session = await openSession(io, {
    embedded: Boolean(values.embedded),
    ...optional('iterations', int(values.iterations, 'iterations', 1, 3)),
    ...optional('threshold', num(values.threshold, 'threshold', 0, 1)),
    ...optional(
      'draftDeadlineMs',
      int(values.deadline ?? io.env['SARAI_DRAFT_DEADLINE_MS'], 'deadline', 100, 600_000),
    ),
    say: (t) => io.stderr(t),
  });
  try {
    const serve = await createServeApp(
      {
        loop: session.loop,
        pool: session.pool,
        hasFallbackDraft: Boolean(session.fallback.draft),
        fingerprint: session.signer.fingerprint,
        logger: session.logger,
      },
      {
        ...(apiKey ? { apiKey } : {}),
        maxConcurrentPerClient: maxConcurrent,
        bodyLimit: Math.round(bodyMb * 1024 * 1024),
      },
    );
    const address = await serve.app.listen({ host, port }).catch((e: Error) => {
      throw new CliError('CLI_CONFIG', `cannot listen on ${host}:${port}: ${e.message}`);
    });
    io.stderr(
      `sarai serve: listening on ${address} (POST /v1/chat/completions, GET /v1/models, /healthz, /readyz, /metrics)` +
        `${apiKey ? ', API key required' : ''}${session.deployment.standIn ? '; embedded stand-in model: answers are noise' : ''}\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        io.stderr(`sarai serve: ${sig}: draining (up to ${graceMs} ms)...\n`);
        signals.removeListener('SIGTERM', onTerm);
        signals.removeListener('SIGINT', onInt);
        void serve.drain(graceMs).then(resolve, resolve);
      };
      const onTerm = () => stop('SIGTERM');
      const onInt = () => stop('SIGINT');
      signals.on('SIGTERM', onTerm);
      signals.on('SIGINT', onInt);
    });
    io.stderr('sarai serve: stopped\n');
    return 0;
  } finally {
    await session.close();
  }
}
