// Every setting keyplane reads, from flags (highest), then environment, then defaults; validated once
// at start. An invalid setting is a ConfigError whose message names it, e.g.
//   invalid setting PORT (--port): must be an integer from 0 to 65535, got "80a"
import fs from 'node:fs';
import path from 'node:path';
import { checkSuppliedAdminKey, estimateEntropyBits } from './crypto/keys.ts';
import { parseKey } from './crypto/envelope.ts';
import { parseModelCatalog, type ModelCatalog } from './domain/model-catalog.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** What a process serves: everything, the admin faces only, or the gateway (data plane) only. */
export type Role = 'all' | 'admin' | 'gateway';
export const ROLES: Role[] = ['all', 'admin', 'gateway'];

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  /** 32-byte master key from KEYPLANE_MASTER_KEY; undefined: use/generate `<data dir>/master-key`. */
  masterKey: Buffer | undefined;
  bootstrapAdminKey: string | undefined;
  rootKey: string | undefined;
  logLevel: LogLevel;
  /** The faces this process serves (the health probes are served by every role). */
  role: Role;
  keyCacheMax: number;
  keyCacheTtlMs: number;
  usageFlushMs: number;
  usageMinuteRetentionDays: number;
  shutdownTimeoutMs: number;
  /** Longest wait for an upstream provider (its answer's start, then each chunk): a 504 after it. */
  upstreamTimeoutMs: number;
  /** Output tokens the gateway reserves for a request that names no max_tokens. */
  defaultOutputTokens: number;
  /** Times a failed upstream call is tried again before anything reached the client (0: never). */
  upstreamRetries: number;
  /** redis:// or rediss:// URL of the shared rate limiter's Redis; undefined: limits kept in each node's memory. */
  redisUrl: string | undefined;
  /** Tokens an organization's free trial may use on the platform's key (0: no cap). */
  freeTrialTokens: number;
  /** Requests an organization's free trial may make on the platform's key (0: no cap). */
  freeTrialRequests: number;
  /** Days an organization's free trial lasts from its start (0: no time limit). */
  freeTrialDays: number;
  /** The model catalog file (KEYPLANE_MODELS_FILE) and its parsed content; undefined: the built-in catalog. */
  /** http(s) URL spend alerts are POSTed to, signed; undefined: alerts are audit events only. */
  spendAlertWebhookUrl: string | undefined;
  /** Wait before a failed spend-alert webhook is tried again, doubled on each retry. */
  spendAlertWebhookRetryMs: number;
  /** Origins (besides the server's own) whose cookie-authenticated WhyLabs writes are accepted. */
  allowedOrigins: string[];
  /** Failed authentications a client address may make at once before it gets 429s (0: no throttle). */
  authFailureBurst: number;
  /** Time for a throttled address's allowance to refill completely (burst per window). */
  authFailureWindowMs: number;
  /** Failed console sign-ins one account (email) may make before its sign-ins are refused 429 (refilling over signinFailureWindowMs). */
  signinFailureBurst: number;
  /** Failed console sign-ins one client address may make before its sign-ins are refused 429. */
  signinAddressBurst: number;
  /** Time for a throttled account's or address's sign-in allowance to refill completely. */
  signinFailureWindowMs: number;
  /** A console session unused this long ends. */
  sessionIdleMinutes: number;
  /** A console session ends this long after sign-in, used or not. */
  sessionMaxHours: number;
  modelsFile: { path: string; catalog: ModelCatalog; /** The parsed file, for the routes (providers, aliases, prices) beside the limits. */ entries: unknown } | undefined;
  /** Bearer token that `GET /metrics` on the main port requires; undefined: no /metrics on the main port. */
  metricsToken: string | undefined;
  /** Port of a separate listener serving `GET /metrics` without a token; undefined: none. */
  metricsPort: number | undefined;
  /** Address the metrics listener binds (default: HOST). */
  metricsHost: string | undefined;
  /** One structured log line per request (info level). */
  accessLog: boolean;
  /** Fraction (0..1) of successful requests (status < 400) logged; every 4xx/5xx is. */
  accessLogSample: number;
  /** OpenID Connect sign-in for the console: the issuer URL; undefined (with the client id and secret): off. */
  oidcIssuer: string | undefined;
  /** The console's client id at the OpenID provider. */
  oidcClientId: string | undefined;
  /** The console's client secret at the OpenID provider. */
  oidcClientSecret: string | undefined;
  /** Where the provider sends the browser back; undefined: `<server origin>/console/api/oidc/callback`. */
  oidcRedirectUrl: string | undefined;
}

