// "Unique" rules the code checked but the database did not enforce, so that two requests racing
// (on one node or several) cannot both pass the check and both insert:
// - a role's name is unique in its scope: among the organization's roles (project_id null) and
//   among one project's roles. Two partial unique indexes, because NULLs are never equal in a unique
//   index on either dialect (and NULLS NOT DISTINCT is PostgreSQL 15+ only);
// - an email has at most one pending invite per organization: a partial unique index over
//   status = 'pending'. Invites past their expiry used to keep status 'pending' (they only read as
//   expired); from now on InviteService.create marks them 'expired' before it inserts, and this
//   migration does so once for the rows already there.
//
// Databases written before may already hold duplicates (left by exactly those races). The migration
// must not fail on them, so it settles them first, deterministically, keeping the oldest row of each
// group (ordered by created_at, then id; for roles a predefined role is kept before a custom one):
// - a later duplicate role is renamed to '<name> (<role id>)': ids are unique, so the new names are
//   too, and nothing that refers to the role by id (assignments, project groups) changes;
// - a later duplicate pending invite is set to 'expired' (it can no longer be accepted; the kept
//   invite, sent first, is the one the inviter saw answered).
// Neither writes an audit event: no actor made the change.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // ---- roles ----
  await sql`
    update roles set name = name || ' (' || id || ')'
    where exists (
      select 1 from roles r2
      where r2.org_id = roles.org_id
        and coalesce(r2.project_id, '') = coalesce(roles.project_id, '')
        and r2.name = roles.name
        and r2.id <> roles.id
        and (r2.predefined > roles.predefined
          or (r2.predefined = roles.predefined
            and (r2.created_at < roles.created_at or (r2.created_at = roles.created_at and r2.id < roles.id))))
    )`.execute(db);
  await db.schema.createIndex('roles_org_name_unique').on('roles').columns(['org_id', 'name']).unique().where(sql<boolean>`project_id is null`).execute();
  await db.schema.createIndex('roles_project_name_unique').on('roles').columns(['project_id', 'name']).unique().where(sql<boolean>`project_id is not null`).execute();

  // ---- invites ----
  await sql`update invites set status = 'expired' where status = 'pending' and expires_at <= ${Date.now()}`.execute(db);
  await sql`
    update invites set status = 'expired'
    where status = 'pending' and exists (
      select 1 from invites i2
      where i2.org_id = invites.org_id
        and i2.email = invites.email
        and i2.status = 'pending'
        and (i2.created_at < invites.created_at or (i2.created_at = invites.created_at and i2.id < invites.id))
    )`.execute(db);
  await db.schema.createIndex('invites_one_pending').on('invites').columns(['org_id', 'email']).unique().where(sql<boolean>`status = 'pending'`).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('invites_one_pending').execute();
  await db.schema.dropIndex('roles_project_name_unique').execute();
  await db.schema.dropIndex('roles_org_name_unique').execute();
}
