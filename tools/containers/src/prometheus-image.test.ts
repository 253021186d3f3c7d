import {
  ensureDockerAvailable,
  hardenedContainer,
  hardeningViolations,
  inspectContainer,
  resolveHardening,
} from '@sarai/testkit';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROMETHEUS_CMD, PROMETHEUS_PATHS, buildPrometheusImage } from './index.js';

const run = promisify(execFile);

describe('sarai/prometheus (Debian package, shell-less)', () => {
  let built: Awaited<ReturnType<typeof buildPrometheusImage>>;
  let container: StartedTestContainer;
  let url: string;

  beforeAll(async () => {
    await ensureDockerAvailable();
    built = await buildPrometheusImage({ log: (l) => console.info(`prometheus-image: ${l}`) });
    container = await hardenedContainer(built.image, {
      user: '65534:65534',
      memoryMiB: 256,
      pidsLimit: 64,
      wait: Wait.forHttp('/-/ready', 9090),
    })
      .withTmpFs({ '/prometheus': 'rw,size=64m,mode=1777' })
      .withExposedPorts(9090)
      .start();
    url = `http://127.0.0.1:${container.getMappedPort(9090)}`;
  });

  afterAll(async () => {
    await container?.stop();
  });

  it('runs hardened as nobody, read-only, and is labelled with the Debian package version', async () => {
    const violations = hardeningViolations(
      await inspectContainer(container),
      resolveHardening({ user: '65534:65534', memoryMiB: 256, pidsLimit: 64 }),
    );
    // the TSDB tmpfs is meant to be writable
    expect(violations.filter((v) => !v.includes('/prometheus'))).toEqual([]);
    const { stdout } = await run('docker', ['image', 'inspect', built.image]);
    const [img] = JSON.parse(stdout) as Array<{
      Config: { User: string; Labels: Record<string, string>; Entrypoint: string[]; Cmd: string[] };
    }>;
    expect(img?.Config.User).toBe('65534:65534');
    expect(img?.Config.Labels['org.sarai.debian-version']).toMatch(/^2\.\d+\.\d+/);
    expect(img?.Config.Entrypoint).toEqual([PROMETHEUS_PATHS.binary]);
    expect(img?.Config.Cmd).toEqual([...PROMETHEUS_CMD]);
    expect(built.sizeBytes).toBeLessThan(150e6);
  });

  it('has no shell and no package manager', async () => {
    for (const sh of ['/bin/sh', '/bin/bash', '/usr/bin/apt-get']) {
      const r = await container.exec([sh, '-c', 'true']);
      expect(r.exitCode, sh).not.toBe(0);
    }
  });

  it('serves the classic UI with its assets, the API, and scrapes itself', async () => {
    const graph = await fetch(`${url}/classic/graph`);
    expect(graph.status).toBe(200);
    const html = await graph.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]*\/classic\/static\/[^"]+)"/g)].map(
      (m) => m[1] as string,
    );
    expect(assets.length).toBeGreaterThan(3);
    for (const a of assets) expect((await fetch(new URL(a, url))).status, a).toBe(200);
    await expect
      .poll(
        async () => {
          const r = (await (await fetch(`${url}/api/v1/query?query=up`)).json()) as {
            data: { result: Array<{ value: [number, string] }> };
          };
          return r.data.result[0]?.value[1];
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe('1');
  });
});
