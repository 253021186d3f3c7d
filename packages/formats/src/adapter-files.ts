/**
 * Published adapter file names: `lora_YYYYMMDD.gguf`, then `lora_YYYYMMDD-N.gguf` for further runs the same day
 * (the trainer counts from -2, test fixtures from -1; either sorts after the plain name). Group 1 is the UTC date,
 * group 2 the same-day counter.
 */
export const ADAPTER_FILE = /^lora_(\d{8})(?:-(\d{1,6}))?\.gguf$/;

/** The file name of an adapter published on `day` (`YYYYMMDD`); `counter` 0 (default) = no `-N` suffix. */
export function adapterFileName(day: string, counter = 0): string {
  return counter === 0 ? `lora_${day}.gguf` : `lora_${day}-${counter}.gguf`;
}

/** `YYYYMMDD` of a date, in UTC (the date part of adapter names). */
export function dateStamp(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

/** Adapter name (GenReq.adapter, ListAdapters) of a published file: its name without `.gguf`. */
export function adapterName(fileName: string): string {
  return fileName.replace(/\.gguf$/, '');
}

/** Orders published adapter file names oldest first (date, then the same-day counter); others by name. */
export function compareAdapterFiles(a: string, b: string): number {
  const ma = ADAPTER_FILE.exec(a);
  const mb = ADAPTER_FILE.exec(b);
  if (!ma || !mb) return a < b ? -1 : a > b ? 1 : 0;
  if (ma[1] !== mb[1]) return (ma[1] as string) < (mb[1] as string) ? -1 : 1;
  return Number(ma[2] ?? -1) - Number(mb[2] ?? -1);
}

/** The files of one training run, all named after the adapter (`lora_20261124-2.gguf` → `lora_20261124-2.*`). */
export interface AdapterArtifacts {
  /** The LoRA GGUF. */
  adapter: string;
  /** `<name>.manifest.json`: the {@link AdapterManifest}, serialized by {@link serializeAdapterManifest}. */
  manifest: string;
  /** `<name>.manifest.json.asc`: armored detached OpenPGP signature over the manifest's bytes. */
  signature: string;
  /** `<name>.dataset.jsonl`: the canonical training dataset the manifest hashes. */
  dataset: string;
}

/** The sibling files of an adapter (same directory). */
export function adapterArtifacts(adapterPath: string): AdapterArtifacts {
  const stem = adapterPath.replace(/\.gguf$/, '');
  return {
    adapter: adapterPath,
    manifest: `${stem}.manifest.json`,
    signature: `${stem}.manifest.json.asc`,
    dataset: `${stem}.dataset.jsonl`,
  };
}
