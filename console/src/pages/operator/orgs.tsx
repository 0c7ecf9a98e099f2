// The operator's organizations: a paged list and the form that creates one (with its owner and a
// first admin key, whose secret is shown once).
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, errorText, request } from '../../api.ts';
import { Field, FormError } from '../../Field.tsx';
import { Pager, SecretOnce, usePager, when } from '../../ui.tsx';

export interface PlatformOrg { object: 'organization'; id: string; slug: string; name: string; created_at: number }
interface CreatedOrg extends PlatformOrg { owner: { id: string; email: string; name: string }; admin_key: { id: string; value: string } }

const PAGE = 20;

/** One keyset page of organizations after `after` (an organization id), oldest first. */
export async function orgPage(after: string | null): Promise<{ items: PlatformOrg[]; next: string | null }> {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (after) q.set('after', after);
  const res = await request<{ data: PlatformOrg[]; has_more: boolean; last_id: string | null }>('GET', `/platform/v1/organizations?${q}`);
  return { items: res.data, next: res.has_more ? res.last_id : null };
}

type Errors = Partial<Record<'name' | 'slug' | 'owner_email' | 'form', string>>;

function CreateOrg(props: { onCreated: () => void }): JSX.Element {
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [owner, setOwner] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<CreatedOrg>();

  async function submit(e: Event) {
    e.preventDefault();
    const found: Errors = {};
    if (!name.trim()) found.name = 'Enter the organization\'s name.';
    if (!slug.trim()) found.slug = 'Enter a slug (lower-case letters, digits, "-" and "_").';
    else if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(slug.trim())) found.slug = 'A slug is 1 to 63 characters: lower-case letters, digits, "-" and "_", starting with a letter or digit.';
    if (owner.trim() && !/^[^\s@]+@[^\s@]+$/.test(owner.trim())) found.owner_email = 'This is not an email address.';
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const body = { name: name.trim(), slug: slug.trim(), ...(owner.trim() ? { owner_email: owner.trim() } : {}) };
      const res = await request<CreatedOrg>('POST', '/platform/v1/organizations', body);
      setCreated(res);
      setName('');
      setSlug('');
      setOwner('');
      props.onCreated();
    } catch (err) {
      const p = err instanceof ApiError ? err.param : null;
      if (p === 'name' || p === 'slug' || p === 'owner_email') setErrors({ [p]: errorText(err) });
      else setErrors({ form: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="panel">
      <h2>New organization</h2>
      <form id="operator-org-create" class="inline-form" onSubmit={submit} noValidate>
        <Field id="operator-org-create-name" label="Name" value={name} onInput={setName} error={errors.name} required />
        <Field id="operator-org-create-slug" label="Slug" value={slug} onInput={setSlug} error={errors.slug} required />
        <Field id="operator-org-create-owner" label="Owner email (optional)" type="email" value={owner} onInput={setOwner} error={errors.owner_email} />
        <button type="submit" class="primary" id="operator-org-create-submit" disabled={busy}>{busy ? 'Creating…' : 'Create organization'}</button>
      </form>
      <FormError id="operator-org-create-error" error={errors.form} />
      {created && (
        <div id="operator-org-created">
          <p>
            Created <a href={`#/operator/orgs/${encodeURIComponent(created.slug)}`}>{created.name}</a> (<code>{created.slug}</code>), owned by {created.owner.email}. Its first admin key:
          </p>
          <SecretOnce id="operator-org-created-key" secret={created.admin_key.value} onDone={() => setCreated(undefined)} />
        </div>
      )}
    </div>
  );
}

export function OrgList(): JSX.Element {
  const pager = usePager(orgPage, []);
  return (
    <>
      <CreateOrg onCreated={pager.reload} />
      <div class="panel">
        <h2>Organizations</h2>
        <FormError id="operator-orgs-error" error={pager.error} />
        {pager.loading && !pager.data ? (
          <p class="loading">Loading…</p>
        ) : pager.items.length === 0 ? (
          <p class="muted" id="operator-orgs-empty">No organizations yet.</p>
        ) : (
          <div class="table-wrap">
            <table id="operator-orgs">
              <thead>
                <tr><th>Name</th><th>Slug</th><th class="wide-only">Id</th><th>Created</th></tr>
              </thead>
              <tbody>
                {pager.items.map((o) => (
                  <tr key={o.id} data-slug={o.slug}>
                    <td><a href={`#/operator/orgs/${encodeURIComponent(o.slug)}`} id={`operator-org-link-${o.slug}`}>{o.name}</a></td>
                    <td><code>{o.slug}</code></td>
                    <td class="muted wide-only">{o.id}</td>
                    <td>{when(o.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager id="operator-orgs-pager" page={pager.page} hasPrev={pager.hasPrev} hasNext={pager.hasNext} prev={pager.prev} next={pager.next} />
      </div>
    </>
  );
}
