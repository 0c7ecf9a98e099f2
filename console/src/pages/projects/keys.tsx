// A project's API keys: keyset-paged (a million keys page as fast as ten), a new key for a project
// member (its secret shown once), expiry, revoke. Owners manage every key; a `member` their own.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { request } from '../../api.ts';
import { Field } from '../../Field.tsx';
import { ConfirmButton, ErrorNote, Pager, SecretOnce, useLoad, usePager, when } from '../../ui.tsx';
import { fetchPage, type List, NumberField, type ProjectKey, projectUrl, type ProjectUser, SelectField, useSubmit, wholeNumber } from './common.tsx';
import type { ViewProps } from './detail.tsx';

const DAY = 86_400;

export function KeysView(props: ViewProps): JSX.Element {
  const { project, level, session } = props;
  const me = session.user?.id ?? '';
  const active = project.status === 'active';
  const [access, setAccess] = useState<'active' | 'inactive'>('active');
  const [tick, setTick] = useState(0);
  const [secret, setSecret] = useState<{ name: string; value: string }>();
  const pager = usePager<ProjectKey>((after) => fetchPage<ProjectKey>(projectUrl(project.id, `/api_keys?owner_project_access=${access}`), after), [project.id, access, tick]);
  const canCreate = active && (level === 'write' || level === 'member');
  const canManage = (k: ProjectKey) => active && (level === 'write' || (level === 'member' && k.owner.type === 'user' && k.owner.user?.id === me));
  return (
    <section class="panel" aria-labelledby="project-keys-title">
      <h2 id="project-keys-title">API keys</h2>
      {secret && (
        <>
          <p>New key <strong>{secret.name}</strong>:</p>
          <SecretOnce id="project-key-secret" secret={secret.value} onDone={() => setSecret(undefined)} />
        </>
      )}
      {canCreate && (
        <CreateKey
          {...props}
          onCreated={(k) => {
            setSecret({ name: k.name, value: k.value });
            setAccess('active');
            setTick((t) => t + 1);
          }}
        />
      )}
      <div class="toolbar">
        <SelectField id="project-keys-access" label="Show" value={access} options={[['active', 'Active keys'], ['inactive', 'Inactive keys']]} onChange={(v) => setAccess(v as 'active' | 'inactive')} />
      </div>
      <ErrorNote id="project-keys-error" error={pager.error} />
      {pager.loading && !pager.data ? (
        <p class="muted">Loading…</p>
      ) : pager.items.length === 0 && !pager.error ? (
        <p class="muted" id="project-keys-empty">No keys.</p>
      ) : (
        <div class="table-wrap">
          <table id="project-keys-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Key</th>
                <th>Owner</th>
                <th>Created</th>
                <th>Last used</th>
                <th>Expires</th>
                <th><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {pager.items.map((k) => (
                <KeyRow key={k.id} projectId={project.id} k={k} canManage={canManage(k)} onChanged={pager.reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="project-keys-pager" {...pager} />
    </section>
  );
}

function ownerText(k: ProjectKey): string {
  if (k.owner.user) return `${k.owner.user.name || k.owner.user.email} (${k.owner.user.email})`;
  if (k.owner.service_account) return `${k.owner.service_account.name} (service account)`;
  return '—';
}

function KeyRow(props: { projectId: string; k: ProjectKey; canManage: boolean; onChanged: () => void }): JSX.Element {
  const { k } = props;
  const [editing, setEditing] = useState(false);
  const [days, setDays] = useState('30');
  const form = useSubmit(['expires_in_seconds']);
  const save = async (e: Event) => {
    e.preventDefault();
    const n = wholeNumber(days);
    if (n === undefined || n > 3650) return form.setErrors({ expires_in_seconds: 'Enter a whole number of days from 1 to 3650.' });
    if (await form.run(() => request('POST', projectUrl(props.projectId, `/api_keys/${encodeURIComponent(k.id)}`), { expires_in_seconds: n * DAY }))) {
      setEditing(false);
      props.onChanged();
    }
  };
  return (
    <tr data-key-id={k.id}>
      <td>{k.name}</td>
      <td class="mono redacted">{k.redacted_value}</td>
      <td>{ownerText(k)}</td>
      <td>{when(k.created_at)}</td>
      <td>{k.last_used_at ? when(k.last_used_at) : 'Never'}</td>
      <td>{k.expires_at ? when(k.expires_at) : 'Never'}</td>
      <td class="actions">
        {props.canManage && (
          <>
            {editing ? (
              <form class="inline-form" onSubmit={save} noValidate>
                <NumberField id={`project-key-expiry-${k.id}`} label="Expires in (days)" value={days} onInput={setDays} error={form.errors['expires_in_seconds']} />
                <button type="submit" class="small" id={`project-key-expiry-save-${k.id}`} disabled={form.busy}>Set expiry</button>
                <button type="button" class="small" onClick={() => setEditing(false)}>Cancel</button>
                <ErrorNote error={form.formError} />
              </form>
            ) : (
              <button type="button" class="small" id={`project-key-expiry-open-${k.id}`} onClick={() => setEditing(true)}>Set expiry</button>
            )}
            <ConfirmButton id={`project-key-revoke-${k.id}`} label="Revoke" question={`Revoke ${k.name} (${k.redacted_value})? Requests using it will be refused.`} onConfirm={async () => (await request('DELETE', projectUrl(props.projectId, `/api_keys/${encodeURIComponent(k.id)}`)), props.onChanged())} />
          </>
        )}
      </td>
    </tr>
  );
}

function CreateKey(props: ViewProps & { onCreated: (k: ProjectKey & { value: string }) => void }): JSX.Element {
  const { project, level, session } = props;
  const me = session.user?.id ?? '';
  const owner = level === 'write';
  // an owner picks the key's owner among the project's members (the first 100; or types a user id)
  const users = useLoad(() => (owner ? request<List<ProjectUser>>('GET', projectUrl(project.id, '/users?limit=100')) : Promise.resolve(null)), [project.id, owner]);
  const [name, setName] = useState('');
  const [userId, setUserId] = useState('');
  const [days, setDays] = useState('');
  const form = useSubmit(['name', 'user_id', 'expires_in_seconds']);
  const members = users.data?.data ?? [];
  const [typedId, setTypedId] = useState('');
  const more = !!users.data?.has_more; // over 100 members: the list shows the first ones, an id reaches the rest
  const chosen = owner ? (more && typedId.trim()) || userId || members.find((u) => u.id === me)?.id || members[0]?.id || '' : me;
  const submit = async (e: Event) => {
    e.preventDefault();
    const errors: Record<string, string> = {};
    if (!chosen) errors['user_id'] = 'Choose the member who owns the key (add them under Members first).';
    const n = days.trim() ? wholeNumber(days) : null;
    if (n === undefined || (n !== null && n > 3650)) errors['expires_in_seconds'] = 'Enter a whole number of days from 1 to 3650, or leave it empty.';
    if (Object.keys(errors).length) return form.setErrors(errors);
    let created: (ProjectKey & { value: string }) | undefined;
    const body = { user_id: chosen, ...(name.trim() ? { name: name.trim() } : {}), ...(n ? { expires_in_seconds: n * DAY } : {}) };
    if (await form.run(async () => (created = await request<ProjectKey & { value: string }>('POST', projectUrl(project.id, '/api_keys'), body)))) {
      setName('');
      setDays('');
      props.onCreated(created!);
    }
  };
  return (
    <form class="inline-form" id="project-key-create-form" onSubmit={submit} noValidate>
      <Field id="project-key-name" label="Key name" value={name} onInput={setName} error={form.errors['name']} hint="Optional" />
      {owner ? (
        <SelectField
          id="project-key-owner"
          label="Owner"
          value={chosen}
          options={members.length ? members.map((u) => [u.id, `${u.name || u.email} (${u.role})`]) : [['', 'No members yet']]}
          onChange={setUserId}
          error={form.errors['user_id'] ?? users.error}
        />
      ) : (
        form.errors['user_id'] && <ErrorNote id="project-key-owner-error" error={form.errors['user_id']} />
      )}
      {owner && more && <Field id="project-key-owner-id" label="Or a member's user id" hint="For members not in the list" value={typedId} onInput={setTypedId} />}
      <NumberField id="project-key-expiry-days" label="Expires in (days)" hint="Empty: never" value={days} onInput={setDays} error={form.errors['expires_in_seconds']} />
      <button type="submit" class="primary" id="project-key-create" disabled={form.busy}>{owner ? 'Create key' : 'Create a key for me'}</button>
      <ErrorNote id="project-key-create-error" error={form.formError} />
    </form>
  );
}
