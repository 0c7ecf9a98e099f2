// Builds the Fastify app from config: the health probes, then every face of the FACES table, each
// declared once in its folder (src/faces/<face>/face.ts) and installed by the face kit.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { randomBytes } from 'node:crypto';
import type { Config, Role } from './config.ts';
import type { Core } from './domain/core.ts';
import { healthRoutes } from './faces/health.ts';
import { ADMIN_BODY_LIMIT, FaceTable, listRoutesAs, registerFaces, type Face, type FaceContext, type GatewayStatus } from './faces/kit.ts';
import { sendOpenAIError } from './faces/shared/openai-wire.ts';
import { answerClientError } from './faces/client-errors.ts';
import { openaiAdminFace } from './faces/openai/face.ts';
import { h2ogpteFace } from './faces/h2ogpte/face.ts';
import { whylabsFace } from './faces/whylabs/face.ts';
import { iblaiFace } from './faces/iblai/face.ts';
import { platformFace } from './faces/platform/face.ts';
import { consoleFace } from './faces/console/face.ts';
import { gatewayFace } from './gateway/face.ts';
import { AuthFailureThrottle } from './faces/auth-throttle.ts';
import { docsRoutes } from './faces/openapi.ts';
import { consoleRoutes } from './faces/console-static.ts';
import { unauthenticated } from './domain/errors.ts';
import { Metrics } from './observe/metrics.ts';
import { accessLogger, REQUEST_ID_PATTERN, RequestLogLines } from './observe/access-log.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The server's Prometheus metrics; null when neither KEYPLANE_METRICS_TOKEN nor KEYPLANE_METRICS_PORT is set. */
    metrics: Metrics | null;
  }
}

/** Every face keyplane serves. A new face is a folder under src/faces/ and one entry here. */
export const FACES: readonly Face[] = [openaiAdminFace, gatewayFace, h2ogpteFace, whylabsFace, iblaiFace, platformFace, consoleFace];

export type ServerConfig = Pick<Config, 'logLevel' | 'rootKey'> &
  Partial<Pick<Config, 'role' | 'upstreamTimeoutMs' | 'defaultOutputTokens' | 'upstreamRetries' | 'redisUrl' | 'allowedOrigins' | 'host' | 'metricsToken' | 'metricsPort' | 'metricsHost' | 'accessLog' | 'accessLogSample' | 'authFailureBurst' | 'authFailureWindowMs' | 'signinFailureBurst' | 'signinAddressBurst' | 'signinFailureWindowMs' | 'sessionIdleMinutes' | 'sessionMaxHours' | 'oidcIssuer' | 'oidcClientId' | 'oidcClientSecret' | 'oidcRedirectUrl'>>;

/** The face of the data plane; every other face is an admin face. */
export const GATEWAY_FACE = gatewayFace.name;

/** Whether a process of `role` serves `face` (the health probes are served by every role). */
export function servesFace(role: Role, face: Pick<Face, 'name'>): boolean {
  if (role === 'all') return true;
  return role === 'gateway' ? face.name === GATEWAY_FACE : face.name !== GATEWAY_FACE;
}

/** Logger options: secrets in headers are redacted should a serializer ever log them. */
export function loggerOptions(level: Config['logLevel'], stream?: LogDestination) {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie', 'headers.authorization'],
      censor: '[redacted]',
    },
  };
}

/**
 * Request ids: a random per-process prefix and a counter (unique across nodes and restarts without
 * drawing random bytes on every request, which shows in the gateway's profile).
 */
const REQUEST_ID_PREFIX = `req_${randomBytes(8).toString('hex')}`;
let requestCounter = 0;
const nextRequestId = (): string => `${REQUEST_ID_PREFIX}${(++requestCounter).toString(16).padStart(8, '0')}`;

/** The request id: the caller's `x-request-id` when well-formed (a tracing id kept end to end), else a new one. */
function requestIdOf(req: { headers: Record<string, string | string[] | undefined> }): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && REQUEST_ID_PATTERN.test(h) ? h : nextRequestId();
}

/** Where log lines go instead of stdout: anything with write(line) (a pino destination). */
export interface LogDestination {
  write(line: string): void;
}

export interface BuildOptions {
  /** The faces to serve (tests add their own); FACES by default. */
  faces?: readonly Face[];
  /** Log lines written here rather than to stdout (tests read what the server logged). */
  logStream?: LogDestination;
}

/** The failed-authentication throttle of `config` (20 failures per minute by default); none when the burst is 0. */
function authThrottleOf(config: ServerConfig): AuthFailureThrottle | undefined {
  const burst = config.authFailureBurst ?? 20;
  return burst > 0 ? new AuthFailureThrottle(burst, config.authFailureWindowMs ?? 60_000) : undefined;
}

/** The console's session lifetimes and sign-in throttles (5 failures per account, 20 per address, per 15 minutes by default). */
function consoleSettingsOf(config: ServerConfig): NonNullable<FaceContext['console']> {
  const windowMs = config.signinFailureWindowMs ?? 900_000;
  const account = config.signinFailureBurst ?? 5;
  const address = config.signinAddressBurst ?? 20;
  return {
    idleMs: (config.sessionIdleMinutes ?? 60) * 60_000,
    maxMs: (config.sessionMaxHours ?? 12) * 3_600_000,
    accountThrottle: account > 0 ? new AuthFailureThrottle(account, windowMs) : undefined,
    addressThrottle: address > 0 ? new AuthFailureThrottle(address, windowMs) : undefined,
  };
}

