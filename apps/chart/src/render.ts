import { parseAllDocuments } from 'yaml';
import { ChartError } from './errors.js';
import { CHART_DIR, helm } from './helm.js';

/** A rendered Kubernetes object (what `helm template` prints, one YAML document each). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** `--set` pairs, e.g. `{ 'image.registry': 'localhost:5000' }`. */
  set?: Record<string, string>;
  /** Extra values files. */
  valuesFiles?: string[];
}

/** Renders the chart offline (`helm template`) and parses every object. */
export async function renderChart(opts: RenderOptions = {}): Promise<K8sObject[]> {
  const args = ['template', opts.release ?? 'sarai', CHART_DIR, '--namespace', opts.namespace ?? 'sarai'];
  for (const f of opts.valuesFiles ?? []) args.push('--values', f);
  for (const [k, v] of Object.entries(opts.set ?? {})) args.push('--set-string', `${k}=${v}`);
  const { stdout } = await helm(args);
  return parseManifests(stdout);
}

/** Parses a multi-document manifest; empty documents are skipped, YAML errors throw CHART_BAD_MANIFEST. */
export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new ChartError('CHART_BAD_MANIFEST', `invalid YAML in rendered chart: ${doc.errors[0]?.message}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj === null || obj === undefined) continue;
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string' || !obj.metadata?.name)
      throw new ChartError(
        'CHART_BAD_MANIFEST',
        `a rendered document lacks apiVersion, kind or metadata.name`,
      );
    out.push(obj);
  }
  return out;
}

/** `Kind/name` of an object, for messages. */
export const objectId = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;
