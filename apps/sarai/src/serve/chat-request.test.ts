import { describe, expect, it } from 'vitest';
import { parseChatRequest } from './chat-request.js';

// Found by the reliability hostile set for the HTTP API (tools/reliability, `hostile --skill serve`).
describe('parseChatRequest: hostile input is the client’s mistake (400), never an internal error', () => {
  const limits = { maxTokens: 4096 };

  it('refuses a data: image URL with a broken %-escape', () => {
    const r = parseChatRequest(
      {
        model: 'sarai',
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png,%E0%A4%A' } }] },
        ],
      },
      limits,
    );
    expect(r).toMatchObject({
      ok: false,
      error: { status: 400, code: 'invalid_image_url', param: 'messages[0].content[0].image_url' },
    });
  });

  it('answers a body that did not arrive as JSON (none, text/plain) with 415 and how to send it', () => {
    for (const body of [undefined, '{"model":"sarai"}']) {
      expect(parseChatRequest(body, limits)).toMatchObject({
        ok: false,
        error: { status: 415, message: expect.stringMatching(/Content-Type: application\/json/) },
      });
    }
  });
});
