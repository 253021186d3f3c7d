import { ChartError } from './errors.js';
import { objectId, type K8sObject } from './render.js';

/** One ajv error as produced by the compiled kubernetes-models validators. */
interface SchemaError {
  instancePath: string;
  keyword: string;
  message?: string;
  params?: Record<string, unknown>;
}
type Validator = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };

/** API groups we render → the prefix of their schema names in kubernetes-models (Kubernetes 1.27 OpenAPI). */
const GROUPS: Record<string, string> = {
  '': 'IoK8sApiCore',
  apps: 'IoK8sApiApps',
  batch: 'IoK8sApiBatch',
  policy: 'IoK8sApiPolicy',
  autoscaling: 'IoK8sApiAutoscaling',
  'networking.k8s.io': 'IoK8sApiNetworking',
  'rbac.authorization.k8s.io': 'IoK8sApiRbac',
};

const cache = new Map<string, Validator>();

/** The compiled validator of an object's apiVersion/kind, e.g. apps/v1 Deployment → IoK8sApiAppsV1Deployment. */
export async function validatorFor(apiVersion: string, kind: string): Promise<Validator> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const prefix = GROUPS[group ?? ''];
  if (!prefix || !version)
    throw new ChartError(
      'CHART_NO_SCHEMA',
      `no Kubernetes schema known for apiVersion ${apiVersion} (kind ${kind})`,
    );
  const name = `${prefix}${version[0]?.toUpperCase()}${version.slice(1)}${kind}`;
  let v = cache.get(name);
  if (!v) {
    try {
      v = ((await import(`kubernetes-models/_schemas/${name}`)) as { validate: Validator }).validate;
    } catch (e) {
      throw new ChartError('CHART_NO_SCHEMA', `no Kubernetes schema ${name} for ${apiVersion} ${kind}`, {
        cause: e,
      });
    }
    cache.set(name, v);
  }
  return v;
}

function format(e: SchemaError): string {
  const at = e.instancePath || '/';
  const p = e.params ?? {};
  switch (e.keyword) {
    case 'type':
      return `${at} must be ${String(p['type'])}`;
    case 'enum':
      return `${at} must be one of ${(p['allowedValues'] as unknown[]).join(', ')}`;
    case 'required':
      return `${at} misses required field ${String(p['missingProperty'])}`;
    default:
      return `${at} ${e.message ?? e.keyword} ${JSON.stringify(p)}`;
  }
}

/** Schema violations of one object: wrong types, enum values, missing required fields (unknown fields pass). */
export async function schemaErrors(obj: K8sObject): Promise<string[]> {
  const validate = await validatorFor(obj.apiVersion, obj.kind);
  if (validate(obj)) return [];
  return (validate.errors ?? []).map((e) => `${objectId(obj)}: ${format(e)}`);
}

/** A value no Kubernetes schema type accepts: a known field set to it always fails its type check. */
const PROBE = Symbol('unknown-field-probe');

const pointer = (path: Array<string | number>): string =>
  path.map((p) => `/${String(p).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');

function* objectPaths(value: unknown, path: Array<string | number> = []): Generator<Array<string | number>> {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) yield* objectPaths(item, [...path, i]);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      yield [...path, k];
      yield* objectPaths(v, [...path, k]);
    }
  }
}

function withValueAt(root: unknown, path: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, unknown>;
  node[path[path.length - 1] as string | number] = value;
  return copy;
}

/**
 * Fields the schema does not define (typos such as `readinesProbe`, fields of another API version). The compiled
 * validators ignore unknown properties, so each field is probed: set to a value of no JSON type, a field the schema
 * knows fails validation at its own path; one it does not know passes silently. Children of an unknown field are
 * not reported again.
 */
export async function unknownFields(obj: K8sObject): Promise<string[]> {
  const validate = await validatorFor(obj.apiVersion, obj.kind);
  const unknown: string[] = [];
  for (const path of objectPaths(obj)) {
    const ptr = pointer(path);
    if (unknown.some((u) => ptr.startsWith(`${u}/`))) continue;
    validate(withValueAt(obj, path, PROBE));
    const hit = (validate.errors ?? []).some(
      (e) => e.instancePath === ptr || e.instancePath.startsWith(`${ptr}/`),
    );
    if (!hit) unknown.push(ptr);
  }
  return unknown.map((u) => `${objectId(obj)}: unknown field ${u}`);
}
