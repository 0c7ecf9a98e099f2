// The face kit: a face is declared once, by what differs between faces (where its token comes from,
// whom it admits, how it finds the organization, how it renders errors, how it reads bodies), and
// the kit installs the rest the same way for every face: the auth hook, the error handler (which
// logs only what a client cannot cause), typed `req.actor` / `req.org`, per-face body handling, and
// one not-found handler and one framework-error path for the whole server that answer in the
// envelope of the face owning the URL. Faces are registered from one table (see src/server.ts).
//
// Several faces may share a URL prefix (the OpenAI admin face and the gateway both live under
// `/v1`): each is its own Fastify plugin with its own hooks and body options, and the not-found
// handler is installed once, at the root, so there is no per-prefix handler to collide.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import type { FastifyValidationResult } from 'fastify/types/schema.js';
import sjson from 'secure-json-parse';
import { Ajv } from 'ajv';
import type { Core } from '../domain/core.ts';
import { keyActor, type Actor } from '../domain/actor.ts';
import { forbidden, invalid, isDomainError, notFound, unauthenticated } from '../domain/errors.ts';
import { requestContext } from './request-context.ts';
import { jsonTooDeep, JsonTooDeepError } from './json-depth.ts';
import type { AuthFailureThrottle } from './auth-throttle.ts';
import { sessionCredential } from './session.ts';
import { registerFaceDocument, type FaceDocs } from './openapi.ts';
import type { GatewayObserver } from '../observe/metrics.ts';

/** The organization a request acts in, resolved by the face before its handler runs. */
export interface RequestOrg {
  id: string;
  /** Known when the face resolved the organization by its slug (ibl.ai, WhyLabs), else null. */
  slug: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The acting principal, set by the face's auth hook before any handler runs. */
    actor: Actor;
    /** The organization of the request, set by the face's auth hook (faces without one leave it null). */
    org: RequestOrg;
  }
  interface FastifyInstance {
    /** Every route registered on the server, with the face that owns it. */
    routeList: RouteEntry[];
  }
}

export interface RouteEntry {
  face: string;
  method: string;
  /** The route's URL template, with its prefix (`/v1/organization/projects/:project_id`). */
  url: string;
}

/** What a face and its routes get from the server. */
export interface FaceContext {
  core: Core;
  /** The operator root key (KEYPLANE_ROOT_KEY), when configured. */
  rootKey: string | undefined;
  /** KEYPLANE_ALLOWED_ORIGINS: origins besides the server's own whose cookie-authenticated writes are accepted. */
  allowedOrigins?: readonly string[];
  /**
   * KEYPLANE_AUTH_FAILURE_BURST / _WINDOW_MS: failed authentications are counted per client address
   * and answered 429 past the burst; absent (or burst 0): not throttled.
   */
  authThrottle?: AuthFailureThrottle | undefined;
  /** The console's sign-in settings (src/faces/console): session lifetimes and the sign-in throttles. */
  console?: {
    idleMs: number;
    maxMs: number;
    /** Failed sign-ins per account (email); absent: not throttled. */
    accountThrottle?: AuthFailureThrottle | undefined;
    /** Failed sign-ins per client address; absent: not throttled. */
    addressThrottle?: AuthFailureThrottle | undefined;
  };
  /** OpenID Connect sign-in for the console (KEYPLANE_OIDC_*, src/faces/console/oidc.ts); absent: off. */
  oidc?: { issuer: string; clientId: string; clientSecret: string; redirectUrl?: string | undefined };
  /** The gateway's settings (KEYPLANE_UPSTREAM_TIMEOUT_MS, KEYPLANE_DEFAULT_OUTPUT_TOKENS, REDIS_URL…). */
  gateway: {
    upstreamTimeoutMs: number;
    defaultOutputTokens: number;
    upstreamRetries: number;
    redisUrl?: string | undefined;
    status?: GatewayStatus;
    /** The gateway's metrics (limiter decisions, upstream latency, tokens), when metrics are on. */
    observer?: GatewayObserver;
  };
}

