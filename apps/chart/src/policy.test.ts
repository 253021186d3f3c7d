import { describe, expect, it } from 'vitest';
import { hardeningViolations, podSpecOf } from './policy.js';
import { renderChart, type K8sObject } from './render.js';

describe('hardening policy', () => {
  it('every workload of the chart is hardened (and there are workloads to check)', async () => {
    const objs = await renderChart({ set: { 'skills.draft.adapters.enabled': 'true' } });
    const workloads = objs.filter((o) => podSpecOf(o));
    // One Deployment per skill plus the host's, and the trainer's CronJob.
    const deployments = objs.filter((o) => o.kind === 'Deployment').length;
    expect(deployments).toBeGreaterThanOrEqual(4);
    expect(workloads.map((o) => o.kind).sort()).toEqual([
      'CronJob',
      ...Array<string>(deployments).fill('Deployment'),
    ]);
    expect(objs.flatMap(hardeningViolations)).toEqual([]);
  });

  it('fails on a container without the hardening', async () => {
    const objs = await renderChart({ release: 'rel' });
    const deploy = structuredClone(
      objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'rel-skill-image'),
    ) as K8sObject;
    const pod = podSpecOf(deploy);
    if (!pod?.containers?.[0]) throw new Error('rel-skill-image has no pod spec');
    pod.securityContext = {};
    pod.initContainers = [{ name: 'init', resources: { limits: { cpu: '1', memory: '1Gi' } } }];
    const main = pod.containers[0];
    main.securityContext = {
      ...main.securityContext,
      readOnlyRootFilesystem: false,
      capabilities: { add: ['NET_ADMIN'] },
    };
    expect(hardeningViolations(deploy)).toEqual([
      'Deployment/rel-skill-image container init: runAsNonRoot is not true',
      'Deployment/rel-skill-image container init: readOnlyRootFilesystem is not true',
      'Deployment/rel-skill-image container init: allowPrivilegeEscalation is not false',
      'Deployment/rel-skill-image container init: capabilities do not drop ALL',
      'Deployment/rel-skill-image container init: seccomp is not RuntimeDefault',
      'Deployment/rel-skill-image container skill: readOnlyRootFilesystem is not true',
      'Deployment/rel-skill-image container skill: capabilities do not drop ALL',
      'Deployment/rel-skill-image container skill: adds capabilities NET_ADMIN',
    ]);
  });
});
