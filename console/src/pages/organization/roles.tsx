// Organization roles (/v1/organization/roles, `next` cursors): the predefined ones (owner, reader:
// fixed) and custom roles, which owners create (name, permissions, description), edit and delete
// (with confirmation). Roles are assigned on a member's or a group's page.
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { request } from '../../api.ts';
import { Field } from '../../Field.tsx';
import { ConfirmButton, ErrorNote, Pager, usePager } from '../../ui.tsx';
import { errorsOf, nextPage, Permissions, qs, TextAreaField, type Errors, type NextList, type Role } from './common.tsx';

const PERMISSIONS_HINT = 'One per line (or separated by commas), e.g. api.organization.read, api.organization.*, api.project.read.';
const parsePermissions = (text: string): string[] => [...new Set(text.split(/[\n,]+/).map((p) => p.trim()).filter(Boolean))];

interface RoleInput { name: string; permissions: string; description: string }

/** The role form, for a new role and for editing one. */
function RoleForm(props: { id: string; title: string; initial: RoleInput; submitLabel: string; onSubmit: (body: { role_name: string; permissions: string[]; description: string | null }) => Promise<void>; onCancel?: () => void }): JSX.Element {
  const [v, setV] = useState<RoleInput>(props.initial);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const set = (k: keyof RoleInput) => (value: string) => setV((old) => ({ ...old, [k]: value }));
  const submit = async (e: Event) => {
    e.preventDefault();
    const found: Errors = {};
    if (!v.name.trim()) found.role_name = 'Enter a name for the role.';
    const permissions = parsePermissions(v.permissions);
    if (!permissions.length) found.permissions = 'List at least one permission.';
    if (Object.keys(found).length) return setErrors(found);
    setBusy(true);
    setErrors({});
    try {
      await props.onSubmit({ role_name: v.name.trim(), permissions, description: v.description.trim() || null });
      setV(props.initial);
    } catch (err) {
      setErrors(errorsOf(err, ['role_name', 'permissions', 'description']));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel" id={props.id} onSubmit={submit} noValidate>
      <h2>{props.title}</h2>
      <Field id={`${props.id}-name`} label="Name" value={v.name} onInput={set('name')} error={errors.role_name} autoComplete="off" />
      <TextAreaField id={`${props.id}-permissions`} label="Permissions" hint={PERMISSIONS_HINT} value={v.permissions} onInput={set('permissions')} error={errors.permissions} />
      <TextAreaField id={`${props.id}-description`} label="Description (optional)" value={v.description} onInput={set('description')} error={errors.description} rows={2} />
      <ErrorNote id={`${props.id}-error`} error={errors.form} />
      <div class="form-buttons">
        <button type="submit" class="primary" id={`${props.id}-submit`} disabled={busy}>{busy ? 'Saving…' : props.submitLabel}</button>
        {props.onCancel && <button type="button" id={`${props.id}-cancel`} onClick={props.onCancel}>Cancel</button>}
      </div>
    </form>
  );
}

export function Roles(props: { canWrite: boolean }): JSX.Element {
  const list = usePager((after) => request<NextList<Role>>('GET', `/v1/organization/roles${qs({ limit: 20, after })}`).then(nextPage), []);
  const [editing, setEditing] = useState<string>();
  const [creating, setCreating] = useState(false);
  return (
    <div id="org-roles">
      {props.canWrite &&
        (creating ? (
          <RoleForm
            id="org-role-form"
            title="New role"
            submitLabel="Create role"
            initial={{ name: '', permissions: '', description: '' }}
            onSubmit={async (body) => {
              await request<Role>('POST', '/v1/organization/roles', body);
              setCreating(false);
              list.reload();
            }}
            onCancel={() => setCreating(false)}
          />
        ) : (
          <p>
            <button type="button" id="org-role-new" onClick={() => setCreating(true)}>New role</button>
          </p>
        ))}
      <ErrorNote id="org-roles-error" error={list.error} />
      {list.loading && !list.data ? (
        <p class="muted">Loading…</p>
      ) : (
        <div class="table-wrap">
          <table id="org-roles-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Description</th>
                <th>Permissions</th>
                {props.canWrite && <th><span class="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {list.items.map((r) =>
                editing === r.id ? (
                  <tr key={r.id} data-role-id={r.id}>
                    <td colSpan={props.canWrite ? 4 : 3}>
                      <RoleForm
                        id="org-role-edit"
                        title={`Edit ${r.name}`}
                        submitLabel="Save"
                        initial={{ name: r.name, permissions: r.permissions.join('\n'), description: r.description ?? '' }}
                        onSubmit={async (body) => {
                          await request<Role>('POST', `/v1/organization/roles/${r.id}`, body);
                          setEditing(undefined);
                          list.reload();
                        }}
                        onCancel={() => setEditing(undefined)}
                      />
                    </td>
                  </tr>
                ) : (
                  <tr key={r.id} data-role-id={r.id} data-role-name={r.name}>
                    <td>{r.name} {r.predefined_role && <span class="badge">predefined</span>}</td>
                    <td>{r.description ?? <span class="muted">—</span>}</td>
                    <td><Permissions list={r.permissions} /></td>
                    {props.canWrite && (
                      <td>
                        <div class="row-actions">
                          {!r.predefined_role && (
                            <>
                              <button type="button" id={`org-role-edit-${r.id}`} onClick={() => setEditing(r.id)}>Edit</button>
                              <ConfirmButton
                                id={`org-role-delete-${r.id}`}
                                label="Delete"
                                question={`Delete the role ${r.name}? Everyone it is assigned to loses it.`}
                                onConfirm={async () => {
                                  await request('DELETE', `/v1/organization/roles/${r.id}`);
                                  list.reload();
                                }}
                              />
                            </>
                          )}
                        </div>
                      </td>
                    )}
                  </tr>
                ),
              )}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="org-roles-pager" page={list.page} hasPrev={list.hasPrev} hasNext={list.hasNext} prev={list.prev} next={list.next} />
    </div>
  );
}