/** What the gateway reports to `/readyz`: set by the gateway face once its limiter exists. */
export interface GatewayStatus {
  /** Whether the Redis rate limiter is limiting in memory (Redis unusable); unset without REDIS_URL. */
  redisDegraded?: () => boolean;
}

export interface BodyOptions {
  /** Largest request body, in bytes. */
  limit: number;
  /**
   * `json`: JSON bodies only (an empty body is `{}`, prototype poisoning refused), anything else a
   * 415; `ignore`: every body is read within the limit and discarded (faces whose operations take no
   * body); `none`: no parser at all — the face adds its own with `parsers` or reads the raw stream.
   */
  accept: 'json' | 'ignore' | 'none';
  /** More parsers (forms, multipart) added after the ones `accept` installs. */
  parsers?: (app: FastifyInstance) => void;
  /** The validator drops body and query fields its schema does not name (true), or keeps them. */
  removeUnknown: boolean;
  /**
   * Refuse NUL characters in the body (PostgreSQL cannot store them). Path parameters and query
   * strings are checked on every face: they are never passed through.
   */
  refuseNul: boolean;
}

export interface FaceAuth {
  /**
   * The caller's credential, or null when none was presented. Throws the face's own
   * unauthenticated error for a malformed one (e.g. ibl.ai's "Token string should not contain spaces").
   */
  token(req: FastifyRequest): string | null;
  /** Message of the 401 when no credential was presented. */
  missing: string;
  /** Message of the 401 when the credential is unknown, revoked, deactivated or expired. */
  invalid: string;
  /** The principal a credential stands for; by default an API key of the store. */
  verify?(token: string, ctx: FaceContext, req: FastifyRequest): Promise<Actor | null>;
}

export interface Face {
  /** Short name, used in logs and the route list (`openai-admin`, `h2ogpte`…). */
  name: string;
  /** Prefix the face's routes are registered under (several faces may share one). */
  prefix: string;
  /**
   * URL prefixes this face owns: unknown URLs under them are authenticated by this face and answered
   * with its not-found message; framework errors on them use its envelope. Default `[prefix]`.
   */
  paths?: string[];
  /** Absent faces (e.g. the platform API without a root key) are not registered. */
  enabled?(ctx: FaceContext): boolean;
  auth: FaceAuth;
  /**
   * The organization of the request, from the principal and the route's parameters; null when the
   * face has none (the operator's platform API) or no route matched. May throw (a foreign slug).
   */
  org(req: FastifyRequest, actor: Actor, ctx: FaceContext): Promise<RequestOrg | null> | RequestOrg | null;
  /** Admits the principal or throws: a call to a domain predicate, so the rule stays in the domain. */
  admit(actor: Actor, org: RequestOrg | null): void;
  /** Sends any error in the face's own envelope. */
  render(reply: FastifyReply, err: unknown, req: FastifyRequest): FastifyReply;
  /** Message of the 404 for a URL under the face's paths that no route matches. */
  notFoundMessage(req: FastifyRequest): string;
  body: BodyOptions;
  /**
   * Also accept a console session cookie (src/faces/session.ts) from a request without an
   * Authorization header: the console calls this face's routes as the signed-in user or operator.
   */
  acceptsSession?: boolean;
  /** Whether a matched route must have an organization (the old `orgOf` check). Default true. */
  needsOrg?: boolean;
  /** The face's routes (and any hooks of its own, such as the OpenAI face's Idempotency-Key). */
  routes: FastifyPluginAsync<FaceContext>;
  /** Title, description and security schemes of the face's OpenAPI document (`/openapi/<name>.json`). */
  docs?: FaceDocs;
}

/** A face's declaration, checked by the compiler. */
export const defineFace = (face: Face): Face => face;

/** The largest body the admin faces accept: 1 MiB. */
export const ADMIN_BODY_LIMIT = 1024 * 1024;

