import type { SkillPool } from '@sarai/loop-core';
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';

/** HTTP, skill-connection and process metrics of `sarai serve`, in the loop's registry (one /metrics). */
export interface ServeMetrics {
  registry: Registry;
  request(route: string, method: string, status: number, seconds: number): void;
  inFlight: Gauge;
  rejected: Counter<'reason'>;
  cancelled: Counter;
}

export function createServeMetrics(
  registry: Registry,
  pool: SkillPool,
  skills: readonly string[],
): ServeMetrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'sarai_host_' });
  const total = new Counter({
    name: 'sarai_http_requests_total',
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registers,
  });
  const duration = new Histogram({
    name: 'sarai_http_request_duration_seconds',
    help: 'Time from request to the end of the response (streams included), by route',
    labelNames: ['route'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64],
    registers,
  });
  const inFlight = new Gauge({
    name: 'sarai_http_in_flight_requests',
    help: 'Chat completions being answered',
    registers,
  });
  const rejected = new Counter({
    name: 'sarai_http_rejected_total',
    help: 'Requests refused before the loop ran: rate_limit (429), auth (401), draining (503)',
    labelNames: ['reason'],
    registers,
  });
  const cancelled = new Counter({
    name: 'sarai_http_cancelled_total',
    help: 'Chat completions whose client disconnected before the answer (loop and draft generation cancelled)',
    registers,
  });
  new Gauge({
    name: 'sarai_skill_serving',
    help: 'The skill reports SERVING on grpc.health.v1 (1), NOT_SERVING or unreachable (0)',
    labelNames: ['skill'],
    registers,
    collect() {
      for (const s of skills) this.set({ skill: s }, pool.get(s).health === 'SERVING' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'sarai_skill_breaker_open',
    help: "The host's circuit breaker towards the skill is open (1) or half-open/closed (0)",
    labelNames: ['skill'],
    registers,
    collect() {
      for (const s of skills) this.set({ skill: s }, pool.get(s).breakerState === 'open' ? 1 : 0);
    },
  });
  return {
    registry,
    request: (route, method, status, seconds) => {
      total.inc({ route, method, status: String(status) });
      duration.observe({ route }, seconds);
    },
    inFlight,
    rejected,
    cancelled,
  };
}
