import { describe, expect, it } from 'vitest';
import { schemaErrors, unknownFields } from './k8s-schema.js';
import { renderChart, type K8sObject } from './render.js';

describe('rendered objects against the Kubernetes schemas (kubernetes-models, 1.27)', () => {
  it('every object is valid and has no unknown field, with default and with all options on', async () => {
    const variants = [
      await renderChart(),
      await renderChart({
        set: {
          'image.registry': 'localhost:5000',
          'skills.draft.adapters.enabled': 'true',
          'skills.draft.autoscaling.enabled': 'false',
          'persistence.models.storageClassName': 'nfs',
          'image.pullSecrets[0]': 'regcred',
        },
      }),
    ];
    let checked = 0;
    for (const objs of variants) {
      for (const o of objs) {
        expect(await schemaErrors(o)).toEqual([]);
        expect(await unknownFields(o)).toEqual([]);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(30);
  });

  it('catches a wrong type, a bad enum value, a missing field and unknown fields', async () => {
    const [deploy] = (await renderChart()).filter((o) => o.kind === 'Deployment') as [K8sObject];
    const bad = structuredClone(deploy) as K8sObject & { spec: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
    bad.spec['replicas'] = 'two';
    bad.spec['strategy'] = { type: 'Sometimes' };
    delete bad.spec['selector'];
    const c = bad.spec['template'].spec.containers[0];
    c.readinesProbe = c.readinessProbe; // typo
    c.securityContext.readOnlyRootFs = true; // field of no API
    const errors = await schemaErrors(bad);
    expect(errors.join('\n')).toMatch(/\/spec\/replicas must be integer/);
    expect(errors.join('\n')).toMatch(/\/spec\/strategy\/type must be one of Recreate, RollingUpdate/);
    expect(errors.join('\n')).toMatch(/\/spec misses required field selector/);
    expect((await unknownFields(bad)).sort()).toEqual([
      `Deployment/${deploy.metadata.name}: unknown field /spec/template/spec/containers/0/readinesProbe`,
      `Deployment/${deploy.metadata.name}: unknown field /spec/template/spec/containers/0/securityContext/readOnlyRootFs`,
    ]);
  });
});
