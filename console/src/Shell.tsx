import type { JSX } from 'preact';
import { api, type Session } from './api.ts';
import type { Route } from './route.ts';
import { HomeUsage } from './pages/usage/HomeUsage.tsx';
import { PAGES, pageFor } from './pages/index.ts';
import { ErrorNote, useLoad } from './ui.tsx';

export function Shell(props: { session: Session; route: Route; onSignOut: () => void; signOutError?: string | undefined }): JSX.Element {
  const { session, route } = props;
  const path = route.path;
  const orgName = session.org?.name ?? (session.operator ? 'Operator' : 'No organization');
  const perms = useLoad(() => api.permissions(), [session.org?.id, session.operator]);
  const nav = PAGES.filter((p) => (session.operator ? p.for === 'operator' : p.for === 'member'));
  const page = pageFor(path);
  const Component = page && nav.includes(page) ? page.component : undefined;
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/">keyplane</a>
        <span class="org-name" id="org-name">{orgName}</span>
        <span class="who">{session.user?.email ?? (session.operator ? 'root key' : '')}</span>
        <button type="button" id="sign-out" onClick={props.onSignOut}>Sign out</button>
        {props.signOutError && <p class="error" role="alert" id="sign-out-error">{props.signOutError}</p>}
      </header>
      <nav aria-label="Sections">
        <ul>
          {nav.map((n) => (
            <li key={n.path}>
              <a href={'#' + n.path} aria-current={page === n ? 'page' : undefined}>{n.label}</a>
            </li>
          ))}
        </ul>
      </nav>
      <main class="content" id="content">
        {perms.error && <ErrorNote id="permissions-error" error={perms.error} />}
        {Component ? perms.data ? <Component session={session} perms={perms.data} route={route} /> : <p class="loading">Loading…</p> : <Home session={session} canReadUsage={!!perms.data?.org_read} />}
      </main>
    </div>
  );
}

function Home(props: { session: Session; canReadUsage: boolean }): JSX.Element {
  const { user, org, orgs, operator } = props.session;
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Signed in</h1>
      <dl class="facts" id="whoami">
        {user && (
          <>
            <dt>Name</dt>
            <dd>{user.name}</dd>
            <dt>Email</dt>
            <dd>{user.email}</dd>
          </>
        )}
        {operator && (
          <>
            <dt>Signed in as</dt>
            <dd>Operator (root key)</dd>
          </>
        )}
        {org && (
          <>
            <dt>Organization</dt>
            <dd>
              {org.name} <span class="muted">({org.slug})</span>
            </dd>
            <dt>Your role</dt>
            <dd>{org.role}</dd>
          </>
        )}
        {orgs.length > 1 && (
          <>
            <dt>Your organizations</dt>
            <dd>{orgs.map((o) => o.name).join(', ')}</dd>
          </>
        )}
      </dl>
      {org && props.canReadUsage && <HomeUsage />}
    </section>
  );
}
