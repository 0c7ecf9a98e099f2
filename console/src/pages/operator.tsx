// The operator's view (signed in with the root key): organizations, their admin keys and free
// trials, the platform's default provider credentials, and this node's health. Everything goes
// through the platform face (/platform/v1/…), which refuses anyone but the operator.
import type { JSX } from 'preact';
import type { PageProps } from './index.ts';
import { Page } from '../ui.tsx';
import { OrgList } from './operator/orgs.tsx';
import { OrgDetail } from './operator/org.tsx';
import { DefaultCredentials } from './operator/defaults.tsx';
import { NodeHealth } from './operator/health.tsx';

const TABS = [
  { path: '/operator', label: 'Organizations' },
  { path: '/operator/defaults', label: 'Default credentials' },
  { path: '/operator/health', label: 'Node health' },
];

export function OperatorPage(props: PageProps): JSX.Element {
  const path = props.route.path;
  if (!props.perms.operator) {
    return (
      <Page title="Operator">
        <p class="error" role="alert" id="operator-refused">Only the keyplane operator (signed in with the root key) may use this page.</p>
      </Page>
    );
  }
  const orgSlug = path.startsWith('/operator/orgs/') ? decodeURIComponent(path.slice('/operator/orgs/'.length)) : null;
  const tab = orgSlug !== null ? '/operator' : TABS.find((t) => t.path === path)?.path ?? '/operator';
  return (
    <Page title="Operator">
      <nav class="subnav" aria-label="Operator sections" id="operator-tabs">
        {TABS.map((t) => (
          <a key={t.path} href={'#' + t.path} id={`operator-tab-${t.path.split('/')[2] ?? 'orgs'}`} aria-current={tab === t.path ? 'page' : undefined}>{t.label}</a>
        ))}
      </nav>
      {orgSlug !== null ? <OrgDetail slug={orgSlug} /> : tab === '/operator/defaults' ? <DefaultCredentials /> : tab === '/operator/health' ? <NodeHealth /> : <OrgList />}
    </Page>
  );
}
