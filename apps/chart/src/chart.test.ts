import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CHART_DIR, helm } from './helm.js';
import { objectId, renderChart, type K8sObject } from './render.js';

const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);
const find = (objs: K8sObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} not rendered; got ${objs.map(objectId).join(', ')}`);
  return o as K8sObject & { spec: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
};

interface ImageValues {
  image: { repository: string; tag: string };
}
const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as {
  skills: Record<string, ImageValues>;
  host: ImageValues;
  trainer: ImageValues;
};
const skillNames = Object.keys(values.skills).sort();

describe('the sarai Helm chart', () => {
  it('passes helm lint --strict', async () => {
    const { stdout } = await helm(['lint', '--strict', CHART_DIR]);
    expect(stdout).toContain('0 chart(s) failed');
  });

  it('renders skills, host, trainer, storage and keys', async () => {
    const objs = await renderChart({ release: 'rel', namespace: 'ai' });
    expect(
      byKind(objs, 'Deployment')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['rel-host', ...skillNames.map((n) => `rel-skill-${n}`)]);
    expect(skillNames).toEqual(expect.arrayContaining(['draft', 'image', 'sandbox']));
    // A headless Service per skill (clients balance over the pod IPs), a PDB per Deployment.
    for (const skill of skillNames) {
      const svc = find(objs, 'Service', `rel-skill-${skill}`);
      expect(svc.spec['clusterIP']).toBe('None');
      expect(svc.spec['ports'][0]).toMatchObject({ name: 'grpc', port: 50051 });
      expect(find(objs, 'PodDisruptionBudget', `rel-skill-${skill}`).spec['minAvailable']).toBe(1);
    }
    expect(find(objs, 'PodDisruptionBudget', 'rel-host').spec['minAvailable']).toBe(1);
    // Native gRPC probes on grpc.health.v1: ready once the skill API serves.
    const draft = find(objs, 'Deployment', 'rel-skill-draft');
    const c = draft.spec['template'].spec.containers[0];
    expect(c.readinessProbe.grpc).toEqual({ port: 50051, service: 'skills.Skill' });
    expect(c.livenessProbe.grpc).toEqual({ port: 50051 });
    expect(c.image).toBe('sarai/skill-draft:0.1.0');
    // The HPA owns the draft replica count.
    expect(draft.spec['replicas']).toBeUndefined();
    const hpa = find(objs, 'HorizontalPodAutoscaler', 'rel-skill-draft');
    expect(hpa.spec['scaleTargetRef']).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'rel-skill-draft',
    });
    expect(find(objs, 'Deployment', 'rel-skill-image').spec['replicas']).toBe(2);
    // The host (HTTP API) probes /readyz and /healthz.
    const host = find(objs, 'Deployment', 'rel-host').spec['template'].spec.containers[0];
    expect(host.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(host.image).toBe('sarai/cli:0.1.0');
    // The host reaches every skill through its headless Service with dns:/// (round_robin in SkillPool).
    const hostEnv = find(objs, 'Deployment', 'rel-host').spec['template'].spec.containers[0].env;
    expect(hostEnv).toContainEqual({
      name: 'SARAI_SKILL_DRAFT_ADDR',
      value: 'dns:///rel-skill-draft.ai.svc.cluster.local:50051',
    });
    // The trainer: a CronJob whose pods may open no connection.
    const cron = find(objs, 'CronJob', 'rel-lora-trainer');
    expect(cron.spec['concurrencyPolicy']).toBe('Forbid');
    const np = find(objs, 'NetworkPolicy', 'rel-lora-trainer-deny-all');
    expect(np.spec['policyTypes']).toEqual(['Ingress', 'Egress']);
    expect(np.spec['egress']).toEqual([]);
    // The policy selects exactly the trainer's pods.
    expect(cron.spec['jobTemplate'].spec.template.metadata.labels).toMatchObject(
      np.spec['podSelector'].matchLabels,
    );
    expect(Object.keys(np.spec['podSelector'].matchLabels)).toContain('app.kubernetes.io/component');
    expect(
      byKind(objs, 'PersistentVolumeClaim')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['rel-adapters', 'rel-image-cache', 'rel-models', 'rel-state']);
    expect(find(objs, 'Secret', 'rel-keys')['data']).toHaveProperty(['signing.asc']);
  });

  it('points every image at a registry prefix, or pins a digest', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const objs = await renderChart({
      set: { 'image.registry': 'registry.example.com:5000/', 'skills.image.image.digest': digest },
    });
    const images = objs.flatMap((o) => {
      const spec = o['spec'] as Record<string, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
      const pod = o.kind === 'CronJob' ? spec?.['jobTemplate'].spec.template.spec : spec?.['template']?.spec;
      return ((pod?.containers ?? []) as Array<{ image: string }>).map((c) => c.image);
    });
    // Expected from values.yaml: every skill, the host and the trainer, each behind the prefix.
    const expected = [
      ...Object.entries(values.skills).map(([name, s]) =>
        name === 'image' ? `${s.image.repository}@${digest}` : `${s.image.repository}:${s.image.tag}`,
      ),
      `${values.host.image.repository}:${values.host.image.tag}`,
      `${values.trainer.image.repository}:${values.trainer.image.tag}`,
    ].map((ref) => `registry.example.com:5000/${ref}`);
    expect(images.sort()).toEqual(expected.sort());
    expect(images).toContain(`registry.example.com:5000/sarai/skill-image@${digest}`);
    expect(images).toContain('registry.example.com:5000/sarai/cli:0.1.0');
  });

  it('uses an existing Secret for keys instead of rendering one', async () => {
    const objs = await renderChart({ release: 'rel', set: { 'keys.existingSecret': 'my-keys' } });
    expect(byKind(objs, 'Secret')).toEqual([]);
    const vols = find(objs, 'Deployment', 'rel-host').spec['template'].spec.volumes as Array<{
      name: string;
      secret?: { secretName: string };
    }>;
    expect(vols.find((v) => v.name === 'keys')?.secret?.secretName).toBe('my-keys');
  });

  it('refuses an image with neither tag nor digest, naming the setting', async () => {
    await expect(renderChart({ set: { 'skills.draft.image.tag': '' } })).rejects.toThrow(
      /draft: image.tag or image.digest is required/,
    );
  });
});
