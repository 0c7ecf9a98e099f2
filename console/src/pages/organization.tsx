// The Organization page: members (/organization, /organization/members[/<user_id>]), invitations
// (/organization/invites), groups (/organization/groups[/<group_id>]) and roles (/organization/roles),
// all through the OpenAI admin API with the console session. Owners (perms.org_write) see the
// create/change/delete controls; readers see the lists. The server refuses the rest anyway.
import type { JSX } from 'preact';
import type { PageProps } from './index.ts';
import { Page } from '../ui.tsx';
import { Members, MemberDetail } from './organization/members.tsx';
import { Invites } from './organization/invites.tsx';
import { Groups, GroupDetail } from './organization/groups.tsx';
import { Roles } from './organization/roles.tsx';

const TABS = [
  { key: 'members', label: 'Members' },
  { key: 'invites', label: 'Invites' },
  { key: 'groups', label: 'Groups' },
  { key: 'roles', label: 'Roles' },
] as const;
type Tab = (typeof TABS)[number]['key'];

export function OrganizationPage(props: PageProps): JSX.Element {
  const parts = props.route.path.split('/').filter(Boolean); // ['organization', tab?, id?]
  const tab: Tab = (TABS.find((t) => t.key === parts[1])?.key ?? 'members') as Tab;
  const id = parts[2] ? decodeURIComponent(parts[2]) : undefined;
  const canWrite = props.perms.org_write;
  let body: JSX.Element;
  if (tab === 'members') body = id ? <MemberDetail userId={id} canWrite={canWrite} /> : <Members canWrite={canWrite} selfId={props.session.user?.id} />;
  else if (tab === 'invites') body = <Invites canWrite={canWrite} />;
  else if (tab === 'groups') body = id ? <GroupDetail groupId={id} canWrite={canWrite} /> : <Groups canWrite={canWrite} />;
  else body = <Roles canWrite={canWrite} />;
  return (
    <Page title="Organization" actions={!canWrite ? <span class="badge" id="org-read-only">read-only</span> : undefined}>
      <nav class="subnav" aria-label="Organization">
        {TABS.map((t) => (
          <a key={t.key} id={`org-tab-${t.key}`} href={`#/organization/${t.key}`} aria-current={tab === t.key ? 'page' : undefined}>{t.label}</a>
        ))}
      </nav>
      {body}
    </Page>
  );
}
