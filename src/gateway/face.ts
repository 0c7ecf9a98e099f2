// The gateway: keyplane's OpenAI-compatible data plane under /v1, beside the OpenAI admin face. Project
// keys (a user's or a service account's) call it; it enforces scopes, the project's per-model limits
// and its archive state, uses the organization's provider credentials, and records every token.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { isProjectKey, keyAllows } from '../domain/actor.ts';
import { forbidden } from '../domain/errors.ts';
import { authToken } from '../faces/common.ts';
import { defineFace, type FaceContext } from '../faces/kit.ts';
import { openaiError } from '../faces/shared/openai-wire.ts';
import { jsonTooDeep, JsonTooDeepError } from '../faces/json-depth.ts';
import { limitType, missingScope, modelNotFound } from './errors.ts';
import { MemoryLimiter } from './limiter.ts';
import { RedisLimiter } from './redis-limiter.ts';
import { PolicyCache } from './policy.ts';
import { SpendGuard } from './spend.ts';
import { SharedSpendReservations } from './spend-redis.ts';
import { ENDPOINTS, proxy, serverTiming, type GatewayDeps } from './proxy.ts';
import { closeUpstreams, UpstreamError } from './upstream.ts';
import { modelAllowed } from '../domain/project-settings.ts';
import { messages, sendAnthropicError } from './messages.ts';

const isMessages = (req: FastifyRequest): boolean => req.url === '/v1/messages' || req.url.startsWith('/v1/messages?') || req.url.startsWith('/v1/messages/');

/** Largest request body: base64 images and audio run to tens of MB. */
export const GATEWAY_BODY_LIMIT = 32 * 1024 * 1024;

const routes: FastifyPluginAsync<FaceContext> = async (app, ctx) => {
  // Limits in this node's memory, or in Redis shared by every node (REDIS_URL): see redis-limiter.ts.
  let limiter: MemoryLimiter | RedisLimiter = new MemoryLimiter();
  if (ctx.gateway.redisUrl) {
    const log = app.log;
    const shared = new RedisLimiter({ url: ctx.gateway.redisUrl, log: { warn: (m) => log.warn(m), info: (m) => log.info(m) } });
    app.addHook('onClose', async () => shared.close());
    // start limiting in Redis at once when it answers; otherwise start degraded (logged), Redis joins when it comes
    await shared.ready(2_000);
    limiter = shared;
    if (ctx.gateway.status) ctx.gateway.status.redisDegraded = () => shared.isDegraded;
  }
  const policies = new PolicyCache(ctx.core, Date.now);
  app.addHook('onClose', async () => policies.dispose());
  // spend reservations are shared through the rate limiter's Redis when there is one
  const spend = new SpendGuard(ctx.core, Date.now, limiter instanceof RedisLimiter ? new SharedSpendReservations(limiter) : null);
  app.addHook('onClose', async () => spend.dispose());
  const deps: GatewayDeps = {
    core: ctx.core,
    limiter,
    policies,
    spend,
    upstreamTimeoutMs: ctx.gateway.upstreamTimeoutMs,
    upstreamRetries: ctx.gateway.upstreamRetries,
    defaultOutputTokens: ctx.gateway.defaultOutputTokens,
    ...(ctx.gateway.observer ? { observer: ctx.gateway.observer } : {}),
  };
  app.addHook('onClose', async () => closeUpstreams());
  // Server-Timing on every answer: the proxied ones split keyplane's time from the upstream's; the
  // rest (refusals, errors, model lists) never reached an upstream
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (!reply.hasHeader('server-timing')) reply.header('server-timing', serverTiming(reply.elapsedTime, 0));
    done(null, payload);
  });

  app.post('/chat/completions', (req, reply) => proxy(req, reply, deps, ENDPOINTS.chat));
  app.post('/completions', (req, reply) => proxy(req, reply, deps, ENDPOINTS.completions));
  app.post('/embeddings', (req, reply) => proxy(req, reply, deps, ENDPOINTS.embeddings));
  app.post('/responses', (req, reply) => proxy(req, reply, deps, ENDPOINTS.responses));
  app.post('/moderations', (req, reply) => proxy(req, reply, deps, ENDPOINTS.moderations));
  app.post('/messages', (req, reply) => messages(req, reply, deps));
  app.post('/images/generations', (req, reply) => proxy(req, reply, deps, ENDPOINTS.images));
  app.post('/audio/speech', (req, reply) => proxy(req, reply, deps, ENDPOINTS.speech));
  app.post('/audio/transcriptions', (req, reply) => proxy(req, reply, deps, ENDPOINTS.transcriptions));

  // The models this key may use: the catalog's, on providers the organization has a credential for,
  // that the project's model permissions allow.
  const usable = async (req: FastifyRequest) => {
    if (!isProjectKey(req.actor)) throw forbidden();
    if (!keyAllows(req.actor.key, 'api.model.read')) throw missingScope('api.model.read');
    const orgId = req.actor.key.orgId;
    const settings = (await policies.get(orgId, req.actor.key.projectId))?.settings;
    const providers = new Map<string, boolean>();
    const out = [];
    for (const r of ctx.core.modelRoutes.routes) {
      if (!providers.has(r.provider)) {
        providers.set(r.provider, await ctx.core.providerCredentials.available(orgId, r.provider));
      }
      if (providers.get(r.provider) && (!settings || modelAllowed(settings, r.model))) out.push({ id: r.model, object: 'model' as const, created: 0, owned_by: r.provider });
    }
    return out;
  };
  app.get('/models', async (req) => ({ object: 'list', data: await usable(req) }));
  app.get<{ Params: { model: string } }>('/models/:model', async (req) => {
    const m = (await usable(req)).find((x) => x.id === req.params.model);
    if (!m) throw modelNotFound(req.params.model);
    return m;
  });
};