/** One row per setting: environment variable, flag, and how to read it. */
export interface SettingSpec {
  env: string;
  flag: string;
  describe: string;
  secret?: boolean;
}

export const SETTINGS = {
  port: { env: 'PORT', flag: '--port', describe: 'TCP port to listen on (0 picks a free one)' },
  host: { env: 'HOST', flag: '--host', describe: 'address to bind' },
  dataDir: { env: 'KEYPLANE_DATA_DIR', flag: '--data-dir', describe: 'directory of the SQLite file, master-key and admin-key files' },
  databaseUrl: { env: 'DATABASE_URL', flag: '--database-url', describe: 'postgres:// URL to use PostgreSQL instead of SQLite', secret: true },
  masterKey: { env: 'KEYPLANE_MASTER_KEY', flag: '--master-key', describe: '256-bit master key (64 hex chars or base64)', secret: true },
  bootstrapAdminKey: { env: 'KEYPLANE_BOOTSTRAP_ADMIN_KEY', flag: '--bootstrap-admin-key', describe: 'admin key to create on first start (sk-admin-…)', secret: true },
  rootKey: { env: 'KEYPLANE_ROOT_KEY', flag: '--root-key', describe: 'bearer key of the operator platform API; unset turns it off', secret: true },
  logLevel: { env: 'LOG_LEVEL', flag: '--log-level', describe: `one of ${LOG_LEVELS.join(', ')}` },
  role: { env: 'KEYPLANE_ROLE', flag: '--role', describe: `faces this process serves: all (default), admin (the admin APIs) or gateway (the OpenAI-compatible data plane)` },
  keyCacheMax: { env: 'KEYPLANE_KEY_CACHE_MAX', flag: '--key-cache-max', describe: 'entries in the key verification cache' },
  keyCacheTtlMs: { env: 'KEYPLANE_KEY_CACHE_TTL_MS', flag: '--key-cache-ttl-ms', describe: 'longest time a verified key is trusted without a database read' },
  usageFlushMs: { env: 'KEYPLANE_USAGE_FLUSH_MS', flag: '--usage-flush-ms', describe: 'how often buffered last_used_at, call counts and gateway usage events are written' },
  usageMinuteRetentionDays: { env: 'KEYPLANE_USAGE_MINUTE_RETENTION_DAYS', flag: '--usage-minute-retention-days', describe: 'days per-minute usage rollups (the Usage API\'s 1m buckets) are kept; hour and day rollups stay (0: keep forever)' },
  shutdownTimeoutMs: { env: 'KEYPLANE_SHUTDOWN_TIMEOUT_MS', flag: '--shutdown-timeout-ms', describe: 'how long SIGTERM waits for in-flight requests' },
  upstreamTimeoutMs: { env: 'KEYPLANE_UPSTREAM_TIMEOUT_MS', flag: '--upstream-timeout-ms', describe: 'gateway: longest wait for an upstream answer to start, and between its chunks (504 after)' },
  defaultOutputTokens: { env: 'KEYPLANE_DEFAULT_OUTPUT_TOKENS', flag: '--default-output-tokens', describe: 'gateway: output tokens reserved against token limits when a request names no max_tokens' },
  upstreamRetries: { env: 'KEYPLANE_UPSTREAM_RETRIES', flag: '--upstream-retries', describe: 'gateway: times an upstream call that failed to connect or answered 429/500/502/503/504 is retried, never once the answer has started reaching the client (0: never)' },
  redisUrl: { env: 'REDIS_URL', flag: '--redis-url', describe: 'gateway: redis:// or rediss:// URL; rate limits are then kept in Redis and shared by every node', secret: true },
  freeTrialTokens: { env: 'KEYPLANE_FREE_TRIAL_TOKENS', flag: '--free-trial-tokens', describe: 'gateway: tokens a free trial may use on the platform key, unless its metadata says {"tokens": n} (0: no cap)' },
  freeTrialRequests: { env: 'KEYPLANE_FREE_TRIAL_REQUESTS', flag: '--free-trial-requests', describe: 'gateway: requests a free trial may make on the platform key, unless its metadata says {"requests": n} (0: no cap)' },
  freeTrialDays: { env: 'KEYPLANE_FREE_TRIAL_DAYS', flag: '--free-trial-days', describe: 'gateway: days a free trial lasts from its start, unless its metadata says {"days": n} (0: no time limit)' },
  spendAlertWebhookUrl: { env: 'KEYPLANE_SPEND_ALERT_WEBHOOK_URL', flag: '--spend-alert-webhook-url', describe: 'http(s) URL each triggered spend alert is POSTed to, signed per organization (keyplane-signature header)', secret: true },
  spendAlertWebhookRetryMs: { env: 'KEYPLANE_SPEND_ALERT_WEBHOOK_RETRY_MS', flag: '--spend-alert-webhook-retry-ms', describe: 'wait before a failed spend-alert webhook delivery is retried, doubled each time (6 tries in all)' },
  allowedOrigins: { env: 'KEYPLANE_ALLOWED_ORIGINS', flag: '--allowed-origins', describe: 'comma-separated origins (https://console.example.com) besides the server\'s own whose cookie-authenticated writes the WhyLabs face (/v0) and the console (/console/api) accept' },
  authFailureBurst: { env: 'KEYPLANE_AUTH_FAILURE_BURST', flag: '--auth-failure-burst', describe: 'failed authentications (401s) a client address may make at once on any face; past it, its failures get 429 with Retry-After (valid keys always pass; 0: no throttle)' },
  authFailureWindowMs: { env: 'KEYPLANE_AUTH_FAILURE_WINDOW_MS', flag: '--auth-failure-window-ms', describe: 'time in which a throttled address\'s allowance of failed authentications refills completely (burst per window)' },
  signinFailureBurst: { env: 'KEYPLANE_SIGNIN_FAILURE_BURST', flag: '--signin-failure-burst', describe: 'failed console sign-ins one account (email) may make; past it, its sign-ins get 429 with Retry-After, even with the right password, until the allowance refills (0: no per-account throttle)' },
  signinAddressBurst: { env: 'KEYPLANE_SIGNIN_ADDRESS_BURST', flag: '--signin-address-burst', describe: 'failed console sign-ins one client address may make; past it, its sign-ins get 429 with Retry-After (0: no per-address throttle)' },
  signinFailureWindowMs: { env: 'KEYPLANE_SIGNIN_FAILURE_WINDOW_MS', flag: '--signin-failure-window-ms', describe: 'time in which a throttled account\'s or address\'s allowance of failed console sign-ins refills completely' },
  sessionIdleMinutes: { env: 'KEYPLANE_SESSION_IDLE_MINUTES', flag: '--session-idle-minutes', describe: 'a console session unused this many minutes ends' },
  sessionMaxHours: { env: 'KEYPLANE_SESSION_MAX_HOURS', flag: '--session-max-hours', describe: 'a console session ends this many hours after sign-in, used or not' },
  modelsFile: { env: 'KEYPLANE_MODELS_FILE', flag: '--models-file', describe: 'JSON file of the model catalog and default per-model rate limits' },
  metricsToken: { env: 'KEYPLANE_METRICS_TOKEN', flag: '--metrics-token', describe: 'bearer token GET /metrics (Prometheus) needs on the main port; unset: no /metrics there', secret: true },
  metricsPort: { env: 'KEYPLANE_METRICS_PORT', flag: '--metrics-port', describe: 'port of a separate listener serving GET /metrics without a token (keep it private); unset: none' },
  metricsHost: { env: 'KEYPLANE_METRICS_HOST', flag: '--metrics-host', describe: 'address the metrics listener binds (default: HOST)' },
  accessLog: { env: 'KEYPLANE_ACCESS_LOG', flag: '--access-log', describe: 'on or off: one structured log line per request (info level)' },
  accessLogSample: { env: 'KEYPLANE_ACCESS_LOG_SAMPLE', flag: '--access-log-sample', describe: 'fraction 0..1 of successful requests (status < 400) written to the access log; 4xx and 5xx always are' },
  oidcIssuer: { env: 'KEYPLANE_OIDC_ISSUER', flag: '--oidc-issuer', describe: 'console: issuer URL of an OpenID Connect provider (https://accounts.example.com) to sign in with; set with the client id and secret, unset: no OpenID Connect sign-in' },
  oidcClientId: { env: 'KEYPLANE_OIDC_CLIENT_ID', flag: '--oidc-client-id', describe: 'console: the client id keyplane has at the OpenID Connect provider' },
  oidcClientSecret: { env: 'KEYPLANE_OIDC_CLIENT_SECRET', flag: '--oidc-client-secret', describe: 'console: the client secret keyplane has at the OpenID Connect provider', secret: true },
  oidcRedirectUrl: { env: 'KEYPLANE_OIDC_REDIRECT_URL', flag: '--oidc-redirect-url', describe: 'console: the redirect URL registered at the provider (default: <server origin>/console/api/oidc/callback, the origin the browser used)' },
} satisfies Record<keyof Config, SettingSpec>;