/** Body options of a JSON admin face. */
export const JSON_ADMIN_BODY: BodyOptions = { limit: ADMIN_BODY_LIMIT, accept: 'json', removeUnknown: true, refuseNul: true };

const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};

const under = (path: string, prefix: string): boolean => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);

/** The faces of a server and the URL → face lookup shared by the not-found and framework-error paths. */
export class FaceTable {
  private readonly owned: Array<{ prefix: string; face: Face; served: boolean }>;
  private readonly mounted: Array<{ prefix: string; face: Face }>;

  constructor(
    readonly faces: Face[],
    /** Renders errors for URLs no face owns (unknown paths outside every face). */
    readonly fallback: (reply: FastifyReply, err: unknown, req: FastifyRequest) => FastifyReply,
    /**
     * Faces another node serves (a gateway-only node's admin faces, see KEYPLANE_ROLE): not
     * registered, but their URLs still answer 404 in their own envelope, without authentication.
     */
    readonly elsewhere: Face[] = [],
  ) {
    const byLength = (a: { prefix: string }, b: { prefix: string }) => b.prefix.length - a.prefix.length;
    const paths = (face: Face, served: boolean) => (face.paths ?? [face.prefix]).map((prefix) => ({ prefix, face, served }));
    this.owned = [...faces.flatMap((f) => paths(f, true)), ...elsewhere.flatMap((f) => paths(f, false))].sort(byLength);
    this.mounted = faces.map((face) => ({ prefix: face.prefix, face })).sort(byLength);
  }

  /** The served face that owns `url` (longest declared path first), if any. */
  owner(url: string): Face | undefined {
    const o = this.ownerEntry(url);
    return o?.served ? o.face : undefined;
  }

  /** The face not served on this node that owns `url`, if any (a longer served path wins). */
  servedElsewhere(url: string): Face | undefined {
    const o = this.ownerEntry(url);
    return o && !o.served ? o.face : undefined;
  }

  private ownerEntry(url: string) {
    const p = pathOf(url);
    return this.owned.find((o) => under(p, o.prefix));
  }

  /** The face whose envelope answers errors on `url`: its owner (served or not), else the face mounted at its prefix. */
  envelopeFor(url: string): Face | undefined {
    const p = pathOf(url);
    return this.ownerEntry(url)?.face ?? this.mounted.find((o) => under(p, o.prefix))?.face;
  }

  render(reply: FastifyReply, err: unknown, req: FastifyRequest): FastifyReply {
    const face = this.envelopeFor(req.url);
    return face ? face.render(reply, err, req) : this.fallback(reply, err, req);
  }
}

/** Authenticates a request for `face`: credential → principal → organization → admission. */
async function authenticate(face: Face, req: FastifyRequest, ctx: FaceContext): Promise<{ actor: Actor; org: RequestOrg | null }> {
  if (face.acceptsSession) {
    const fromSession = await sessionCredential(req, ctx);
    if (fromSession) {
      const org = await face.org(req, fromSession.actor, ctx);
      face.admit(fromSession.actor, org);
      return { actor: fromSession.actor, org };
    }
  }
  let token: string | null;
  try {
    token = face.auth.token(req);
  } catch (err) {
    throw isDomainError(err) && err.kind === 'unauthenticated' ? failed(err, req, ctx) : err; // a malformed credential
  }
  if (!token) throw failed(unauthenticated(face.auth.missing), req, ctx);
  const actor = face.auth.verify ? await face.auth.verify(token, ctx, req) : await verifyKey(token, ctx, req);
  if (!actor) throw failed(unauthenticated(face.auth.invalid), req, ctx);
  const org = await face.org(req, actor, ctx);
  face.admit(actor, org);
  return { actor, org };
}

/**
 * A failed authentication (`err`, a 401): counted against the client's address, and answered with the
 * throttle's 429 instead once that address is past its burst. Only failures reach here: a valid
 * credential never touches the throttle, so it is never refused or slowed by it.
 */
