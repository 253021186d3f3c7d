// Validation of a published LoRA adapter before it may serve: the trainer's signed manifest (detached OpenPGP
// signature over the manifest bytes, as @sarai/lora-trainer writes it), the adapter's sha256, the base model it was
// trained for, and the adapter's GGUF header against the loaded base model. The manifest schema, adapter file
// naming and hashing are @sarai/formats' (shared with the trainer).
import { stat, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  AdapterManifestIdentitySchema,
  adapterArtifacts,
  adapterName,
  errorMessage,
  metaString,
  readGgufHeader,
  sha256File,
  type AdapterManifestIdentity,
  type GgufFile,
} from '@sarai/formats';
import { formatSignedPrompt, verifyPrompt, type TrustedKeys } from '@sarai/signer';
import type { AdapterRejectReason } from './adapter-reject-reasons.js';

export { ADAPTER_REJECT_REASONS, type AdapterRejectReason } from './adapter-reject-reasons.js';

/** The base model an adapter must fit. */
export interface BaseModelIdentity {
  sha256: string;
  architecture: string;
  /** Base tensors by name → dimensions (ggml order); when given, adapter tensor shapes are checked against them. */
  tensors?: ReadonlyMap<string, readonly number[]>;
}

export interface VerifiedAdapter {
  name: string;
  path: string;
  sha256: string;
  bytes: number;
  baseModelSha256: string;
  /** Fingerprint of the trusted key that signed the manifest. */
  signer: string | null;
  signedAt: Date | null;
}

export type AdapterVerdict =
  { ok: true; adapter: VerifiedAdapter } | { ok: false; reason: AdapterRejectReason; message: string };

const reject = (reason: AdapterRejectReason, message: string): AdapterVerdict => ({
  ok: false,
  reason,
  message,
});

/** Bytes of a tensor's data for the types adapters use; undefined when unknown (llama.cpp checks those). */
function tensorDataBytes(type: number, elements: number): number | undefined {
  switch (type) {
    case 0: // F32
      return elements * 4;
    case 1: // F16
    case 30: // BF16
      return elements * 2;
    case 8: // Q8_0
      return (elements / 32) * 34;
    case 2: // Q4_0
      return (elements / 32) * 18;
    default:
      return undefined;
  }
}

/**
 * Checks the GGUF header and tensor table of an adapter against the base model. Reads only the header, with
 * synchronous reads (@sarai/formats' reader: a fraction of a millisecond, and no job on the libuv pool, which the
 * decodes use): run it off the event loop (verifyAdapterOffThread).
 */
export async function checkAdapterGguf(
  path: string,
  base: BaseModelIdentity,
): Promise<AdapterVerdict | undefined> {
  let info: GgufFile;
  try {
    info = readGgufHeader(path);
  } catch (e) {
    return reject('corrupt', `not a readable GGUF file: ${errorMessage(e)}`);
  }
  const generalType = metaString(info, 'general.type');
  const adapterType = metaString(info, 'adapter.type');
  if (generalType !== 'adapter' || adapterType !== 'lora') {
    return reject(
      'corrupt',
      `not a LoRA adapter (general.type = ${JSON.stringify(generalType)}, adapter.type = ${JSON.stringify(adapterType)})`,
    );
  }
  const architecture = metaString(info, 'general.architecture');
  if (architecture !== base.architecture) {
    return reject(
      'wrong-architecture',
      `adapter architecture ${JSON.stringify(architecture)} ≠ base model's ${JSON.stringify(base.architecture)}`,
    );
  }
  const tensors = info.tensors;
  if (tensors.length === 0) return reject('corrupt', 'the adapter has no tensors');
  const size = (await stat(path)).size;
  const names = new Set(tensors.map((t) => t.name));
  for (const t of tensors) {
    const m = /^(.+)\.lora_([ab])$/.exec(t.name);
    if (!m) return reject('corrupt', `unexpected tensor ${t.name} (LoRA tensors end in .lora_a / .lora_b)`);
    const [, target, ab] = m as unknown as [string, string, 'a' | 'b'];
    if (!names.has(`${target}.lora_${ab === 'a' ? 'b' : 'a'}`))
      return reject('corrupt', `tensor ${t.name} has no .lora_${ab === 'a' ? 'b' : 'a'} partner`);
    const dims = t.ne;
    if (base.tensors) {
      const baseDims = base.tensors.get(target);
      if (!baseDims)
        return reject('corrupt', `tensor ${t.name} targets ${target}, which the base model lacks`);
      // lora_a: [n_in, r] with n_in = base ne[0]; lora_b: [r, n_out] with n_out = base ne[1].
      const ok = ab === 'a' ? dims[0] === baseDims[0] : dims[1] === baseDims[1];
      if (!ok || dims.length !== 2)
        return reject(
          'corrupt',
          `tensor ${t.name} [${dims.join(', ')}] does not fit ${target} [${baseDims.join(', ')}]`,
        );
    }
    const bytes = tensorDataBytes(
      t.type,
      dims.reduce((a, b) => a * b, 1),
    );
    if (bytes !== undefined && info.dataOffset + t.offset + bytes > size)
      return reject('corrupt', `tensor ${t.name} data lies past the end of the file (truncated?)`);
  }
  return undefined;
}

