import type { JSX } from 'preact';
import { api, type Session } from './api.ts';
import type { Route } from './route.ts';
import { Sparkline } from './Sparkline.tsx';
import { PAGES, pageFor } from './pages/index.ts';
import { ErrorNote, useLoad } from './ui.tsx';

// sample figures for the placeholder chart: 14 days, clearly labelled as sample data
const DAY = 86_400;
const SAMPLE_X = Array.from({ length: 14 }, (_, i) => 1_767_225_600 + i * DAY);
const SAMPLE_Y = [120, 180, 150, 210, 260, 240, 300, 280, 320, 310, 360, 400, 380, 430];

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
        {Component ? perms.data ? <Component session={session} perms={perms.data} route={route} /> : <p class="loading">Loading…</p> : <Home session={session} />}
      </main>
    </div>
  );
}

function Home(props: { session: Session }): JSX.Element {
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
      <figure class="chart">
        <figcaption>Requests per day — <strong>sample data</strong>, not your usage (the Usage page is coming soon)</figcaption>
        <Sparkline label="Sample requests per day" x={SAMPLE_X} y={SAMPLE_Y} />
      </figure>
    </section>
  );
}
