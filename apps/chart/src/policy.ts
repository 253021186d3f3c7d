import { objectId, type K8sObject } from './render.js';

interface Container {
  name: string;
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type?: string };
  };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
}
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type?: string } };
  containers?: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  automountServiceAccountToken?: boolean;
}

/** The pod spec inside a workload object (Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob...), if any. */
export function podSpecOf(obj: K8sObject): PodSpec | undefined {
  const spec = obj['spec'] as Record<string, unknown> | undefined;
  if (!spec) return undefined;
  if (obj.kind === 'Pod') return spec as PodSpec;
  if (obj.kind === 'CronJob') {
    const job = (spec['jobTemplate'] as { spec?: { template?: { spec?: PodSpec } } } | undefined)?.spec;
    return job?.template?.spec;
  }
  return (spec['template'] as { spec?: PodSpec } | undefined)?.spec;
}

/**
 * Hardening violations (the compose file's hardening, in Kubernetes terms): every container runs as non-root,
 * read-only root filesystem, no privilege escalation, not privileged, all capabilities dropped and none added,
 * seccomp RuntimeDefault (pod or container), CPU and memory limits; no host namespaces, no service-account token.
 */
export function hardeningViolations(obj: K8sObject): string[] {
  const pod = podSpecOf(obj);
  if (!pod) return [];
  const out: string[] = [];
  const id = objectId(obj);
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push(`${id}: shares a host namespace`);
  if (pod.automountServiceAccountToken !== false)
    out.push(`${id}: automountServiceAccountToken is not false`);
  const containers = [
    ...(pod.initContainers ?? []),
    ...(pod.containers ?? []),
    ...(pod.ephemeralContainers ?? []),
  ];
  if (containers.length === 0) out.push(`${id}: no containers`);
  for (const c of containers) {
    const s = c.securityContext ?? {};
    const where = `${id} container ${c.name}`;
    if (s.runAsNonRoot !== true && pod.securityContext?.runAsNonRoot !== true)
      out.push(`${where}: runAsNonRoot is not true`);
    if (s.runAsUser === 0) out.push(`${where}: runs as uid 0`);
    if (s.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem is not true`);
    if (s.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation is not false`);
    if (s.privileged === true) out.push(`${where}: privileged`);
    if (!(s.capabilities?.drop ?? []).includes('ALL')) out.push(`${where}: capabilities do not drop ALL`);
    if ((s.capabilities?.add ?? []).length > 0)
      out.push(`${where}: adds capabilities ${s.capabilities?.add?.join(',')}`);
    const seccomp = s.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      out.push(`${where}: seccomp is not RuntimeDefault`);
    if (!c.resources?.limits?.['cpu'] || !c.resources?.limits?.['memory'])
      out.push(`${where}: no CPU and memory limits`);
  }
  return out;
}