/**
 * Verifies a published adapter: signed manifest → schema → file name → sha256 and size → base model sha256 →
 * GGUF header and tensors. The signature is checked before anything in the adapter is parsed. Never throws.
 */
export async function verifyAdapter(options: {
  adapterPath: string;
  trusted: TrustedKeys;
  base: BaseModelIdentity;
  manifestPath?: string;
  signaturePath?: string;
}): Promise<AdapterVerdict> {
  const fileName = basename(options.adapterPath);
  const paths = adapterArtifacts(options.adapterPath);
  const manifestPath = options.manifestPath ?? paths.manifest;
  const signaturePath = options.signaturePath ?? paths.signature;
  const readOrNull = (p: string) => readFile(p, 'utf8').catch(() => null);
  try {
    const text = await readOrNull(manifestPath);
    if (text === null) return reject('unsigned', `no manifest ${basename(manifestPath)} next to the adapter`);
    const signature = await readOrNull(signaturePath);
    if (signature === null)
      return reject('unsigned', `no signature ${basename(signaturePath)} for the manifest`);
    const verdict = await verifyPrompt(formatSignedPrompt(text, signature.trim()), {
      trusted: options.trusted,
    });
    if (!verdict.valid)
      return reject('bad-signature', `manifest signature rejected (${verdict.reason}): ${verdict.message}`);
    let manifest: AdapterManifestIdentity;
    try {
      manifest = AdapterManifestIdentitySchema.parse(JSON.parse(text));
    } catch (e) {
      return reject('bad-manifest', `malformed manifest: ${errorMessage(e).slice(0, 300)}`);
    }
    if (manifest.adapter.file !== fileName)
      return reject(
        'bad-manifest',
        `the manifest is for ${JSON.stringify(manifest.adapter.file)}, not ${fileName}`,
      );
    const st = await stat(options.adapterPath);
    const sha256 = await sha256File(options.adapterPath);
    if (sha256 !== manifest.adapter.sha256 || st.size !== manifest.adapter.bytes)
      return reject('checksum-mismatch', `${fileName} does not match the sha256/size in its signed manifest`);
    if (manifest.baseModel.sha256 !== options.base.sha256) {
      return reject(
        'wrong-base-model',
        `trained for base model ${manifest.baseModel.file} (sha256 ${manifest.baseModel.sha256.slice(0, 12)}…), the loaded model is ${options.base.sha256.slice(0, 12)}…`,
      );
    }
    const gguf = await checkAdapterGguf(options.adapterPath, options.base);
    if (gguf) return gguf;
    return {
      ok: true,
      adapter: {
        name: adapterName(fileName),
        path: options.adapterPath,
        sha256,
        bytes: st.size,
        baseModelSha256: manifest.baseModel.sha256,
        signer: verdict.fingerprint,
        signedAt: verdict.signedAt,
      },
    };
  } catch (e) {
    return reject('corrupt', `cannot read ${fileName}: ${errorMessage(e)}`);
  }
}
