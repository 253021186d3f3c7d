import { createHash } from 'node:crypto';
import { RpcError, type RpcOptions } from '@protobuf-ts/runtime-rpc';
import type { ISkillClient } from './gen/skills.client.js';
import type { ImageReply } from './gen/skills.js';

/** Output options of a PreprocessImage call (0 / '' = the service default). */
export interface ImageCallOptions {
  format?: string;
  quality?: number;
  maxDimension?: number;
}

/** A PreprocessImage reply plus whether the bytes had to be sent. */
export interface HashFirstReply extends ImageReply {
  /** False when the service answered from the content hash alone (no bytes on the wire). */
  uploaded: boolean;
}

/** sha256 of image bytes as the 64 lowercase hex digits `ImageReq.content_hash` carries. */
export function imageContentHash(imageData: Uint8Array): string {
  return createHash('sha256').update(imageData).digest('hex');
}

/**
 * PreprocessImage, hash-first: sends the sha256 of `imageData` without the bytes; the service answers an exact
 * cache hit from the hash alone, or sets `needs_upload`, and only then are the bytes sent. A service that predates
 * the field rejects the empty request with INVALID_ARGUMENT, and the bytes are sent too — so this works against
 * every version of the contract. Costs one extra round trip on a miss (no bytes), saves the upload on a hit.
 * Errors are the call's own (RpcError).
 */
export async function preprocessImageHashFirst(
  skill: ISkillClient,
  imageData: Uint8Array,
  options: ImageCallOptions = {},
  callOptions?: RpcOptions,
): Promise<HashFirstReply> {
  const base = {
    format: options.format ?? '',
    quality: options.quality ?? 0,
    maxDimension: options.maxDimension ?? 0,
  };
  const contentHash = imageContentHash(imageData);
  try {
    const { response } = await skill.preprocessImage(
      { ...base, imageData: new Uint8Array(0), contentHash },
      callOptions,
    );
    if (!response.needsUpload) return { ...response, uploaded: false };
  } catch (e) {
    if (!(e instanceof RpcError && e.code === 'INVALID_ARGUMENT')) throw e;
  }
  const { response } = await skill.preprocessImage({ ...base, imageData }, callOptions);
  return { ...response, uploaded: true };
}
