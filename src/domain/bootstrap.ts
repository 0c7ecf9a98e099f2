// First start on an empty database: organization `main`, its owner and an admin key. Later starts,
// and a node that loses the race to another node bootstrapping the same database, create nothing.
import { SYSTEM } from './actor.ts';
import { DomainError } from './errors.ts';
import type { CreatedOrganization, OrganizationService } from './organizations.ts';

export const BOOTSTRAP_ORG = { name: 'main', slug: 'main' } as const;

export async function bootstrap(orgs: OrganizationService, adminKey?: string): Promise<CreatedOrganization | null> {
  if ((await orgs.count()) > 0) return null;
  try {
    return await orgs.create(SYSTEM, { ...BOOTSTRAP_ORG, ownerEmail: 'owner@main.invalid', adminKey });
  } catch (err) {
    if (err instanceof DomainError && err.kind === 'conflict') return null; // another node was first
    throw err;
  }
}
