/**
 * OpenAI-shaped API errors: `{ error: { message, type, param, code } }` with the matching HTTP status. They are
 * values (returned, not thrown) so validation reads as data; the CLI's one error class stays CliError.
 */
export interface ApiFailure {
  status: number;
  type:
    | 'invalid_request_error'
    | 'authentication_error'
    | 'not_found_error'
    | 'rate_limit_error'
    | 'server_error';
  code: string | null;
  param: string | null;
  message: string;
  /** Extra response headers (e.g. Retry-After). */
  headers?: Record<string, string>;
}

export const badRequest = (
  message: string,
  param: string | null = null,
  code: string | null = null,
): ApiFailure => ({
  status: 400,
  type: 'invalid_request_error',
  code,
  param,
  message,
});

export const serverError = (status: number, message: string, code: string | null = null): ApiFailure => ({
  status,
  type: 'server_error',
  code,
  param: null,
  message,
});

export function errorBody(f: ApiFailure): { error: Omit<ApiFailure, 'status' | 'headers'> } {
  return { error: { message: f.message, type: f.type, param: f.param, code: f.code } };
}

/** Maps an error thrown while answering (the loop's LoopError codes, fastify's parser errors) to an API failure. */
export function failureOf(e: unknown): ApiFailure {
  const err = e as { code?: string; message?: string; statusCode?: number };
  const message = err?.message ?? String(e);
  switch (err?.code) {
    case 'LOOP_BAD_OPTION':
    case 'LOOP_BAD_INPUT':
      return badRequest(message);
    case 'LOOP_SKILL_REJECTED':
      return badRequest(message, null, 'rejected_by_skill');
    case 'LOOP_SKILL_UNAVAILABLE':
      return serverError(503, message, 'skill_unavailable');
    case 'LOOP_SIGNING_FAILED':
      return serverError(500, message, 'signing_failed');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        type: 'invalid_request_error',
        code: 'request_too_large',
        param: null,
        message: `${message}: send a smaller request (images: downscale or recompress before encoding)`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { ...badRequest('send the request body as JSON (Content-Type: application/json)'), status: 415 };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return badRequest('the request body is empty: send a JSON object');
  }
  if (err?.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return { ...badRequest(`invalid request body: ${message}`), status: err.statusCode };
  }
  return serverError(500, `internal error: ${message}`);
}
