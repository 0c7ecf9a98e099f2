// Organizations (tenants). Created by the operator only, each with an owner user and a first admin key.
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import type { Store } from '../store/db.ts';
import { isUniqueViolation } from '../store/db.ts';
import type { Organization, User } from '../store/schema.ts';
import { requireOperator, type Actor } from './actor.ts';
import { recordAudit } from './audit.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import type { IssuedKey, KeyService } from './keys.ts';
import { ensureUser } from './users.ts';
import { seedPredefinedRoles } from './predefined-roles.ts';

export const SLUG = /^[a-z0-9](?:[a-z0-9_-]{0,62})$/;

export interface CreateOrganizationInput {
  name: string;
  slug: string;
  ownerEmail?: string | undefined;
  ownerName?: string | undefined;
  /** Operator-chosen first admin key (bootstrap); otherwise generated. */
  adminKey?: string | undefined;
}

export interface CreatedOrganization {
  org: Organization;
  owner: User;
  adminKey: IssuedKey;
}

export interface OrganizationSummary {
  org: Organization;
  projects: { active: number; archived: number };
  /** Members of the organization. */
  users: number;
  keys: { active: number; deactivated: number; revoked: number };
}

export class OrganizationService {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyService,
    private readonly now: () => number = Date.now,
  ) {}

  async create(actor: Actor, input: CreateOrganizationInput): Promise<CreatedOrganization> {
    requireOperator(actor);
    const name = input.name?.trim();
    if (!name || name.length > 200) throw invalid('An organization needs a name of 1 to 200 characters.', 'name');
    if (!SLUG.test(input.slug ?? '')) {
      throw invalid('A slug is 1 to 63 characters: lower-case letters, digits, "-" and "_", starting with a letter or digit.', 'slug');
    }
    const now = this.now();
    try {
      return await this.store.db.transaction().execute(async (tx) => {
        const org: Organization = {
          id: newId(ID_PREFIX.org, now),
          slug: input.slug,
          name,
          use_default_llm_key: 0,
          free_trial_enabled: 0,
          free_trial_metadata: null,
          free_trial_started_at: null,
          created_at: now,
          updated_at: now,
          disabled_at: null,
        };
        await tx.insertInto('organizations').values(org).execute();
        await seedPredefinedRoles(tx, org.id, null, now);
        await recordAudit(tx, actor, { orgId: org.id, type: 'organization.created', targetType: 'organization', targetId: org.id, payload: { name, slug: org.slug } }, now);
        const owner = await ensureUser(tx, input.ownerEmail ?? `owner@${org.slug}.invalid`, input.ownerName ?? 'Owner', now);
        await tx.insertInto('org_memberships').values({ org_id: org.id, user_id: owner.id, role: 'owner', created_at: now }).execute();
        await recordAudit(tx, actor, { orgId: org.id, type: 'user.added', targetType: 'user', targetId: owner.id, payload: { role: 'owner', email: owner.email } }, now);
        const adminKey = await this.keys.issue(tx, actor, {
          orgId: org.id,
          kind: 'admin',
          name: 'bootstrap',
          ownerType: 'user',
          ownerId: owner.id,
          ...(input.adminKey ? { secret: input.adminKey } : {}),
        });
        return { org, owner, adminKey };
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`An organization with slug '${input.slug}' already exists.`, 'slug');
      throw err;
    }
  }

  async list(actor: Actor): Promise<Organization[]> {
    requireOperator(actor);
    return this.store.db.selectFrom('organizations').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  /** One page of the organizations, oldest first (keyset: `after` is the last id of the previous page). */
  async page(actor: Actor, page: PageQuery): Promise<Page<Organization>> {
    requireOperator(actor);
    return keysetPage(this.store.db.selectFrom('organizations').selectAll(), 'organizations', page);
  }

  async getBySlug(actor: Actor, slug: string): Promise<Organization> {
    const org = await this.store.db.selectFrom('organizations').selectAll().where('slug', '=', slug).executeTakeFirst();
    if (!org || (actor.type === 'key' && actor.key.orgId !== org.id)) throw notFound(`No such organization: '${slug}'.`, 'org');
    return org;
  }

  /** An organization by slug or id (`org-…`), for the operator. */
  async find(actor: Actor, ref: string): Promise<Organization> {
    requireOperator(actor);
    const org = await this.store.db
      .selectFrom('organizations')
      .selectAll()
      .where(ref.startsWith(ID_PREFIX.org) ? 'id' : 'slug', '=', ref)
      .executeTakeFirst();
    if (!org) throw notFound(`No such organization: '${ref}'.`, 'org');
    return org;
  }

  /** What the operator sees of an organization: the row and how many projects, users and keys it has. */
  async summary(actor: Actor, ref: string): Promise<OrganizationSummary> {
    const org = await this.find(actor, ref);
    const db = this.store.db;
    const [projects, users, keys] = await Promise.all([
      db.selectFrom('projects').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).where('org_id', '=', org.id).groupBy('status').execute(),
      db.selectFrom('org_memberships').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', org.id).executeTakeFirstOrThrow(),
      db.selectFrom('api_keys').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).where('org_id', '=', org.id).groupBy('status').execute(),
    ]);
    const by = <S extends string>(rows: Array<{ status: S; n: number }>, s: S) => Number(rows.find((r) => r.status === s)?.n ?? 0);
    return {
      org,
      projects: { active: by(projects, 'active'), archived: by(projects, 'archived') },
      users: Number(users.n),
      keys: { active: by(keys, 'active'), deactivated: by(keys, 'deactivated'), revoked: by(keys, 'revoked') },
    };
  }

  /**
   * Disables (or enables again) an organization: a disabled organization's keys authenticate on no
   * face and not at the gateway. Idempotent (no change, no audit event); every key of the
   * organization leaves the key caches of every node at once.
   */
  async setDisabled(actor: Actor, ref: string, disabled: boolean): Promise<{ org: Organization; changed: boolean }> {
    requireOperator(actor);
    const now = this.now();
    const r = await this.store.db.transaction().execute(async (tx) => {
      const org = await tx
        .selectFrom('organizations')
        .selectAll()
        .where(ref.startsWith(ID_PREFIX.org) ? 'id' : 'slug', '=', ref)
        .executeTakeFirst();
      if (!org) throw notFound(`No such organization: '${ref}'.`, 'org');
      if ((org.disabled_at !== null) === disabled) return { org, changed: false, hashes: [] as string[] };
      const disabledAt = disabled ? now : null;
      await tx.updateTable('organizations').set({ disabled_at: disabledAt, updated_at: now }).where('id', '=', org.id).execute();
      await recordAudit(tx, actor, { orgId: org.id, type: disabled ? 'organization.disabled' : 'organization.enabled', targetType: 'organization', targetId: org.id, payload: { slug: org.slug } }, now);
      // only active keys can be cached
      const hashes = disabled ? (await tx.selectFrom('api_keys').select('secret_hash').where('org_id', '=', org.id).where('status', '=', 'active').execute()).map((k) => k.secret_hash) : [];
      return { org: { ...org, disabled_at: disabledAt, updated_at: now }, changed: true, hashes };
    });
    for (const h of r.hashes) await this.keys.invalidate(h);
    return { org: r.org, changed: r.changed };
  }

  async count(): Promise<number> {
    const r = await this.store.db.selectFrom('organizations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
