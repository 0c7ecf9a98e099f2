// Organizations (tenants). Created by the operator only, each with an owner user and a first admin key.
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

  async getBySlug(actor: Actor, slug: string): Promise<Organization> {
    const org = await this.store.db.selectFrom('organizations').selectAll().where('slug', '=', slug).executeTakeFirst();
    if (!org || (actor.type === 'key' && actor.key.orgId !== org.id)) throw notFound(`No such organization: '${slug}'.`, 'org');
    return org;
  }

  async count(): Promise<number> {
    const r = await this.store.db.selectFrom('organizations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
