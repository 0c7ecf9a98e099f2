// Invitations (/v1/organization/invites): a keyset-paged list; owners invite by email and role, make
// a single-use sign-up link for a pending invite (POST /console/api/invites/:id/link; a new link
// voids the previous one; shown once, with a copy button) and delete invites (with confirmation).
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { errorText, request } from '../../api.ts';
import { Field } from '../../Field.tsx';
import { ConfirmButton, ErrorNote, Pager, usePager, when } from '../../ui.tsx';
import { cursorPage, errorsOf, ORG_ROLE_OPTIONS, qs, SelectField, type CursorList, type Errors, type Invite } from './common.tsx';

export function Invites(props: { canWrite: boolean }): JSX.Element {
  const list = usePager((after) => request<CursorList<Invite>>('GET', `/v1/organization/invites${qs({ limit: 20, after })}`).then(cursorPage), []);
  const [created, setCreated] = useState<Invite>();
  const [link, setLink] = useState<{ invite: Invite; url: string }>();
  return (
    <div id="org-invites">
      {props.canWrite && (
        <InviteForm
          onCreated={(inv) => {
            setCreated(inv);
            setLink(undefined);
            list.reload();
          }}
        />
      )}
      {created && !link && (
        <div class="panel" id="org-invite-created" role="status">
          <p>
            <strong>{created.email}</strong> is invited as {created.role}. keyplane sends no email: make a sign-up link and send it to them.
          </p>
          <MakeLink id="org-invite-link-create" invite={created} label="Create sign-up link" onLink={(url) => setLink({ invite: created, url })} />
        </div>
      )}
      {link && <LinkOnce invite={link.invite} url={link.url} onDone={() => (setLink(undefined), setCreated(undefined))} />}
      <ErrorNote id="org-invites-error" error={list.error} />
      {list.loading && !list.data ? (
        <p class="muted">Loading…</p>
      ) : list.items.length === 0 ? (
        <p class="muted" id="org-invites-empty">No invitations.</p>
      ) : (
        <div class="table-wrap">
          <table id="org-invites-table">
            <thead>
              <tr>
                <th>Email</th>
                <th>Role</th>
                <th>Status</th>
                <th>Expires</th>
                {props.canWrite && <th><span class="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {list.items.map((inv) => (
                <tr key={inv.id} data-invite-id={inv.id} data-email={inv.email}>
                  <td>{inv.email}</td>
                  <td>{inv.role}</td>
                  <td><span class={`badge status-${inv.status}`}>{inv.status}</span></td>
                  <td>{inv.status === 'accepted' ? `accepted ${when(inv.accepted_at)}` : when(inv.expires_at)}</td>
                  {props.canWrite && (
                    <td>
                      <div class="row-actions">
                        {inv.status === 'pending' && <MakeLink id={`org-invite-link-${inv.id}`} invite={inv} label="Sign-up link" onLink={(url) => setLink({ invite: inv, url })} />}
                        {inv.status !== 'accepted' && (
                          <ConfirmButton
                            id={`org-invite-delete-${inv.id}`}
                            label="Delete"
                            question={`Delete the invitation of ${inv.email}? Its sign-up link stops working.`}
                            onConfirm={async () => {
                              await request('DELETE', `/v1/organization/invites/${inv.id}`);
                              if (link?.invite.id === inv.id) setLink(undefined);
                              list.reload();
                            }}
                          />
                        )}
                      </div>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="org-invites-pager" page={list.page} hasPrev={list.hasPrev} hasNext={list.hasNext} prev={list.prev} next={list.next} />
    </div>
  );
}

function InviteForm(props: { onCreated: (inv: Invite) => void }): JSX.Element {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('reader');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const t = email.trim();
    if (!t) return setErrors({ email: 'Enter the email address to invite.' });
    if (!/^[^\s@]+@[^\s@]+$/.test(t)) return setErrors({ email: 'This is not an email address.' });
    setBusy(true);
    setErrors({});
    try {
      const inv = await request<Invite>('POST', '/v1/organization/invites', { email: t, role });
      setEmail('');
      props.onCreated(inv);
    } catch (err) {
      setErrors(errorsOf(err, ['email', 'role']));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel" id="org-invite-form" onSubmit={submit} noValidate>
      <h2>Invite someone</h2>
      <div class="inline-form">
        <Field id="org-invite-email" label="Email" type="email" value={email} onInput={setEmail} error={errors.email} autoComplete="off" />
        <SelectField id="org-invite-role" label="Role" value={role} onChange={setRole} options={ORG_ROLE_OPTIONS} error={errors.role} />
        <button type="submit" class="primary" id="org-invite-submit" disabled={busy}>{busy ? 'Inviting…' : 'Invite'}</button>
      </div>
      <ErrorNote id="org-invite-form-error" error={errors.form} />
    </form>
  );
}

/** Makes a sign-up link for a pending invite. */
function MakeLink(props: { id: string; invite: Invite; label: string; small?: boolean; onLink: (absoluteUrl: string) => void }): JSX.Element {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const make = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const { url } = await request<{ url: string }>('POST', `/console/api/invites/${props.invite.id}/link`);
      props.onLink(new URL(url, location.origin).href);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="confirm">
      <button type="button" id={props.id} class={props.small ? 'small' : ''} disabled={busy} onClick={make}>{busy ? 'Making…' : props.label}</button>
      {error && <span class="error" role="alert" id={`${props.id}-error`}>{error}</span>}
    </span>
  );
}

/** The sign-up link, shown once: only its hash is kept, and a new link voids it. */
function LinkOnce(props: { invite: Invite; url: string; onDone: () => void }): JSX.Element {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.url);
      setCopied(true);
    } catch {
      // the clipboard may be refused: the field stays selectable
      (document.getElementById('org-invite-link-value') as HTMLInputElement | null)?.select();
    }
  };
  return (
    <div class="secret-once" id="org-invite-link" role="status">
      <p>
        <strong>Copy this sign-up link for {props.invite.email} now.</strong> It is shown only once, works once, and making another link voids it. Whoever opens it joins as {props.invite.role}.
      </p>
      <div class="secret-row">
        <input id="org-invite-link-value" readOnly value={props.url} aria-label="The sign-up link" onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
        <button type="button" id="org-invite-link-copy" onClick={copy}>{copied ? 'Copied' : 'Copy'}</button>
      </div>
      <button type="button" id="org-invite-link-done" onClick={props.onDone}>I have copied it</button>
    </div>
  );
}