function failed(err: Error, req: FastifyRequest, ctx: FaceContext): Error {
  if (!ctx.authThrottle) return err;
  const { refusal, started } = ctx.authThrottle.fail(req.ip);
  if (!refusal) return err;
  if (started) req.log.warn({ clientAddress: req.ip, burst: ctx.authThrottle.burst, windowMs: ctx.authThrottle.windowMs }, 'failed authentications from this address are throttled');
  return refusal;
}

async function verifyKey(token: string, ctx: FaceContext, req: FastifyRequest): Promise<Actor | null> {
  const principal = await ctx.core.keys.verify(token);
  return principal ? keyActor(principal, requestContext(req)) : null;
}

/**
 * A route's validator, compiled by Ajv on the route's first request rather than at start: compiling
 * the schemas of every route of every face took a large share of a start (see bench/start.ts).
 * Fastify reads `errors` off the function it was given after a `false`, so the wrapper carries them.
 */
function lazyValidator(ajv: Ajv, schema: object): FastifyValidationResult {
  let compiled: ReturnType<Ajv['compile']> | null = null;
  const validate = (data: unknown): boolean => {
    compiled ??= ajv.compile(schema);
    const ok = compiled(data) as boolean;
    validate.errors = compiled.errors as FastifySchemaValidationError[] | null | undefined;
    return ok;
  };
  validate.errors = null as FastifySchemaValidationError[] | null | undefined;
  return validate;
}

/** Sends `err` in `render`'s envelope; a rate-limit refusal also says when to retry (`Retry-After`, every face). */
function answer(render: Face['render'], reply: FastifyReply, err: unknown, req: FastifyRequest): FastifyReply {
  if (isDomainError(err) && err.rateLimit) reply.header('retry-after', String(err.rateLimit.retryAfterSeconds));
  return render(reply, err, req);
}

/** Logs errors a client cannot cause (the answer is a 5xx); their text never reaches the client. */
function logIfServerError(reply: FastifyReply, err: unknown, req: FastifyRequest): void {
  if (reply.statusCode >= 500) req.log.error({ err }, 'unhandled error');
}

/** The JSON parser of the admin faces: UTF-8 only (RFC 8259 §8.1), empty body = `{}`, prototype poisoning refused. */
function addJsonParser(app: FastifyInstance): void {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const malformed = () => Object.assign(new Error('The request body is not valid JSON.'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    if (jsonTooDeep(body as Buffer)) return done(new JsonTooDeepError(), undefined);
    let text: string;
    try {
      text = utf8.decode(body as Buffer).trim(); // bytes that are not UTF-8 are malformed JSON, not U+FFFD
    } catch {
      return done(malformed(), undefined);
    }
    if (text === '') return done(null, {});
    try {
      done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch {
      done(malformed(), undefined);
    }
  });
}

/** True when any string (or key) inside `v` contains a NUL character (an iterative walk: no depth limit needed). */
export function hasNul(v: unknown): boolean {
  const todo: unknown[] = [v];
  while (todo.length) {
    const x = todo.pop();
    if (typeof x === 'string') {
      if (x.includes('\u0000')) return true;
    } else if (x && typeof x === 'object') {
      for (const [k, y] of Object.entries(x)) {
        if (k.includes('\u0000')) return true;
        todo.push(y);
      }
    }
  }
  return false;
}

/** Records every route registered in `app` (and its children) in the server's route list as `name`'s. */
export function listRoutesAs(app: FastifyInstance, name: string): void {
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') app.routeList.push({ face: name, method, url: route.url });
  });
}

