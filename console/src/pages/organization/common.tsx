// Shared pieces of the Organization page: the OpenAI admin API's wire shapes, its two list
// envelopes turned into keyset pages, field errors from an ApiError, a labelled select and textarea,
// and the role assignments of a user or a group.
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, errorText, request } from '../../api.ts';
import { ConfirmButton, ErrorNote, Pager, usePager, useLoad } from '../../ui.tsx';

export interface OrgUser { id: string; name: string; email: string; role: 'owner' | 'reader'; added_at: number }
export interface Invite { id: string; email: string; role: 'owner' | 'reader'; status: 'pending' | 'accepted' | 'expired'; created_at: number; expires_at: number; accepted_at: number | null }
export interface Group { id: string; name: string; created_at: number; is_scim_managed: boolean }
export interface GroupUser { id: string; name: string; email: string }
export interface Role { id: string; name: string; description: string | null; permissions: string[]; resource_type: string; predefined_role: boolean }

/** `CursorPage` (users, invites): the next page starts after `last_id` while `has_more`. */
export interface CursorList<T> { data: T[]; has_more: boolean; last_id: string | null }
/** `NextCursorPage` (groups, roles, assignments): `next` is the cursor. */
export interface NextList<T> { data: T[]; has_more: boolean; next: string | null }

export const cursorPage = <T,>(l: CursorList<T>) => ({ items: l.data, next: l.has_more ? l.last_id : null });
export const nextPage = <T,>(l: NextList<T>) => ({ items: l.data, next: l.has_more ? l.next : null });

/** A query string from the defined values (`?a=1&b=x`, or '' when none). */
export function qs(params: Record<string, string | number | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

export type Errors = Record<string, string | undefined>;

/** An error placed at the field it is about (`ApiError.param`), or at the form (`form`). */
export function errorsOf(e: unknown, fields: string[]): Errors {
  if (e instanceof ApiError && e.param) {
    const p = e.param;
    const f = fields.find((name) => p === name || p.startsWith(`${name}.`) || p.startsWith(`${name}[`));
    if (f) return { [f]: e.message };
  }
  return { form: errorText(e) };
}

/** A labelled select with its error under it. */
export function SelectField(props: { id: string; label: string; value: string; onChange: (v: string) => void; options: Array<{ value: string; label: string }>; error?: string | undefined; disabled?: boolean }): JSX.Element {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <select
        id={props.id}
        name={props.id}
        value={props.value}
        disabled={props.disabled}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={props.error ? `${props.id}-error` : undefined}
        onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}
      >
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>{o.label}</option>
        ))}
      </select>
      {props.error && <p class="error" id={`${props.id}-error`} role="alert">{props.error}</p>}
    </div>
  );
}

export { TextAreaField } from '../../Field.tsx';

export const ORG_ROLE_OPTIONS = [
  { value: 'reader', label: 'Reader' },
  { value: 'owner', label: 'Owner' },
];

/**
 * The organization roles assigned to a user or a group (`base`: `/v1/organization/users/<id>/roles`
 * or `/v1/organization/groups/<id>/roles`): a keyset-paged list, and for owners an assign form and
 * an unassign button (with confirmation) per role.
 */
export function RoleAssignments(props: { base: string; idPrefix: string; canWrite: boolean; who: string }): JSX.Element {
  const { base, idPrefix } = props;
  const list = usePager((after) => request<NextList<Role>>('GET', `${base}${qs({ limit: 20, after })}`).then(nextPage), [base]);
  // the roles to choose from: the first 100 organization roles (organizations have a handful)
  const roles = useLoad(() => (props.canWrite ? request<NextList<Role>>('GET', '/v1/organization/roles?limit=100').then((l) => l.data) : Promise.resolve([])), [props.canWrite]);
  const [roleId, setRoleId] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const assigned = new Set(list.items.map((r) => r.id));
  const choices = (roles.data ?? []).filter((r) => !assigned.has(r.id));
  const assign = async (e: Event) => {
    e.preventDefault();
    const chosen = roleId;
    if (!chosen) return setErrors({ role_id: 'Choose a role to assign.' });
    setBusy(true);
    setErrors({});
    try {
      await request('POST', base, { role_id: chosen });
      setRoleId('');
      list.reload();
    } catch (err) {
      setErrors(errorsOf(err, ['role_id']));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="panel" id={`${idPrefix}-roles`}>
      <h2>Assigned roles</h2>
      <ErrorNote id={`${idPrefix}-roles-error`} error={list.error} />
      {list.loading && !list.data ? (
        <p class="muted">Loading…</p>
      ) : list.items.length === 0 ? (
        <p class="muted" id={`${idPrefix}-roles-empty`}>No organization role is assigned to {props.who}.</p>
      ) : (
        <div class="table-wrap">
          <table id={`${idPrefix}-roles-table`}>
            <thead>
              <tr>
                <th>Role</th>
                <th>Permissions</th>
                {props.canWrite && <th><span class="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {list.items.map((r) => (
                <tr key={r.id} data-role-id={r.id}>
                  <td>{r.name} {r.predefined_role && <span class="badge">predefined</span>}</td>
                  <td><Permissions list={r.permissions} /></td>
                  {props.canWrite && (
                    <td>
                      <ConfirmButton
                        id={`${idPrefix}-unassign-${r.id}`}
                        label="Unassign"
                        question={`Unassign the role ${r.name} from ${props.who}?`}
                        onConfirm={async () => {
                          await request('DELETE', `${base}/${r.id}`);
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
      <Pager id={`${idPrefix}-roles-pager`} page={list.page} hasPrev={list.hasPrev} hasNext={list.hasNext} prev={list.prev} next={list.next} />
      {props.canWrite && (
        <form class="inline-form" id={`${idPrefix}-assign-form`} onSubmit={assign} noValidate>
          <SelectField
            id={`${idPrefix}-assign-role`}
            label="Assign a role"
            value={roleId}
            onChange={setRoleId}
            options={[{ value: '', label: choices.length ? 'Choose a role…' : 'No other role to assign' }, ...choices.map((r) => ({ value: r.id, label: r.predefined_role ? `${r.name} (predefined)` : r.name }))]}
            error={errors.role_id ?? roles.error}
          />
          <button type="submit" class="primary" id={`${idPrefix}-assign`} disabled={busy || !choices.length}>{busy ? 'Assigning…' : 'Assign'}</button>
          <ErrorNote id={`${idPrefix}-assign-error`} error={errors.form} />
        </form>
      )}
    </div>
  );
}

export function Permissions(props: { list: string[] }): JSX.Element {
  if (!props.list.length) return <span class="muted">none</span>;
  return (
    <span class="perm-list">
      {props.list.map((p) => (
        <code key={p} class="perm">{p}</code>
      ))}
    </span>
  );
}
