// A project's members: keyset-paged list; owners add organization members (by user id or email),
// change their role and remove them (their keys in the project go with them).
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { request } from '../../api.ts';
import { Field } from '../../Field.tsx';
import { ConfirmButton, ErrorNote, Pager, usePager, when } from '../../ui.tsx';
import { fetchPage, projectUrl, type ProjectUser, SelectField, useSubmit } from './common.tsx';
import type { ViewProps } from './detail.tsx';

const ROLES: Array<[string, string]> = [
  ['member', 'Member'],
  ['owner', 'Owner'],
];

export function MembersView(props: ViewProps): JSX.Element {
  const { project, canWrite } = props;
  const [tick, setTick] = useState(0);
  const pager = usePager<ProjectUser>((after) => fetchPage<ProjectUser>(projectUrl(project.id, '/users'), after), [project.id, tick]);
  return (
    <section class="panel" aria-labelledby="project-members-title">
      <h2 id="project-members-title">Members</h2>
      {canWrite && <AddMember projectId={project.id} onAdded={() => setTick((t) => t + 1)} />}
      <ErrorNote id="project-members-error" error={pager.error} />
      {pager.loading && !pager.data ? (
        <p class="muted">Loading…</p>
      ) : pager.items.length === 0 && !pager.error ? (
        <p class="muted" id="project-members-empty">No members yet.</p>
      ) : (
        <div class="table-wrap">
          <table id="project-members-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Email</th>
                <th>Role</th>
                <th>Added</th>
                <th><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {pager.items.map((u) => (
                <MemberRow key={u.id} projectId={project.id} u={u} canWrite={canWrite} onChanged={pager.reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="project-members-pager" {...pager} />
    </section>
  );
}

function MemberRow(props: { projectId: string; u: ProjectUser; canWrite: boolean; onChanged: () => void }): JSX.Element {
  const { u } = props;
  const form = useSubmit(['role']);
  const url = projectUrl(props.projectId, `/users/${encodeURIComponent(u.id)}`);
  const known = ROLES.some(([r]) => r === u.role);
  return (
    <tr data-user-id={u.id}>
      <td>{u.name || '—'}</td>
      <td>{u.email}</td>
      <td>
        {props.canWrite ? (
          <SelectField
            id={`project-member-role-${u.id}`}
            label={`Role of ${u.email}`}
            value={u.role}
            options={known ? ROLES : [[u.role, u.role], ...ROLES]}
            hideLabel
            onChange={(role) => void form.run(() => request('POST', url, { role })).then((ok) => ok && props.onChanged())}
            error={form.errors['role'] ?? form.formError}
          />
        ) : (
          u.role
        )}
      </td>
      <td>{when(u.added_at)}</td>
      <td class="actions">
        {props.canWrite && (
          <ConfirmButton id={`project-member-remove-${u.id}`} label="Remove" question={`Remove ${u.email} from the project? Their keys in it are deleted.`} onConfirm={async () => (await request('DELETE', url), props.onChanged())} />
        )}
      </td>
    </tr>
  );
}

function AddMember(props: { projectId: string; onAdded: () => void }): JSX.Element {
  const [who, setWho] = useState('');
  const [role, setRole] = useState('member');
  const form = useSubmit(['user_id', 'email', 'role']);
  const submit = async (e: Event) => {
    e.preventDefault();
    const v = who.trim();
    if (!v) return form.setErrors({ user_id: 'Enter the email address or user id of a member of the organization.' });
    const body = v.includes('@') ? { email: v, role } : { user_id: v, role };
    if (await form.run(() => request('POST', projectUrl(props.projectId, '/users'), body))) {
      setWho('');
      props.onAdded();
    }
  };
  return (
    <form class="inline-form" id="project-member-add-form" onSubmit={submit} noValidate>
      <Field id="project-member-add-user" label="Email or user id" hint="A member of the organization" value={who} onInput={setWho} error={form.errors['user_id'] ?? form.errors['email']} />
      <SelectField id="project-member-add-role" label="Role" hint="Members use the project and their own keys; owners manage it" value={role} options={ROLES} onChange={setRole} error={form.errors['role']} />
      <button type="submit" class="primary" id="project-member-add" disabled={form.busy}>Add member</button>
      <ErrorNote id="project-member-add-error" error={form.formError} />
    </form>
  );
}
