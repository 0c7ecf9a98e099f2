// The console's pages: each owns a top-level path (and everything under it, e.g. /projects/<id>/keys)
// and decides what it shows from the user's permissions; the server refuses the rest anyway.
import type { JSX } from 'preact';
import type { Permissions, Session } from '../api.ts';
import type { Route } from '../route.ts';
import { OrganizationPage } from './organization.tsx';
import { ProjectsPage } from './projects.tsx';
import { CredentialsPage } from './credentials.tsx';
import { UsagePage } from './usage.tsx';
import { AuditPage } from './audit.tsx';
import { OperatorPage } from './operator.tsx';

export interface PageProps {
  session: Session;
  perms: Permissions;
  /** The full route: path (e.g. `/projects/proj_…/keys`) and query parameters. */
  route: Route;
}

export interface PageDef {
  path: string;
  label: string;
  /** Who sees it in the navigation: members of an organization, or the operator. */
  for: 'member' | 'operator';
  component: (props: PageProps) => JSX.Element;
}

export const PAGES: PageDef[] = [
  { path: '/organization', label: 'Organization', for: 'member', component: OrganizationPage },
  { path: '/projects', label: 'Projects', for: 'member', component: ProjectsPage },
  { path: '/credentials', label: 'Credentials', for: 'member', component: CredentialsPage },
  { path: '/usage', label: 'Usage', for: 'member', component: UsagePage },
  { path: '/audit', label: 'Audit log', for: 'member', component: AuditPage },
  { path: '/operator', label: 'Operator', for: 'operator', component: OperatorPage },
];

/** The page owning `path` (its own path or one under it). */
export const pageFor = (path: string): PageDef | undefined => PAGES.find((p) => path === p.path || path.startsWith(p.path + '/'));
