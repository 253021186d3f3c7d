import { imageContentHash, preprocessImageHashFirst } from '@sarai/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, scene } from '../bench/generator.js';
import { startHarness, type Harness } from './test-support/harness.js';

describe('hash-first PreprocessImage (content_hash without image_data)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({});
  });
  afterAll(async () => {
    await h.stop();
  });

  it('asks for the bytes on a miss, then answers the same request from the hash alone', async () => {
    const input = await encode(scene({ family: 'photo', seed: 41, width: 640, height: 480 }), 'jpeg', 90);
    const hash = imageContentHash(input);
    const probe = await h.conn.skill.preprocessImage({
      imageData: new Uint8Array(0),
      contentHash: hash,
      format: 'webp',
      quality: 0,
      maxDimension: 0,
    }).response;
    expect(probe).toMatchObject({ needsUpload: true, contentHash: hash, webpPath: '' });

    const first = await preprocessImageHashFirst(h.conn.skill, input, { format: 'webp' });
    expect(first).toMatchObject({ uploaded: true, cache: 'miss', contentHash: hash });
    const second = await preprocessImageHashFirst(h.conn.skill, input, { format: 'webp' });
    expect(second).toMatchObject({
      uploaded: false,
      cache: 'exact',
      webpPath: first.webpPath,
      perceptualHash: first.perceptualHash,
      width: first.width,
      height: first.height,
    });
    // Other output options are another variant: not an exact hit, so the bytes are needed again.
    const jpeg = await preprocessImageHashFirst(h.conn.skill, input, { format: 'jpeg' });
    expect(jpeg.uploaded).toBe(true);
  });

  it('rejects a malformed hash with INVALID_ARGUMENT naming the field', async () => {
    const err = await h.conn.skill
      .preprocessImage({
        imageData: new Uint8Array(0),
        contentHash: 'abc',
        format: '',
        quality: 0,
        maxDimension: 0,
      })
      .response.then(
        () => undefined,
        (e: { code: string; message: string }) => e,
      );
    expect(err?.code).toBe('INVALID_ARGUMENT');
    expect(err?.message).toContain('content_hash must be the sha256');
  });
});
