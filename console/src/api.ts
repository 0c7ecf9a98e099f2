// A small typed client for the console's API (/console/api/*). The session is an HttpOnly cookie the
// page never sees; state-changing requests carry the CSRF token from the last session body.

export interface User { id: string; email: string; name: string }
export interface Org { id: string; slug: string; name: string; role: string }
export interface Session {
  user: User | null;
  org: Org | null;
  orgs: Org[];
  operator?: true;
  csrf_token: string;
}

/** An error in plain words, with the API's code and the HTTP status (0: keyplane was not reached). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly retryAfter?: number,
    /** The request field the error is about (OpenAI's `param`, a DRF field name), to show it next to that field. */
    readonly param?: string | null,
  ) {
    super(message);
  }
}

const BASE = '/console/api';
let csrfToken = '';

const PLAIN: Record<string, string> = {
  invalid_credentials: 'The email, password or organization is not right.',
  too_many_attempts: 'Too many attempts. Wait a little and try again.',
  not_signed_in: 'You are not signed in.',
  invalid_invite: 'This invitation link is not valid any more. Ask for a new invitation.',
};

function plainMessage(status: number, code: string, message: string | undefined, retryAfter?: number): string {
  let text = message?.trim() || PLAIN[code] || (status >= 500 ? 'keyplane could not do this because of a server problem. Try again in a moment.' : `The request was refused (HTTP ${status}).`);
  if (code === 'too_many_attempts' && retryAfter) text += ` Try again in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`;
  return text;
}

async function call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(BASE + path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError('keyplane could not be reached. Check your connection and try again.', 0, 'network');
  }
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => null)) as { error?: { message?: string; code?: string } } | null;
  if (!res.ok) {
    const code = data?.error?.code ?? (res.status === 404 ? 'not_available' : 'error');
    const retry = Number(res.headers.get('retry-after')) || undefined;
    const message = res.status === 404 && !data?.error ? 'The console API is not available on this keyplane server.' : plainMessage(res.status, code, data?.error?.message, retry);
    throw new ApiError(message, res.status, code, retry);
  }
  return data as T;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Calls any keyplane route the console session may use — the OpenAI admin face (`/v1/organization/…`),
 * the ibl.ai face (`/api/ai-account/…`), the platform face (`/v1/platform/…`, operator) and the
 * console API — with the session cookie and the CSRF token. Each face's error envelope becomes an
 * ApiError in plain words: OpenAI's `{error:{message,param,code}}`, the console's
 * `{error:{message,code}}`, DRF's `{detail}` or `{field: [messages]}`.
 */
export async function request<T>(method: Method, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError('keyplane could not be reached. Check your connection and try again.', 0, 'network');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.ok) return (data ?? text) as T;
  const retry = Number(res.headers.get('retry-after')) || undefined;
  let message: string | undefined;
  let code = 'error';
  let param: string | null = null;
  if (data && typeof data === 'object') {
    if (data.error && typeof data.error === 'object') {
      message = data.error.message;
      code = data.error.code ?? data.error.type ?? code;
      param = data.error.param ?? null;
    } else if (typeof data.detail === 'string') message = data.detail;
    else {
      // DRF field errors: {"name": ["This field is required."]}
      const [field, msgs] = Object.entries(data)[0] ?? [];
      if (field) {
        param = field;
        message = `${field}: ${Array.isArray(msgs) ? msgs.join(' ') : String(msgs)}`;
      }
    }
  }
  if (res.status === 403 && !message) message = 'Your role does not allow this.';
  throw new ApiError(plainMessage(res.status, code, message, retry), res.status, code, retry, param);
}

/** A message for any error (an ApiError's plain words, or a generic sentence). */
export const errorText = (e: unknown): string => (e instanceof ApiError ? e.message : 'Something went wrong. Try again.');

/** What the signed-in user may do (GET /console/api/me/permissions): mirrors the domain's grants. */
export interface Permissions {
  operator: boolean;
  org_role: 'owner' | 'reader' | null;
  /** Administers the organization (members, invites, groups, roles, credentials, every project). */
  org_write: boolean;
  org_read: boolean;
  /** Their level in each project they have one in (`write`, `member`, `read`); every project is `write` with org_write. */
  projects: Record<string, 'write' | 'member' | 'read'>;
}

function remember(s: Session): Session {
  csrfToken = s.csrf_token;
  return s;
}

export const api = {
  /** The current session, or null when not signed in (or when the server has no console API). */
  async session(): Promise<Session | null> {
    try {
      return remember(await call<Session>('GET', '/session'));
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 404)) return null;
      throw e;
    }
  },
  async signIn(creds: { email: string; password: string; org?: string } | { root_key: string }): Promise<Session> {
    return remember(await call<Session>('POST', '/session', creds));
  },
  async signOut(): Promise<void> {
    await call<void>('DELETE', '/session');
    csrfToken = '';
  },
  permissions: () => call<Permissions>('GET', '/me/permissions'),
  async acceptInvite(input: { token: string; name: string; password: string }): Promise<Session> {
    return remember(await call<Session>('POST', '/invites/accept', input));
  },
};
