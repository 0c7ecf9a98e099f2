// Token usage: append-only events (written by the gateway) and the daily rollups every usage query
// reads. Recording an event appends it and adds it to its day's rollup in one transaction; the gateway
// records through UsageRecorder (usage-recorder.ts), buffered, into the same tables.
import { sql } from 'kysely';
import type { Executor, Store } from '../store/db.ts';
import { type Actor, requireOrgRead } from './actor.ts';
import { invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';

export interface UsageEvent {
  orgId: string;
  projectId?: string | null;
  apiKeyId?: string | null;
  userId?: string | null;
  sessionId?: string | null;
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** When the request happened (epoch ms); now when absent. */
  at?: number;
}

export interface DailyTokens {
  /** UTC day, `YYYY-MM-DD`. */
  date: string;
  prompt_tokens: number;
  completion_tokens: number;
}

/** The UTC day of an epoch-millisecond time, `YYYY-MM-DD`. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

const MAX_TOKENS = 2 ** 40; // far above any single request; keeps sums exact in a double

function tokens(n: unknown, field: string): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_TOKENS) throw invalid(`${field} must be a non-negative integer.`, field);
  return n;
}

function optionalText(v: unknown, field: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v.length < 1 || v.length > 255) throw invalid(`${field} must be 1 to 255 characters.`, field);
  return v;
}

/**
 * A user of the organization named by its keyplane id (`user-…`) or email: a member, or a former
 * member with usage recorded in the organization. Anything else, including users of other
 * organizations only, is not found (with the same answer, so nothing leaks across tenants).
 */
export async function resolveOrgUser(db: Executor, orgId: string, ref: string, opts: { withUsage?: boolean } = {}): Promise<{ id: string; email: string }> {
  const missing = () => notFound(`No user '${ref}' in this organization.`, 'user');
  if (!ref || ref.length > 320) throw missing();
  const user = await db
    .selectFrom('users')
    .select(['id', 'email'])
    .where(ref.includes('@') ? 'email' : 'id', '=', ref.includes('@') ? ref.trim().toLowerCase() : ref)
    .executeTakeFirst();
  if (!user) throw missing();
  const member = await db.selectFrom('org_memberships').select('user_id').where('org_id', '=', orgId).where('user_id', '=', user.id).executeTakeFirst();
  if (member) return user;
  if (opts.withUsage) {
    const used = await db.selectFrom('usage_daily').select('user_id').where('org_id', '=', orgId).where('user_id', '=', user.id).limit(1).executeTakeFirst();
    if (used) return user;
  }
  throw missing();
}

export class UsageService {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records one metered request (the gateway calls this): the event and its daily rollup, in one
   * transaction. Not audited: usage events are themselves the record. Returns the event id.
   */
  async record(ev: UsageEvent): Promise<string> {
    const prompt = tokens(ev.promptTokens, 'prompt_tokens');
    const completion = tokens(ev.completionTokens, 'completion_tokens');
    if (typeof ev.model !== 'string' || ev.model.length < 1 || ev.model.length > 255) throw invalid('model must be 1 to 255 characters.', 'model');
    const projectId = optionalText(ev.projectId, 'project_id');
    const apiKeyId = optionalText(ev.apiKeyId, 'api_key_id');
    const userId = optionalText(ev.userId, 'user_id');
    const sessionId = optionalText(ev.sessionId, 'session_id');
    const at = ev.at ?? this.now();
    if (!Number.isSafeInteger(at) || at < 0) throw invalid('at must be epoch milliseconds.', 'at');
    const id = newId(ID_PREFIX.usage, at);
    await this.store.db.transaction().execute(async (tx) => {
      const org = await tx.selectFrom('organizations').select('id').where('id', '=', ev.orgId).executeTakeFirst();
      if (!org) throw notFound(`No such organization: '${ev.orgId}'.`, 'org');
      await tx
        .insertInto('usage_events')
        .values({ id, org_id: ev.orgId, project_id: projectId, api_key_id: apiKeyId, user_id: userId, session_id: sessionId, model: ev.model, prompt_tokens: prompt, completion_tokens: completion, created_at: at })
        .execute();
      // dialect-neutral upsert: ON CONFLICT … DO UPDATE works on SQLite and PostgreSQL alike
      await tx
        .insertInto('usage_daily')
        .values({ org_id: ev.orgId, day: utcDay(at), project_id: projectId ?? '', user_id: userId ?? '', session_id: sessionId ?? '', model: ev.model, requests: 1, prompt_tokens: prompt, completion_tokens: completion })
        .onConflict((oc) =>
          oc.columns(['org_id', 'day', 'project_id', 'user_id', 'session_id', 'model']).doUpdateSet((eb) => ({
            requests: eb('usage_daily.requests', '+', 1),
            prompt_tokens: eb('usage_daily.prompt_tokens', '+', eb.ref('excluded.prompt_tokens')),
            completion_tokens: eb('usage_daily.completion_tokens', '+', eb.ref('excluded.completion_tokens')),
          })),
        )
        .execute();
    });
    return id;
  }

  /**
   * Tokens per UTC day for the organization, oldest first, from the rollups only. `userId`,
   * `username` and `sessionId` narrow the sums; a username that is neither a user of the
   * organization nor an end user with usage in it, and a session with no usage in it, are not found.
   */
  async tokensPerDay(actor: Actor, orgId: string, filter: { userId?: string | undefined; username?: string | undefined; sessionId?: string | undefined } = {}): Promise<DailyTokens[]> {
    requireOrgRead(actor, orgId);
    const db = this.store.db;
    // a username is a keyplane user of the tenant (its id or email), a former member with usage
    // here, or an end user as a gateway client named it (any string recorded in the rollups); when
    // it is both, both count
    let userIds: string[] | undefined = filter.userId !== undefined ? [filter.userId] : undefined;
    if (filter.username !== undefined) userIds = await this.resolveUsername(orgId, filter.username);
    if (filter.sessionId !== undefined) {
      const known = filter.sessionId !== '' && (await db.selectFrom('usage_daily').select('session_id').where('org_id', '=', orgId).where('session_id', '=', filter.sessionId).limit(1).executeTakeFirst());
      if (!known) throw notFound(`No session '${filter.sessionId}' in this organization.`, 'session_id');
    }
    let q = db
      .selectFrom('usage_daily')
      .select(['day', sql<string | number>`sum(prompt_tokens)`.as('prompt'), sql<string | number>`sum(completion_tokens)`.as('completion')])
      .where('org_id', '=', orgId);
    if (userIds !== undefined) q = userIds.length === 1 ? q.where('user_id', '=', userIds[0]!) : q.where('user_id', 'in', userIds);
    if (filter.sessionId !== undefined) q = q.where('session_id', '=', filter.sessionId);
    const rows = await q.groupBy('day').orderBy('day').execute();
    // PostgreSQL sums bigints as numeric, which arrives as text
    return rows.map((r) => ({ date: r.day, prompt_tokens: Number(r.prompt), completion_tokens: Number(r.completion) }));
  }

  /**
   * The rollup user_id values a username filter matches: the keyplane user it names (see
   * resolveOrgUser), by id and by email (a gateway client may name its end users by their email),
   * and the end-user string itself when the organization has usage recorded under it. Neither is
   * not found, with resolveOrgUser's answer.
   */
  private async resolveUsername(orgId: string, username: string): Promise<string[]> {
    const db = this.store.db;
    const ids: string[] = [];
    let missing: unknown = null;
    try {
      const user = await resolveOrgUser(db, orgId, username, { withUsage: true });
      ids.push(user.id, user.email);
    } catch (err) {
      missing = err;
    }
    if (!ids.includes(username) && username.length <= 255) {
      const used = await db.selectFrom('usage_daily').select('user_id').where('org_id', '=', orgId).where('user_id', '=', username).limit(1).executeTakeFirst();
      if (used) ids.push(username);
    }
    if (!ids.length) throw missing;
    return ids;
  }
}
