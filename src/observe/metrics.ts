// Prometheus metrics (prom-client), on a registry of the server's own. Requests are counted when
// their response closes (answered, or cut short by the client) by face, route template (never the raw URL: no ids or query values in a label),
// method and status class, each route's label children bound once; the services' own counters (key
// cache, invalidations, usage buffer, database pool) are plain numbers read when Prometheus scrapes.
// Served on the main port behind KEYPLANE_METRICS_TOKEN, and/or on a separate listener
// (KEYPLANE_METRICS_PORT) without a token; neither by default.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../domain/core.ts';
import { finalStatus } from './access-log.ts';

/** What the gateway reports, on its own request path (label children bound once per value). */
export interface GatewayObserver {
  /** A limiter decision: `refused` names the limit kind (requests, tokens…), null when allowed. */
  limit(refused: string | null): void;
  /** An upstream call: time to its answer's headers, and until its answer was read to the end. */
  upstream(provider: string, ttfbSeconds: number, totalSeconds: number): void;
  /** Tokens an upstream reported for a model. */
  tokens(model: string, input: number, output: number): void;
}

/** Seconds: from a cached key check (sub-millisecond) to a long completion. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const UPSTREAM_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];
const FLUSH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** A route's label children: one counter per status class, one histogram. */
interface RouteChildren {
  counts: Array<{ inc(): void }>;
  duration: { observe(v: number): void };
  authFailures: { inc(): void };
}

export interface MetricsOptions {
  /** The face owning a URL no route matched (the face table's lookup). */
  faceOfUrl(url: string): string | undefined;
  /** KEYPLANE_METRICS_TOKEN: `GET /metrics` on the main port requires it as a bearer token. */
  token?: string | undefined;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'face' | 'route' | 'method' | 'status_class'>;
  private readonly duration: Histogram<'face' | 'route' | 'method'>;
  private readonly authFailures: Counter<'face'>;
  private readonly routes = new Map<string, RouteChildren>();
  /** `METHOD url-template` → face, from the server's route list (filled once the server is ready). */
  private readonly faceOfRoute = new Map<string, string>();
  private readonly tokenDigest: Buffer | null;
  readonly gateway: GatewayObserver;
  private listener: http.Server | null = null;

  constructor(
    core: Core,
    private readonly opts: MetricsOptions,
  ) {
    const registers = [this.registry];
    this.tokenDigest = opts.token ? sha256(opts.token) : null;
    collectDefaultMetrics({ register: this.registry });

    this.requests = new Counter({ name: 'keyplane_http_requests_total', help: 'HTTP requests answered, by face, route template, method and status class', labelNames: ['face', 'route', 'method', 'status_class'], registers });
    this.duration = new Histogram({ name: 'keyplane_http_request_duration_seconds', help: 'Time from request to the end of the answer, by face, route template and method', labelNames: ['face', 'route', 'method'], buckets: LATENCY_BUCKETS, registers });
    this.authFailures = new Counter({ name: 'keyplane_auth_failures_total', help: 'Requests refused 401 (no, unknown, revoked or expired credential), by face', labelNames: ['face'], registers });

    // the services' counters, read at scrape time (a counter moves by what changed since the last scrape)
    const cache = core.cache;
    deltaCounter(registers, 'keyplane_key_cache_hits_total', 'Key verifications answered from the key cache', () => cache.hits);
    deltaCounter(registers, 'keyplane_key_cache_misses_total', 'Key verifications that read the database', () => cache.misses);
    new Gauge({ name: 'keyplane_key_cache_entries', help: 'Verified keys in the key cache', registers, collect() { this.set(cache.size); } });
    const inv = core.invalidationsReceived;
    const seenInv: Record<string, number> = {};
    const invalidations = new Counter({
      name: 'keyplane_cache_invalidations_received_total',
      help: 'Cache invalidations received: PostgreSQL notifications per channel (key, credential, cache), resynchronizations after a lost listener (resync), commits of another process on the SQLite file (external)',
      labelNames: ['source'],
      registers,
      collect() {
        for (const [k, v] of Object.entries(inv)) {
          const d = v - (seenInv[k] ?? 0);
          if (d > 0) this.inc({ source: k }, d);
          seenInv[k] = v;
        }
      },
    });
    for (const k of Object.keys(inv)) invalidations.inc({ source: k }, 0);

    const recorder = core.usageRecorder;
    new Gauge({ name: 'keyplane_usage_buffer_events', help: 'Gateway usage events buffered, not yet written', registers, collect() { this.set(recorder.buffered); } });
    deltaCounter(registers, 'keyplane_usage_events_dropped_total', 'Gateway usage events dropped (invalid, of a deleted organization, or beyond the buffer)', () => recorder.dropped);
    const flush = new Histogram({ name: 'keyplane_usage_flush_duration_seconds', help: 'Time of a usage buffer flush (one transaction), by outcome', labelNames: ['outcome'], buckets: FLUSH_BUCKETS, registers });
    const flushOk = flush.labels('ok');
    const flushFailed = flush.labels('error');
    recorder.onFlushTimed((s, ok) => (ok ? flushOk : flushFailed).observe(s));

    const store = core.store;
    new Gauge({
      name: 'keyplane_db_pool_connections',
      help: 'Database connections: PostgreSQL pool (total, idle, in use, clients waiting); SQLite: its one connection (total)',
      labelNames: ['dialect', 'state'],
      registers,
      collect() {
        const pool = store.pool;
        if (pool) {
          this.set({ dialect: 'postgres', state: 'total' }, pool.totalCount);
          this.set({ dialect: 'postgres', state: 'idle' }, pool.idleCount);
          this.set({ dialect: 'postgres', state: 'in_use' }, pool.totalCount - pool.idleCount);
          this.set({ dialect: 'postgres', state: 'waiting' }, pool.waitingCount);
        } else {
          this.set({ dialect: 'sqlite', state: 'total' }, 1);
        }
      },
    });

    this.gateway = gatewayObserver(registers);
  }