export const gatewayFace = defineFace({
  name: 'gateway',
  prefix: '/v1',
  paths: ['/v1/chat', '/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/moderations', '/v1/models', '/v1/messages', '/v1/images', '/v1/audio'],
  auth: {
    // Anthropic's clients send their key in x-api-key: accepted on /v1/messages only
    token: (req) => authToken(req) ?? (isMessages(req) && typeof req.headers['x-api-key'] === 'string' && req.headers['x-api-key'] ? req.headers['x-api-key'] : null),
    missing:
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
    invalid: 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
  },
  org: (_req, actor) => (actor.type === 'key' ? { id: actor.key.orgId, slug: null } : null),
  admit(actor) {
    if (!isProjectKey(actor)) {
      const kind = actor.type === 'key' ? actor.key.kind : actor.type;
      throw forbidden(
        `This endpoint needs a project API key (sk-proj-…, a user's or a service account's); the key you provided is ${kind === 'admin' ? 'an organization admin key' : kind === 'user' ? 'a user key of the admin APIs' : 'not one'}.`,
      );
    }
  },
  render(reply, err, req) {
    if (isMessages(req)) return sendAnthropicError(reply, err);
    if (err instanceof UpstreamError) {
      return reply.code(err.status === 499 ? 400 : err.status).type('application/json').send({ error: { message: err.message, type: err.status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: err.code } });
    }
    const { status, body } = openaiError(err);
    const rl = (err as { rateLimit?: { limitName: string } }).rateLimit;
    if (status === 429 && rl) body.error.type = limitType(rl.limitName);
    if (status === 429 && body.error.code === 'insufficient_quota') body.error.type = 'insufficient_quota';
    return reply.code(status).type('application/json').send(body);
  },
  notFoundMessage: (req) => `Invalid URL (${req.method} ${req.url.split('?')[0]}).`,
  body: {
    limit: GATEWAY_BODY_LIMIT,
    accept: 'none',
    removeUnknown: false,
    refuseNul: false,
    // bodies reach the handlers as the bytes the client sent: unknown fields pass through untouched
    parsers: (app) => {
      // nesting beyond MAX_JSON_DEPTH refused here, before any handler parses or walks the body
      app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => (jsonTooDeep(body as Buffer) ? done(new JsonTooDeepError(), undefined) : done(null, body)));
      // audio uploads: the form is passed through as it came
      app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    },
  },
  docs: {
    title: 'keyplane: OpenAI-compatible gateway',
    description: 'The OpenAI-compatible gateway (`/v1/chat/completions`, `/v1/responses`, `/v1/embeddings`…) and Anthropic Messages (`/v1/messages`). Bodies are proxied to the upstream provider as they are: their schemas are the provider\'s.',
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'A project API key (sk-proj-…) or a service account key.' },
      apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'The same key, accepted on /v1/messages only (Anthropic clients).' },
    },
  },
  routes,
});
