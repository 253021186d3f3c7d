import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  formatSignedPrompt,
  verifyPrompt,
  type PromptSigner,
  type TrustedKeys,
  type VerifyReason,
} from '@sarai/signer';
import {
  AdapterManifestSchema,
  errorMessage,
  serializeAdapterManifest,
  type AdapterManifest,
} from '@sarai/formats';
import { TrainerError } from './errors.js';
import { sha256File, writeFileExclusive } from './files.js';

/** Version of this package (its package.json, found upwards from this module: works from src/, dist/ and builds). */
export const TRAINER_VERSION: string = ((): string => {
  const require = createRequire(import.meta.url);
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = require(join(dir, 'package.json')) as { name?: string; version?: string };
      if (pkg.name === '@sarai/lora-trainer' && pkg.version) return pkg.version;
    } catch {
      // keep looking
    }
    if (dirname(dir) === dir) return '0.0.0';
  }
})();

/** Writes the manifest and its armored detached OpenPGP signature (`<manifest>.asc`), neither ever overwritten. */
export async function writeSignedManifest(
  manifest: AdapterManifest,
  manifestPath: string,
  signaturePath: string,
  signer: PromptSigner,
): Promise<void> {
  const text = serializeAdapterManifest(manifest);
  let signature: string;
  try {
    signature = await signer.signDetached(text);
  } catch (cause) {
    throw new TrainerError('TRAINER_SIGNING_FAILED', `cannot sign the manifest: ${errorMessage(cause)}`, {
      cause,
    });
  }
  await writeFileExclusive(signaturePath, signature);
  await writeFileExclusive(manifestPath, text);
}

export interface VerifiedManifest {
  manifest: AdapterManifest;
  /** Fingerprint of the trusted key that signed it. */
  fingerprint: string | null;
  signedAt: Date | null;
  adapterPath: string;
}

/**
 * Verifies a manifest: its detached signature against the trusted keys (reasons as @sarai/signer's
 * `verifyPrompt`), its schema, and the sha256 of the adapter it names (default: next to the manifest).
 * Throws TRAINER_MANIFEST_INVALID with the reason.
 */
export async function verifyAdapterManifest(options: {
  manifestPath: string;
  trusted: TrustedKeys;
  signaturePath?: string;
  adapterPath?: string;
}): Promise<VerifiedManifest & { reason: VerifyReason }> {
  const signaturePath = options.signaturePath ?? `${options.manifestPath}.asc`;
  const read = async (path: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (cause) {
      throw new TrainerError('TRAINER_MANIFEST_INVALID', `cannot read ${path}: ${errorMessage(cause)}`, {
        cause,
      });
    }
  };
  const text = await read(options.manifestPath);
  const signature = await read(signaturePath);
  const verdict = await verifyPrompt(formatSignedPrompt(text, signature.trim()), {
    trusted: options.trusted,
  });
  if (!verdict.valid) {
    throw new TrainerError(
      'TRAINER_MANIFEST_INVALID',
      `manifest signature rejected (${verdict.reason}): ${verdict.message}`,
    );
  }
  let manifest: AdapterManifest;
  try {
    manifest = AdapterManifestSchema.parse(JSON.parse(text));
  } catch (cause) {
    throw new TrainerError('TRAINER_MANIFEST_INVALID', `malformed manifest: ${errorMessage(cause)}`, {
      cause,
    });
  }
  if (basename(manifest.adapter.file) !== manifest.adapter.file) {
    throw new TrainerError('TRAINER_MANIFEST_INVALID', 'the manifest names an adapter outside its directory');
  }
  const adapterPath = options.adapterPath ?? join(dirname(options.manifestPath), manifest.adapter.file);
  const actual = await sha256File(adapterPath).catch((cause: unknown) => {
    throw new TrainerError(
      'TRAINER_MANIFEST_INVALID',
      `cannot read the adapter ${adapterPath}: ${errorMessage(cause)}`,
      { cause },
    );
  });
  if (actual !== manifest.adapter.sha256) {
    throw new TrainerError(
      'TRAINER_MANIFEST_INVALID',
      `adapter ${adapterPath} does not match the manifest's sha256`,
    );
  }
  return {
    manifest,
    fingerprint: verdict.fingerprint,
    signedAt: verdict.signedAt,
    adapterPath,
    reason: verdict.reason,
  };
}
