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
  async acceptInvite(input: { token: string; name: string; password: string }): Promise<Session> {
    return remember(await call<Session>('POST', '/invites/accept', input));
  },
};
