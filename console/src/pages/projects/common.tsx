// Shared pieces of the Projects pages: wire types of the OpenAI admin API, the user's level in a
// project, a keyset page fetcher, field errors placed by the API's `param`, and small inputs.
import type { ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, errorText, request, type Permissions } from '../../api.ts';

export interface List<T> { object: 'list'; data: T[]; first_id: string | null; last_id: string | null; has_more: boolean }
export interface Project { id: string; object: 'organization.project'; name: string; created_at: number; archived_at: number | null; status: 'active' | 'archived' }
export interface ProjectUser { id: string; name: string; email: string; role: string; added_at: number }
export interface ServiceAccount { id: string; name: string; role: string; created_at: number }
export interface ProjectKey {
  id: string;
  name: string;
  redacted_value: string;
  created_at: number;
  last_used_at: number | null;
  expires_at: number | null;
  owner_project_access: 'active' | 'inactive';
  owner: { type?: 'user' | 'service_account'; user?: { id: string; name: string; email: string; role: string }; service_account?: { id: string; name: string; role: string } };
}

export type Level = 'write' | 'member' | 'read' | null;

/** The user's level in a project: org administrators write everywhere; otherwise their grant. */
export const levelOf = (perms: Permissions, projectId: string): Level => (perms.org_write ? 'write' : perms.projects[projectId] ?? null);

export const projectUrl = (id: string, rest = '') => `/v1/organization/projects/${encodeURIComponent(id)}${rest}`;

/** A keyset page of an OpenAI list: the next cursor is the last id while `has_more`. */
export async function fetchPage<T extends { id: string }>(url: string, after: string | null, limit = 20): Promise<{ items: T[]; next: string | null }> {
  const sep = url.includes('?') ? '&' : '?';
  const page = await request<List<T>>('GET', `${url}${sep}limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ''}`);
  return { items: page.data, next: page.has_more ? page.last_id : null };
}

/**
 * A form's submission state: `run(fn)` sets busy, and on failure puts the API's error next to the
 * field it names (`ApiError.param`, when that field is on the form) or under the form.
 */
export function useSubmit(fields: string[]) {
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string>();
  const run = async (fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setErrors({});
    setFormError(undefined);
    try {
      await fn();
      return true;
    } catch (e) {
      const param = e instanceof ApiError ? e.param ?? '' : '';
      const field = fields.find((f) => f === param || param.startsWith(f + '.') || param.startsWith(f + '['));
      if (field) setErrors({ [field]: errorText(e) });
      else setFormError(errorText(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, errors, formError, setErrors, setFormError, run };
}

/** A labelled control (input, select, textarea) with its error under it. */
export function Labelled(props: { id: string; label: string; error?: string | undefined; hint?: string; hideLabel?: boolean; children: (attrs: { id: string; name: string; 'aria-invalid'?: 'true'; 'aria-describedby'?: string }) => ComponentChildren }): JSX.Element {
  const described = [props.hint ? `${props.id}-hint` : '', props.error ? `${props.id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class="field">
      <label for={props.id} class={props.hideLabel ? 'sr-only' : undefined}>{props.label}</label>
      {props.hint && <p class="hint" id={`${props.id}-hint`}>{props.hint}</p>}
      {props.children({ id: props.id, name: props.id, ...(props.error ? { 'aria-invalid': 'true' as const } : {}), ...(described ? { 'aria-describedby': described } : {}) })}
      {props.error && <p class="error" id={`${props.id}-error`} role="alert">{props.error}</p>}
    </div>
  );
}

export function NumberField(props: { id: string; label: string; value: string; onInput: (v: string) => void; error?: string | undefined; hint?: string; min?: number; step?: string }): JSX.Element {
  return (
    <Labelled id={props.id} label={props.label} error={props.error} {...(props.hint ? { hint: props.hint } : {})}>
      {(a) => <input {...a} type="number" inputMode="numeric" min={props.min ?? 1} step={props.step ?? '1'} value={props.value} onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)} />}
    </Labelled>
  );
}

export function SelectField(props: { id: string; label: string; value: string; options: Array<[string, string]>; onChange: (v: string) => void; error?: string | undefined; hint?: string; hideLabel?: boolean }): JSX.Element {
  return (
    <Labelled id={props.id} label={props.label} error={props.error} {...(props.hint ? { hint: props.hint } : {})} hideLabel={!!props.hideLabel}>
      {(a) => (
        <select {...a} value={props.value} onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}>
          {props.options.map(([v, l]) => (
            <option key={v} value={v}>{l}</option>
          ))}
        </select>
      )}
    </Labelled>
  );
}

/** Cents as dollars ("$12.50"). */
export const dollars = (cents: number) => `$${(cents / 100).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** A positive whole number typed in a field, or undefined. */
export function wholeNumber(v: string): number | undefined {
  const t = v.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