export async function buildServer(config: ServerConfig, core: Core, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const gatewayStatus: GatewayStatus = {};
  // Prometheus metrics only when asked for: a token for /metrics on this port, or a port of their own
  const metrics =
    config.metricsToken !== undefined || config.metricsPort !== undefined
      ? new Metrics(core, { token: config.metricsToken, faceOfUrl: (url) => table.envelopeFor(url)?.name })
      : null;
  const ctx: FaceContext = {
    core,
    rootKey: config.rootKey,
    allowedOrigins: config.allowedOrigins ?? [],
    authThrottle: authThrottleOf(config),
    console: consoleSettingsOf(config),
    ...(config.oidcIssuer && config.oidcClientId && config.oidcClientSecret ? { oidc: { issuer: config.oidcIssuer, clientId: config.oidcClientId, clientSecret: config.oidcClientSecret, redirectUrl: config.oidcRedirectUrl } } : {}),
    gateway: { upstreamTimeoutMs: config.upstreamTimeoutMs ?? 600_000, defaultOutputTokens: config.defaultOutputTokens ?? 512, upstreamRetries: config.upstreamRetries ?? 0, redisUrl: config.redisUrl, status: gatewayStatus, ...(metrics ? { observer: metrics.gateway } : {}) },
  };
  const role = config.role ?? 'all';
  const all = opts.faces ?? FACES;
  const faces = all.filter((f) => servesFace(role, f) && (!f.enabled || f.enabled(ctx)));
  // Faces of the other role keep their URLs' envelope: a 404 there reads as that face's 404.
  const elsewhere = all.filter((f) => !servesFace(role, f));
  // URLs outside every face (and `/`) answer in the OpenAI envelope, like the rest of `/v1`.
  const table = new FaceTable(faces, (reply, err) => sendOpenAIError(reply, err), elsewhere);

  const app = Fastify({
    logger: loggerOptions(config.logLevel, opts.logStream),
    // the default for routes outside the faces (health, not-found); each face sets its own
    bodyLimit: ADMIN_BODY_LIMIT,
    genReqId: requestIdOf,
    // Fastify's own request lines carry the full URL (query values included): the access log replaces them
    logController: new RequestLogLines(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Malformed URLs (bad percent-encoding, over-long path parameters) are refused before routing:
    // answer them in the envelope of the face that owns the URL.
    frameworkErrors: (err, req, reply) => table.render(reply, err, req),
    // Requests the HTTP parser refuses (headers over 16 KiB: 431; a malformed request: 400) are
    // answered in the envelope of the face their request line names, not Node's or Fastify's.
    clientErrorHandler: (err, socket) => answerClientError(table, err, socket),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('actor', null as never);
  app.decorateRequest('org', null as never);
  app.decorate('routeList', []);
  app.removeContentTypeParser('text/plain'); // outside the faces, only JSON bodies are read

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.decorate('metrics', metrics);
  // One listener per request, on the response's close: it fires for every request, answered or cut
  // short by the client (onResponse does not run for a stream the client closed before its end).
  const log = config.accessLog ?? true ? accessLogger(app.log, { sample: config.accessLogSample ?? 1 }) : null;
  if (log || metrics) {
    const finished = log && metrics ? (req: FastifyRequest, reply: FastifyReply) => (metrics.observe(req, reply), log(req, reply)) : metrics ? (req: FastifyRequest, reply: FastifyReply) => metrics.observe(req, reply) : log!;
    app.addHook('onRequest', (req, reply, done) => {
      reply.raw.once('close', () => finished(req, reply));
      done();
    });
  }
  if (metrics) {
    app.addHook('onReady', async () => {
      metrics.learnRoutes(app.routeList);
      if (config.metricsPort !== undefined) await metrics.listen(config.metricsPort, config.metricsHost ?? config.host ?? '127.0.0.1');
    });
    app.addHook('onClose', async () => metrics.close());
  }

  await app.register(async (health) => {
    listRoutesAs(health, 'health');
    await health.register(healthRoutes, { store: core.store, role, gateway: gatewayStatus });
  });
  await registerFaces(app, table, ctx);
  // the faces' OpenAPI documents and the /docs page: public, like the probes (src/faces/openapi.ts)
  await app.register(async (docs) => {
    listRoutesAs(docs, 'health');
    await docsRoutes(docs, app.openapiDocuments);
  });
  // the console's page and its built assets (dist/console): public like /docs (listed with the probes;
  // 'console' is the name of the console API's face, /console/api). Not on a gateway-only node, which
  // has no admin API for the page to talk to.
  if (role !== 'gateway') {
    await app.register(async (ui) => {
      listRoutesAs(ui, 'health');
      await consoleRoutes(ui);
    });
  }
  // after the faces: a refusal is rendered by the root error handler (the OpenAI envelope)
  if (metrics && config.metricsToken !== undefined) {
    await app.register(async (m) => {
      listRoutesAs(m, 'metrics');
      m.get('/metrics', async (req, reply) => {
        if (!metrics.authorized(req.headers.authorization)) throw unauthenticated('The metrics endpoint needs the metrics token (KEYPLANE_METRICS_TOKEN) as a bearer token: Authorization: Bearer <token>.');
        const { contentType, body } = await metrics.render();
        return reply.type(contentType).send(body);
      });
    });
  }
  return app;
}