export class ConfigError extends Error {
  constructor(
    readonly setting: SettingSpec,
    reason: string,
    shown?: string,
  ) {
    super(`invalid setting ${setting.env} (${setting.flag}): ${reason}${shown === undefined ? '' : `, got ${JSON.stringify(shown)}`}`);
    this.name = 'ConfigError';
  }
}

/** Flag values as commander gives them (camelCase keys), all strings. */
export type FlagValues = Partial<Record<keyof Config, string>>;

export function loadConfig(flags: FlagValues = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const raw = (k: keyof Config): string | undefined => {
    const v = flags[k] ?? env[SETTINGS[k].env];
    return v === undefined || v === '' ? undefined : v;
  };
  const int = (k: keyof Config, def: number, min: number, max: number): number => {
    const v = raw(k);
    if (v === undefined) return def;
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) {
      throw new ConfigError(SETTINGS[k], `must be an integer from ${min} to ${max}`, v);
    }
    return Number(v);
  };

  const host = raw('host') ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-\[\]]+$/.test(host)) throw new ConfigError(SETTINGS.host, 'must be a host name or IP address', host);
  const metricsHost = raw('metricsHost');
  if (metricsHost !== undefined && !/^[A-Za-z0-9.:\-\[\]]+$/.test(metricsHost)) throw new ConfigError(SETTINGS.metricsHost, 'must be a host name or IP address', metricsHost);

  const metricsToken = raw('metricsToken');
  if (metricsToken !== undefined && (metricsToken.length < 32 || estimateEntropyBits(metricsToken) < 128 || /\s/.test(metricsToken))) {
    // never echo the value
    throw new ConfigError(SETTINGS.metricsToken, 'needs at least 32 random characters without spaces (about 128 bits; try: openssl rand -hex 32)');
  }

  const accessLogText = (raw('accessLog') ?? 'on').toLowerCase();
  const ON = ['on', 'true', '1', 'yes'];
  const OFF = ['off', 'false', '0', 'no'];
  if (!ON.includes(accessLogText) && !OFF.includes(accessLogText)) throw new ConfigError(SETTINGS.accessLog, 'must be on or off', raw('accessLog'));
  const sampleText = raw('accessLogSample');
  let accessLogSample = 1;
  if (sampleText !== undefined) {
    accessLogSample = /^\s*(0|1|0?\.\d+|1\.0*)\s*$/.test(sampleText) ? Number(sampleText) : NaN;
    if (!(accessLogSample >= 0 && accessLogSample <= 1)) throw new ConfigError(SETTINGS.accessLogSample, 'must be a number from 0 to 1', sampleText);
  }

  const oidcIssuer = raw('oidcIssuer');
  const oidcClientId = raw('oidcClientId');
  const oidcClientSecret = raw('oidcClientSecret');
  const oidcRedirectUrl = raw('oidcRedirectUrl');
  if (oidcIssuer !== undefined || oidcClientId !== undefined || oidcClientSecret !== undefined || oidcRedirectUrl !== undefined) {
    if (oidcIssuer === undefined) throw new ConfigError(SETTINGS.oidcIssuer, 'is needed with the other KEYPLANE_OIDC_ settings (the provider\'s issuer URL)');
    if (!httpsOrLoopback(oidcIssuer)) throw new ConfigError(SETTINGS.oidcIssuer, 'must be an https:// URL (http:// only on a loopback address)', oidcIssuer);
    if (oidcClientId === undefined) throw new ConfigError(SETTINGS.oidcClientId, 'is needed with KEYPLANE_OIDC_ISSUER');
    // never echo the secret
    if (oidcClientSecret === undefined) throw new ConfigError(SETTINGS.oidcClientSecret, 'is needed with KEYPLANE_OIDC_ISSUER');
    if (oidcRedirectUrl !== undefined && !httpsOrLoopback(oidcRedirectUrl, true)) throw new ConfigError(SETTINGS.oidcRedirectUrl, 'must be an http:// or https:// URL', oidcRedirectUrl);
  }

  const databaseUrl = raw('databaseUrl');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/\S+$/i.test(databaseUrl)) {
    // never echo the value: it may carry a password
    throw new ConfigError(SETTINGS.databaseUrl, 'must be a postgres:// or postgresql:// URL (leave unset for the embedded SQLite file)');
  }

  const redisUrl = raw('redisUrl');
  if (redisUrl !== undefined && !/^rediss?:\/\/\S+$/i.test(redisUrl)) {
    // never echo the value: it may carry a password
    throw new ConfigError(SETTINGS.redisUrl, 'must be a redis:// or rediss:// URL (leave unset to keep rate limits in memory)');
  }

  const spendAlertWebhookUrl = raw('spendAlertWebhookUrl');
  if (spendAlertWebhookUrl !== undefined) {
    let ok = false;
    try {
      const u = new URL(spendAlertWebhookUrl);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && !/\s/.test(spendAlertWebhookUrl);
    } catch {
      ok = false;
    }
    // never echo the value: it may carry a token
    if (!ok) throw new ConfigError(SETTINGS.spendAlertWebhookUrl, 'must be an http:// or https:// URL');
  }

  const allowedOrigins: string[] = [];
  for (const item of (raw('allowedOrigins') ?? '').split(',')) {
    const o = item.trim();
    if (!o) continue;
    const parsed = parseOrigin(o);
    if (!parsed) throw new ConfigError(SETTINGS.allowedOrigins, 'must be comma-separated origins: scheme://host[:port], http or https, without path', o);
    if (!allowedOrigins.includes(parsed)) allowedOrigins.push(parsed);
  }

  let masterKey: Buffer | undefined;
  const mk = raw('masterKey');
  if (mk !== undefined) {
    const parsed = parseKey(mk);
    if (!parsed) throw new ConfigError(SETTINGS.masterKey, 'must be 32 random bytes as 64 hex characters or base64 (try: openssl rand -hex 32)');
    masterKey = parsed;
  }

  const bootstrapAdminKey = raw('bootstrapAdminKey');
  if (bootstrapAdminKey !== undefined) {
    const why = checkSuppliedAdminKey(bootstrapAdminKey);
    if (why) throw new ConfigError(SETTINGS.bootstrapAdminKey, why);
  }

  const rootKey = raw('rootKey');
  if (rootKey !== undefined && (rootKey.length < 32 || estimateEntropyBits(rootKey) < 128 || /\s/.test(rootKey))) {
    throw new ConfigError(SETTINGS.rootKey, 'needs at least 32 random characters without spaces (about 128 bits; try: openssl rand -hex 32)');
  }

  const logLevel = (raw('logLevel') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new ConfigError(SETTINGS.logLevel, `must be one of ${LOG_LEVELS.join(', ')}`, raw('logLevel'));
  }

  const role = (raw('role') ?? 'all').toLowerCase();
  if (!ROLES.includes(role as Role)) {
    throw new ConfigError(SETTINGS.role, `must be one of ${ROLES.join(', ')}`, raw('role'));
  }

  let modelsFile: Config['modelsFile'];
  const mf = raw('modelsFile');
  if (mf !== undefined) {
    const file = path.resolve(cwd, mf);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(SETTINGS.modelsFile, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError(SETTINGS.modelsFile, `${file} is not valid JSON`);
    }
    try {
      modelsFile = { path: file, catalog: parseModelCatalog(parsed), entries: parsed };
    } catch (err) {
      throw new ConfigError(SETTINGS.modelsFile, `${file}: ${(err as Error).message}`);
    }
  }

  return {
    port: int('port', 8080, 0, 65535),
    host,
    dataDir: path.resolve(cwd, raw('dataDir') ?? 'data'),
    databaseUrl,
    masterKey,
    bootstrapAdminKey,
    rootKey,
    logLevel: logLevel as LogLevel,
    role: role as Role,
    keyCacheMax: int('keyCacheMax', 100_000, 1, 10_000_000),
    keyCacheTtlMs: int('keyCacheTtlMs', 60_000, 0, 86_400_000),
    usageFlushMs: int('usageFlushMs', 1_000, 10, 3_600_000),
    usageMinuteRetentionDays: int('usageMinuteRetentionDays', 7, 0, 36_500),
    shutdownTimeoutMs: int('shutdownTimeoutMs', 10_000, 0, 600_000),
    upstreamTimeoutMs: int('upstreamTimeoutMs', 600_000, 100, 3_600_000),
    defaultOutputTokens: int('defaultOutputTokens', 512, 1, 1_000_000),
    upstreamRetries: int('upstreamRetries', 0, 0, 5),
    redisUrl,
    freeTrialTokens: int('freeTrialTokens', 1_000_000, 0, 1_000_000_000_000),
    freeTrialRequests: int('freeTrialRequests', 0, 0, 1_000_000_000_000),
    freeTrialDays: int('freeTrialDays', 0, 0, 100_000),
    spendAlertWebhookUrl,
    spendAlertWebhookRetryMs: int('spendAlertWebhookRetryMs', 1_000, 1, 3_600_000),
    allowedOrigins,
    authFailureBurst: int('authFailureBurst', 20, 0, 1_000_000),
    authFailureWindowMs: int('authFailureWindowMs', 60_000, 1, 86_400_000),
    signinFailureBurst: int('signinFailureBurst', 5, 0, 1_000_000),
    signinAddressBurst: int('signinAddressBurst', 20, 0, 1_000_000),
    signinFailureWindowMs: int('signinFailureWindowMs', 900_000, 1, 86_400_000),
    sessionIdleMinutes: int('sessionIdleMinutes', 60, 1, 525_600),
    sessionMaxHours: int('sessionMaxHours', 12, 1, 8_760),
    modelsFile,
    metricsToken,
    metricsPort: raw('metricsPort') === undefined ? undefined : int('metricsPort', 0, 0, 65535),
    metricsHost,
    accessLog: ON.includes(accessLogText),
    accessLogSample,
    oidcIssuer,
    oidcClientId,
    oidcClientSecret,
    oidcRedirectUrl,
  };
}

/** An https:// URL, or an http:// one on a loopback host (or any http:// one with `anyHttp`). */
function httpsOrLoopback(text: string, anyHttp = false): boolean {
  if (/\s/.test(text)) return false;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return false;
  }
  if (u.protocol === 'https:') return true;
  if (u.protocol !== 'http:') return false;
  return anyHttp || u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]';
}

/** `scheme://host[:port]` (http or https, nothing else) in its serialized form (lower case, default port dropped); null if it is not one. */
export function parseOrigin(text: string): string | null {
  if (/\s/.test(text)) return null;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) return null;
  if (text.replace(/\/$/, '').includes('/', u.protocol.length + 2)) return null;
  return u.origin;
}
