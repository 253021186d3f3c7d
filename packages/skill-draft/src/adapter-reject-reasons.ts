// Its own module so that metrics and the adapter directory name the reasons without loading the verifier (OpenPGP).
/**
 * Why an adapter was refused (metric label `reason`, AdaptersReply.rejected[].reason prefix):
 * - `unsigned`: no manifest or no detached signature next to the adapter;
 * - `bad-signature`: the signature does not verify against TRUSTED_KEYS_FILE (untrusted key, tampered, expired, ...);
 * - `bad-manifest`: the manifest is not the trainer's `sarai.lora-manifest/v1` JSON or names another file;
 * - `checksum-mismatch`: the adapter's sha256 (or size) differs from the manifest's;
 * - `wrong-base-model`: trained for another base model (manifest base sha256 ≠ the loaded model's);
 * - `wrong-architecture`: the GGUF's general.architecture differs from the base model's;
 * - `corrupt`: not a readable GGUF LoRA adapter (header, type, tensor names/shapes, truncated data);
 * - `load-failed`: llama.cpp refused it, or no model instance could be created for it;
 * - `name-conflict`: an ADAPTERS variant already has this name.
 */
export const ADAPTER_REJECT_REASONS = [
  'unsigned',
  'bad-signature',
  'bad-manifest',
  'checksum-mismatch',
  'wrong-base-model',
  'wrong-architecture',
  'corrupt',
  'load-failed',
  'name-conflict',
] as const;
export type AdapterRejectReason = (typeof ADAPTER_REJECT_REASONS)[number];