  /** The text Prometheus scrapes. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Learns which face owns each route (call once the server is ready). */
  learnRoutes(list: ReadonlyArray<{ face: string; method: string; url: string }>): void {
    for (const r of list) this.faceOfRoute.set(`${r.method} ${r.url}`, r.face);
  }

  /** Counts one finished request (when its response closed: answered, or the client went away). */
  observe(req: FastifyRequest, reply: FastifyReply): void {
    const template = req.routeOptions.url;
    const method = req.method;
    let route: RouteChildren | undefined;
    let key: string;
    if (template === undefined) {
      // no route matched: one series per face (and method), whatever the URL was
      const face = this.opts.faceOfUrl(req.url) ?? 'none';
      key = `${method} \u0000${face}`;
      route = this.routes.get(key) ?? this.bind(key, face, 'unmatched', method);
    } else {
      key = `${method} ${template}`;
      route = this.routes.get(key) ?? this.bind(key, this.faceOfRoute.get(key) ?? this.faceOfRoute.get(`GET ${template}`) ?? 'none', template, method);
    }
    const status = finalStatus(reply);
    const cls = status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 4;
    route.counts[cls]!.inc();
    route.duration.observe(reply.elapsedTime / 1000);
    if (status === 401) route.authFailures.inc();
  }

  private bind(key: string, face: string, route: string, method: string): RouteChildren {
    // methods outside the usual set would each be a series: fold them
    const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
    const children: RouteChildren = {
      counts: STATUS_CLASSES.map((c) => this.requests.labels(face, route, m, c)),
      duration: this.duration.labels(face, route, m),
      authFailures: this.authFailures.labels(face),
    };
    if (this.routes.size < 10_000) this.routes.set(key, children);
    return children;
  }

  /** Whether `header` (an Authorization header) carries the metrics token (compared in constant time). */
  authorized(header: string | undefined): boolean {
    if (!this.tokenDigest || !header) return false;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return !!m && timingSafeEqual(sha256(m[1]!), this.tokenDigest);
  }

  /** Serves `GET /metrics` (only) on a listener of its own, without a token (KEYPLANE_METRICS_PORT). */
  async listen(port: number, host: string): Promise<AddressInfo> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: this listener serves GET /metrics only.\n');
        return;
      }
      this.render().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body),
        () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n'),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.listener = server;
    return server.address() as AddressInfo;
  }

  /** The separate listener's address, once listening. */
  address(): AddressInfo | null {
    return (this.listener?.address() as AddressInfo | null) ?? null;
  }

  async close(): Promise<void> {
    const s = this.listener;
    this.listener = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A counter that follows a monotonic number kept elsewhere, moving by its change at each scrape. */
function deltaCounter(registers: Registry[], name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const v = read();
      if (v > seen) this.inc(v - seen);
      seen = v;
    },
  });
}

/** The gateway's metrics; children per label value made once and kept (models, providers and limit kinds are few). */
function gatewayObserver(registers: Registry[]): GatewayObserver {
  const decisions = new Counter({ name: 'keyplane_gateway_limiter_decisions_total', help: 'Rate limiter decisions before an upstream call: allowed, or refused by limit kind', labelNames: ['decision', 'kind'], registers });
  const ttfb = new Histogram({ name: 'keyplane_gateway_upstream_ttfb_seconds', help: "Time from sending a request upstream to the answer's headers, by provider", labelNames: ['provider'], buckets: UPSTREAM_BUCKETS, registers });
  const total = new Histogram({ name: 'keyplane_gateway_upstream_duration_seconds', help: 'Time from sending a request upstream to the end of its answer, by provider', labelNames: ['provider'], buckets: UPSTREAM_BUCKETS, registers });
  const tokens = new Counter({ name: 'keyplane_gateway_tokens_total', help: 'Tokens upstreams reported, by model and direction (input, output)', labelNames: ['model', 'direction'], registers });
  const allowed = decisions.labels('allowed', 'none');
  const refused = new Map<string, { inc(): void }>();
  const upstream = new Map<string, { ttfb: { observe(v: number): void }; total: { observe(v: number): void } }>();
  const perModel = new Map<string, { input: { inc(n: number): void }; output: { inc(n: number): void } }>();
  return {
    limit(kind) {
      if (kind === null) return allowed.inc();
      let c = refused.get(kind);
      if (!c) refused.set(kind, (c = decisions.labels('refused', kind)));
      c.inc();
    },
    upstream(provider, ttfbSeconds, totalSeconds) {
      let c = upstream.get(provider);
      if (!c) upstream.set(provider, (c = { ttfb: ttfb.labels(provider), total: total.labels(provider) }));
      c.ttfb.observe(ttfbSeconds);
      c.total.observe(totalSeconds);
    },
    tokens(model, input, output) {
      let c = perModel.get(model);
      if (!c) perModel.set(model, (c = { input: tokens.labels(model, 'input'), output: tokens.labels(model, 'output') }));
      if (input > 0) c.input.inc(input);
      if (output > 0) c.output.inc(output);
    },
  };
}
