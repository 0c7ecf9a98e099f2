// Members of the organization (/v1/organization/users): a keyset-paged list; owners change a
// member's role (owner/reader) and remove members (with confirmation). A member's page shows the
// organization roles assigned to them.
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { errorText, request } from '../../api.ts';
import { ConfirmButton, ErrorNote, Pager, usePager, useLoad, when } from '../../ui.tsx';
import { cursorPage, qs, RoleAssignments, type CursorList, type OrgUser } from './common.tsx';

export function Members(props: { canWrite: boolean; selfId: string | undefined }): JSX.Element {
  const list = usePager((after) => request<CursorList<OrgUser>>('GET', `/v1/organization/users${qs({ limit: 20, after })}`).then(cursorPage), []);
  return (
    <div id="org-members">
      <ErrorNote id="org-members-error" error={list.error} />
      {list.loading && !list.data ? (
        <p class="muted">Loading…</p>
      ) : (
        <div class="table-wrap">
          <table id="org-members-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Email</th>
                <th>Role</th>
                <th class="hide-narrow">Added</th>
                {props.canWrite && <th><span class="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {list.items.map((m) => (
                <MemberRow key={m.id} m={m} canWrite={props.canWrite} self={m.id === props.selfId} onChanged={list.reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="org-members-pager" page={list.page} hasPrev={list.hasPrev} hasNext={list.hasNext} prev={list.prev} next={list.next} />
      {props.canWrite && <p class="hint">To add someone, invite them (Invites) and send them a sign-up link.</p>}
    </div>
  );
}

function MemberRow(props: { m: OrgUser; canWrite: boolean; self: boolean; onChanged: () => void }): JSX.Element {
  const { m } = props;
  const [role, setRole] = useState(m.role);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const change = async (next: string) => {
    const previous = role;
    setRole(next as OrgUser['role']);
    setError(undefined);
    setBusy(true);
    try {
      const u = await request<OrgUser>('POST', `/v1/organization/users/${m.id}`, { role: next });
      setRole(u.role);
    } catch (e) {
      setRole(previous);
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-user-id={m.id} data-email={m.email}>
      <td><a href={`#/organization/members/${m.id}`}>{m.name || m.email}</a>{props.self && <span class="badge">you</span>}</td>
      <td>{m.email}</td>
      <td>
        {props.canWrite ? (
          <>
            <select id={`org-member-role-${m.id}`} aria-label={`Role of ${m.email}`} value={role} disabled={busy} onChange={(e) => change((e.currentTarget as HTMLSelectElement).value)}>
              <option value="reader">Reader</option>
              <option value="owner">Owner</option>
            </select>
            {error && <p class="error" role="alert" id={`org-member-role-${m.id}-error`}>{error}</p>}
          </>
        ) : (
          <span class="member-role">{role}</span>
        )}
      </td>
      <td class="hide-narrow">{when(m.added_at)}</td>
      {props.canWrite && (
        <td>
          <ConfirmButton
            id={`org-member-remove-${m.id}`}
            label="Remove"
            question={props.self ? 'Remove yourself from this organization? You will lose access to it.' : `Remove ${m.email} from the organization? Their keys in it are revoked.`}
            onConfirm={async () => {
              await request('DELETE', `/v1/organization/users/${m.id}`);
              props.onChanged();
            }}
          />
        </td>
      )}
    </tr>
  );
}

export function MemberDetail(props: { userId: string; canWrite: boolean }): JSX.Element {
  const m = useLoad(() => request<OrgUser>('GET', `/v1/organization/users/${encodeURIComponent(props.userId)}`), [props.userId]);
  return (
    <div id="org-member">
      <p><a href="#/organization/members">← All members</a></p>
      <ErrorNote id="org-member-error" error={m.error} />
      {m.data && (
        <>
          <h2 id="org-member-name">{m.data.name || m.data.email}</h2>
          <dl class="facts">
            <dt>Email</dt>
            <dd>{m.data.email}</dd>
            <dt>Organization role</dt>
            <dd>{m.data.role}</dd>
            <dt>Member since</dt>
            <dd>{when(m.data.added_at)}</dd>
            <dt>User id</dt>
            <dd><code>{m.data.id}</code></dd>
          </dl>
          <RoleAssignments base={`/v1/organization/users/${m.data.id}/roles`} idPrefix="org-member" canWrite={props.canWrite} who={m.data.email} />
        </>
      )}
    </div>
  );
}
