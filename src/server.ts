// Builds the Fastify app from config: one plugin per face, each with its own prefix, auth hook,
// error envelope and not-found handler, so conventions cannot leak between faces.
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import sjson from 'secure-json-parse';
import { Ajv } from 'ajv';
import { randomBytes } from 'node:crypto';
import type { Config } from './config.ts';
import type { Core } from './domain/core.ts';
import type { Actor } from './domain/actor.ts';
import { healthRoutes } from './faces/health.ts';
import { openaiFace } from './faces/openai/plugin.ts';
import { platformFace } from './faces/platform/plugin.ts';
import { h2ogpteFace } from './faces/h2ogpte/plugin.ts';
import { isH2ogptePath, sendH2ogpteError } from './faces/h2ogpte/envelope.ts';
import { isWhyLabsPath, sendWhyLabsError, whylabsFace } from './faces/whylabs/plugin.ts';
import { iblaiFace } from './faces/iblai/plugin.ts';
import { isIblaiPath, sendIblaiError } from './faces/iblai/envelope.ts';
import { sendOpenAIError } from './faces/openai/envelope.ts';
import { invalid, notFound } from './domain/errors.ts';
import { BODY_LIMIT } from './faces/common.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The acting principal, set by the face's auth hook. */
    actor: Actor;
  }
  interface FastifyInstance {
    /** Every registered route (HEAD left out), in registration order: the security matrix walks it. */
    routeList: Array<{ method: string; url: string }>;
  }
}


export type ServerConfig = Pick<Config, 'logLevel' | 'rootKey'>;

/** Logger options: secrets in headers are redacted should a serializer ever log them. */
export function loggerOptions(level: Config['logLevel']) {
  return {
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie', 'headers.authorization'],
      censor: '[redacted]',
    },
  };
}

export async function buildServer(config: ServerConfig, core: Core): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(config.logLevel),
    bodyLimit: BODY_LIMIT,
    genReqId: () => `req_${randomBytes(12).toString('hex')}`,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Malformed URLs (bad percent-encoding, over-long path parameters) are refused before routing:
    // answer them in the same error envelope as everything else.
    frameworkErrors: (err, req, reply) => {
      if (isH2ogptePath(req.url)) sendH2ogpteError(reply, err);
      else if (isWhyLabsPath(req.url)) sendWhyLabsError(reply, err, req);
      else if (isIblaiPath(req.url)) sendIblaiError(reply, err, req);
      else sendOpenAIError(reply, err);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const routeList: Array<{ method: string; url: string }> = [];
  app.decorate('routeList', routeList);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routeList.push({ method, url: r.url });
  });
  app.decorateRequest('actor', null as never);

  // Bodies are typed JSON: a number is not a string. Query strings and path parameters arrive as
  // text, so those are coerced ("20" → 20, a single `key[]=a` → ["a"]).
  const ajvOptions = { removeAdditional: true, useDefaults: true, allErrors: false, strict: false } as const;
  const strictAjv = new Ajv({ ...ajvOptions, coerceTypes: false });
  const coercingAjv = new Ajv({ ...ajvOptions, coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema));

  // JSON bodies: an empty body counts as `{}` (SDKs send bodyless POSTs); prototype poisoning is refused.
  app.removeContentTypeParser('application/json');
  app.removeContentTypeParser('text/plain'); // every face speaks JSON: anything else is a 415
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, {});
    try {
      done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch {
      const err = Object.assign(new Error('The request body is not valid JSON.'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
      done(err, undefined);
    }
  });

  app.addHook('preValidation', async (req) => {
    // A POST without a body (the SDKs send none for archive and similar calls) counts as `{}`.
    if ((req.method === 'POST' || req.method === 'PATCH' || req.method === 'PUT') && (req.body === undefined || req.body === null)) req.body = {};
    // No text keyplane stores or looks up may hold NUL: PostgreSQL cannot even compare it.
    if (hasNul(req.params) || hasNul(req.query) || hasNul(req.body)) throw invalid('Text may not contain NUL characters.', null, 'invalid_characters');
  });

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  app.setErrorHandler((err, req, reply) => {
    if (!(err as { statusCode?: number }).statusCode) req.log.error({ err }, 'unhandled error');
    return sendOpenAIError(reply, err);
  });
  app.setNotFoundHandler((req, reply) => sendOpenAIError(reply, notFound(`Invalid URL (${req.method} ${req.url.split('?')[0]}).`)));

  await app.register(healthRoutes, { store: core.store });
  await app.register(openaiFace, { prefix: '/v1', core });
  await app.register(h2ogpteFace, { prefix: '/api/v1', core });
  await app.register(whylabsFace, { prefix: '/v0', core });
  await app.register(iblaiFace, { prefix: '/api/ai-account', core });
  if (config.rootKey) await app.register(platformFace, { prefix: '/platform/v1', core, rootKey: config.rootKey });
  return app;
}

/** True when any string (or key) inside `v` contains a NUL character. */
function hasNul(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (!v || typeof v !== 'object' || depth > 32) return false;
  for (const [k, x] of Object.entries(v)) if (k.includes('\u0000') || hasNul(x, depth + 1)) return true;
  return false;
}
