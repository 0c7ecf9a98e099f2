// Groups (/v1/organization/groups, `next` cursors): owners create, rename and delete groups; a
// group's page lists its users (/groups/:id/users) — owners add a member by email and remove users
// — and the organization roles assigned to the group.
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { request } from '../../api.ts';
import { Field } from '../../Field.tsx';
import { go } from '../../route.ts';
import { ConfirmButton, ErrorNote, Pager, usePager, useLoad, when } from '../../ui.tsx';
import { errorsOf, nextPage, qs, RoleAssignments, type CursorList, type Errors, type Group, type GroupUser, type NextList, type OrgUser } from './common.tsx';

export function Groups(props: { canWrite: boolean }): JSX.Element {
  const list = usePager((after) => request<NextList<Group>>('GET', `/v1/organization/groups${qs({ limit: 20, after })}`).then(nextPage), []);
  const [name, setName] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const create = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return setErrors({ name: 'Enter a name for the group.' });
    setBusy(true);
    setErrors({});
    try {
      const g = await request<Group>('POST', '/v1/organization/groups', { name: name.trim() });
      setName('');
      go(`/organization/groups/${g.id}`);
    } catch (err) {
      setErrors(errorsOf(err, ['name']));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div id="org-groups">
      {props.canWrite && (
        <form class="panel" id="org-group-form" onSubmit={create} noValidate>
          <h2>New group</h2>
          <div class="inline-form">
            <Field id="org-group-name" label="Name" value={name} onInput={setName} error={errors.name} autoComplete="off" />
            <button type="submit" class="primary" id="org-group-create" disabled={busy}>{busy ? 'Creating…' : 'Create group'}</button>
          </div>
          <ErrorNote id="org-group-form-error" error={errors.form} />
        </form>
      )}
      <ErrorNote id="org-groups-error" error={list.error} />
      {list.loading && !list.data ? (
        <p class="muted">Loading…</p>
      ) : list.items.length === 0 ? (
        <p class="muted" id="org-groups-empty">No groups yet.</p>
      ) : (
        <div class="table-wrap">
          <table id="org-groups-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Created</th>
                {props.canWrite && <th><span class="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {list.items.map((g) => (
                <tr key={g.id} data-group-id={g.id}>
                  <td><a href={`#/organization/groups/${g.id}`}>{g.name}</a>{g.is_scim_managed && <span class="badge">SCIM</span>}</td>
                  <td>{when(g.created_at)}</td>
                  {props.canWrite && (
                    <td>
                      <ConfirmButton
                        id={`org-group-delete-${g.id}`}
                        label="Delete"
                        question={`Delete the group ${g.name}? Its members lose the roles given through it.`}
                        onConfirm={async () => {
                          await request('DELETE', `/v1/organization/groups/${g.id}`);
                          list.reload();
                        }}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="org-groups-pager" page={list.page} hasPrev={list.hasPrev} hasNext={list.hasNext} prev={list.prev} next={list.next} />
    </div>
  );
}

export function GroupDetail(props: { groupId: string; canWrite: boolean }): JSX.Element {
  const gid = encodeURIComponent(props.groupId);
  const g = useLoad(() => request<Group>('GET', `/v1/organization/groups/${gid}`), [gid]);
  return (
    <div id="org-group">
      <p><a href="#/organization/groups">← All groups</a></p>
      <ErrorNote id="org-group-error" error={g.error} />
      {g.data && (
        <>
          <h2 id="org-group-title">{g.data.name}</h2>
          {props.canWrite && <RenameGroup group={g.data} onRenamed={g.reload} />}
          <GroupUsers groupId={g.data.id} groupName={g.data.name} canWrite={props.canWrite} />
          <RoleAssignments base={`/v1/organization/groups/${g.data.id}/roles`} idPrefix="org-group" canWrite={props.canWrite} who={`the group ${g.data.name}`} />
        </>
      )}
    </div>
  );
}

function RenameGroup(props: { group: Group; onRenamed: () => void }): JSX.Element {
  const [name, setName] = useState(props.group.name);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const save = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return setErrors({ name: 'Enter a name for the group.' });
    setBusy(true);
    setErrors({});
    try {
      await request('POST', `/v1/organization/groups/${props.group.id}`, { name: name.trim() });
      props.onRenamed();
    } catch (err) {
      setErrors(errorsOf(err, ['name']));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="inline-form" id="org-group-rename-form" onSubmit={save} noValidate>
      <Field id="org-group-rename" label="Group name" value={name} onInput={setName} error={errors.name} autoComplete="off" />
      <button type="submit" class="primary" id="org-group-rename-save" disabled={busy || name.trim() === props.group.name}>Rename</button>
      <ErrorNote id="org-group-rename-error" error={errors.form} />
    </form>
  );
}

function GroupUsers(props: { groupId: string; groupName: string; canWrite: boolean }): JSX.Element {
  const base = `/v1/organization/groups/${props.groupId}/users`;
  const list = usePager((after) => request<NextList<GroupUser>>('GET', `${base}${qs({ limit: 20, after })}`).then(nextPage), [base]);
  const [email, setEmail] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const add = async (e: Event) => {
    e.preventDefault();
    const t = email.trim();
    if (!t) return setErrors({ email: 'Enter the email of a member of the organization.' });
    setBusy(true);
    setErrors({});
    try {
      // the member by email (one lookup, not the whole member list)
      const found = await request<CursorList<OrgUser>>('GET', `/v1/organization/users${qs({ 'emails[]': t, limit: 1 })}`);
      const user = found.data[0];
      if (!user) {
        setErrors({ email: `No member of this organization has the email ${t}. Invite them first.` });
        return;
      }
      await request('POST', base, { user_id: user.id });
      setEmail('');
      list.reload();
    } catch (err) {
      const found = errorsOf(err, ['user_id']);
      setErrors(found.user_id ? { email: found.user_id } : found);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="panel" id="org-group-users">
      <h2>Users</h2>
      <ErrorNote id="org-group-users-error" error={list.error} />
      {list.loading && !list.data ? (
        <p class="muted">Loading…</p>
      ) : list.items.length === 0 ? (
        <p class="muted" id="org-group-users-empty">No users in this group.</p>
      ) : (
        <div class="table-wrap">
          <table id="org-group-users-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Email</th>
                {props.canWrite && <th><span class="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {list.items.map((u) => (
                <tr key={u.id} data-user-id={u.id} data-email={u.email}>
                  <td><a href={`#/organization/members/${u.id}`}>{u.name || u.email}</a></td>
                  <td>{u.email}</td>
                  {props.canWrite && (
                    <td>
                      <ConfirmButton
                        id={`org-group-remove-${u.id}`}
                        label="Remove"
                        question={`Remove ${u.email} from the group ${props.groupName}?`}
                        onConfirm={async () => {
                          await request('DELETE', `${base}/${u.id}`);
                          list.reload();
                        }}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="org-group-users-pager" page={list.page} hasPrev={list.hasPrev} hasNext={list.hasNext} prev={list.prev} next={list.next} />
      {props.canWrite && (
        <form class="inline-form" id="org-group-add-form" onSubmit={add} noValidate>
          <Field id="org-group-add-email" label="Add a member by email" type="email" value={email} onInput={setEmail} error={errors.email} autoComplete="off" />
          <button type="submit" class="primary" id="org-group-add" disabled={busy}>{busy ? 'Adding…' : 'Add to group'}</button>
          <ErrorNote id="org-group-add-error" error={errors.form} />
        </form>
      )}
    </div>
  );
}