/** One face as a Fastify plugin: body handling, auth hook, error handler, then its routes. */
function facePlugin(face: Face, ctx: FaceContext): FastifyPluginAsync {
  return async (app) => {
    const body = face.body;
    listRoutesAs(app, face.name);
    app.addHook('onRoute', (route) => {
      route.bodyLimit ??= body.limit;
    });

    // Bodies are typed JSON: a number is not a string. Query strings and path parameters arrive as
    // text, so those are coerced ("20" → 20, a single `key[]=a` → ["a"]).
    const ajvOptions = { removeAdditional: body.removeUnknown, useDefaults: true, allErrors: false, strict: false } as const;
    const strictAjv = new Ajv({ ...ajvOptions, coerceTypes: false });
    const coercingAjv = new Ajv({ ...ajvOptions, coerceTypes: 'array' });
    app.setValidatorCompiler(({ schema, httpPart }) => lazyValidator(httpPart === 'body' ? strictAjv : coercingAjv, schema));

    app.removeAllContentTypeParsers();
    if (body.accept === 'json') addJsonParser(app);
    if (body.accept === 'ignore') {
      // discarded, but a JSON body nested past MAX_JSON_DEPTH is refused as on every other face
      app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, b, done) => (jsonTooDeep(b as Buffer) ? done(new JsonTooDeepError(), undefined) : done(null, {})));
      app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => done(null, {}));
    }
    body.parsers?.(app);

    app.setErrorHandler((err, req, reply) => {
      answer(face.render, reply, err, req);
      logIfServerError(reply, err, req);
      return reply;
    });

    app.addHook('onRequest', async (req) => {
      const { actor, org } = await authenticate(face, req, ctx);
      if (!org && face.needsOrg !== false) throw forbidden('You do not have access to this organization.');
      req.actor = actor;
      if (org) req.org = org;
    });

    app.addHook('preValidation', async (req) => {
      // A POST without a body (the SDKs send none for archive and similar calls) counts as `{}`.
      if (body.accept === 'json' && (req.method === 'POST' || req.method === 'PATCH' || req.method === 'PUT') && (req.body === undefined || req.body === null)) req.body = {};
      if (hasNul(req.params) || hasNul(req.query) || (body.refuseNul && hasNul(req.body))) {
        throw invalid('Text may not contain NUL characters.', null, 'invalid_characters');
      }
    });

    // the face's OpenAPI document, from the schemas its routes declare (src/faces/openapi.ts)
    await registerFaceDocument(app, face);
    await app.register(face.routes, ctx);
  };
}

/**
 * Registers the faces of `table` on `app`, with one not-found handler and one error handler at the
 * root that answer in the envelope of the face owning the URL. Call once, after `frameworkErrors`
 * was pointed at `table.render`.
 */
export async function registerFaces(app: FastifyInstance, table: FaceTable, ctx: FaceContext): Promise<void> {
  if (!app.hasDecorator('openapiDocuments')) app.decorate('openapiDocuments', new Map());
  app.setErrorHandler((err, req, reply) => {
    answer((rp, e, rq) => table.render(rp, e, rq), reply, err, req);
    logIfServerError(reply, err, req);
    return reply;
  });

  // An unknown URL under a face's paths is first authenticated by that face (a caller without a
  // valid key learns nothing about which URLs exist), then answered 404 in its envelope.
  app.setNotFoundHandler(async (req, reply) => {
    // A face this node does not serve (KEYPLANE_ROLE): a 404 in its envelope, nothing to authenticate.
    const absent = table.servedElsewhere(req.url);
    if (absent) return absent.render(reply, notFound(absent.notFoundMessage(req)), req);
    const owner = table.owner(req.url);
    if (owner) {
      try {
        await authenticate(owner, req, ctx);
      } catch (err) {
        return answer(owner.render, reply, err, req);
      }
      return owner.render(reply, notFound(owner.notFoundMessage(req)), req);
    }
    return table.render(reply, notFound(`Invalid URL (${req.method} ${pathOf(req.url)}).`), req);
  });

  for (const face of table.faces) {
    if (face.enabled && !face.enabled(ctx)) continue;
    await app.register(facePlugin(face, ctx), { prefix: face.prefix });
  }
}
