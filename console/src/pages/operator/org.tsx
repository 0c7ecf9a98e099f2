// One organization, for the operator: its facts, a new admin key (secret shown once) and its free
// trial (on/off and allowance).
import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { errorText, request } from '../../api.ts';
import { Field, FormError } from '../../Field.tsx';
import { ConfirmButton, SecretOnce, useLoad, when } from '../../ui.tsx';
import type { PlatformOrg } from './orgs.tsx';

const orgUrl = (slug: string) => `/platform/v1/organizations/${encodeURIComponent(slug)}`;

function AdminKeys(props: { slug: string }): JSX.Element {
  const [name, setName] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [secret, setSecret] = useState<string>();
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const res = await request<{ id: string; value: string }>('POST', `${orgUrl(props.slug)}/admin_keys`, name.trim() ? { name: name.trim() } : {});
      setSecret(res.value);
      setName('');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div class="panel" id="operator-admin-keys">
      <h2>Admin keys</h2>
      <form class="inline-form" onSubmit={submit} noValidate>
        <Field id="operator-admin-key-name" label="Key name (optional)" value={name} onInput={setName} error={error} />
        <button type="submit" class="primary" id="operator-admin-key-create" disabled={busy}>{busy ? 'Creating…' : 'Create admin key'}</button>
      </form>
      {secret && <SecretOnce id="operator-admin-key-secret" secret={secret} onDone={() => setSecret(undefined)} />}
      <p class="muted" id="operator-admin-keys-note">
        The platform API only issues admin keys. Listing and revoking them is done by the organization's owners (OpenAI admin API, <code>/v1/organization/admin_api_keys</code>).
      </p>
    </div>
  );
}

interface FreeTrial { enabled: boolean; metadata: Record<string, unknown> | null; started_at: number | null }
const FIELDS = ['tokens', 'requests', 'days'] as const;
type TrialField = (typeof FIELDS)[number];
const LABEL: Record<TrialField, string> = { tokens: 'Tokens', requests: 'Requests', days: 'Days' };

function FreeTrialPanel(props: { slug: string }): JSX.Element {
  const trial = useLoad(() => request<FreeTrial>('GET', `${orgUrl(props.slug)}/free_trial`), [props.slug]);
  const [enabled, setEnabled] = useState(false);
  const [values, setValues] = useState<Record<TrialField, string>>({ tokens: '', requests: '', days: '' });
  const [errors, setErrors] = useState<Partial<Record<TrialField | 'form', string>>>({});
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const t = trial.data;
    if (!t) return;
    setEnabled(t.enabled);
    const m = t.metadata ?? {};
    setValues({ tokens: m.tokens == null ? '' : String(m.tokens), requests: m.requests == null ? '' : String(m.requests), days: m.days == null ? '' : String(m.days) });
  }, [trial.data]);

  async function submit(e: Event) {
    e.preventDefault();
    setSaved(false);
    const found: Partial<Record<TrialField | 'form', string>> = {};
    // other metadata keys are kept; an empty field falls back to the operator's default allowance
    const metadata: Record<string, unknown> = { ...(trial.data?.metadata ?? {}) };
    for (const f of FIELDS) {
      const v = values[f].trim();
      if (v === '') delete metadata[f];
      else if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) found[f] = `Enter a whole number of ${f} (0 or more), or leave it empty for the default.`;
      else metadata[f] = Number(v);
    }
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      await request<FreeTrial>('POST', `${orgUrl(props.slug)}/free_trial`, { enabled, metadata });
      setSaved(true);
      trial.reload();
    } catch (err) {
      setErrors({ form: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="panel" id="operator-trial">
      <h2>Free trial</h2>
      <FormError id="operator-trial-load-error" error={trial.error} />
      {trial.data && (
        <>
          <p class="muted" id="operator-trial-state">
            {trial.data.enabled ? 'On' : 'Off'}
            {trial.data.started_at ? ` — started ${when(trial.data.started_at)}` : ' — not started'}
          </p>
          <form id="operator-trial-form" onSubmit={submit} noValidate>
            <label class="check">
              <input type="checkbox" id="operator-trial-enabled" checked={enabled} onChange={(e) => setEnabled((e.currentTarget as HTMLInputElement).checked)} /> Free trial on (uses the platform's default credentials)
            </label>
            <p class="hint">The allowance: leave a field empty to use the server's default (KEYPLANE_FREE_TRIAL_TOKENS, …_REQUESTS, …_DAYS).</p>
            <div class="inline-form">
              {FIELDS.map((f) => (
                <Field key={f} id={`operator-trial-${f}`} label={LABEL[f]} value={values[f]} onInput={(v) => setValues((s) => ({ ...s, [f]: v }))} error={errors[f]} />
              ))}
            </div>
            <FormError id="operator-trial-error" error={errors.form} />
            <div class="inline-form">
              <button type="submit" class="primary" id="operator-trial-save" disabled={busy}>{busy ? 'Saving…' : 'Save free trial'}</button>
              {saved && <span id="operator-trial-saved" role="status">Saved.</span>}
              <ConfirmButton
                id="operator-trial-restart"
                label="Restart trial"
                question="Start this trial over now? Its days and the usage counted against it start again from zero."
                onConfirm={async () => {
                  await request('POST', `${orgUrl(props.slug)}/free_trial`, { restart: true });
                  trial.reload();
                }}
              />
            </div>
          </form>
        </>
      )}
    </div>
  );
}

export function OrgDetail(props: { slug: string }): JSX.Element {
  const org = useLoad(() => request<PlatformOrg>('GET', orgUrl(props.slug)), [props.slug]);
  return (
    <>
      <p><a href="#/operator" id="operator-org-back">← All organizations</a></p>
      {org.error && <p class="error" role="alert" id="operator-org-error">{org.error}</p>}
      {org.loading && !org.data && <p class="loading">Loading…</p>}
      {org.data && (
        <>
          <div class="panel">
            <h2 id="operator-org-name">{org.data.name}</h2>
            <dl class="facts" id="operator-org-facts">
              <dt>Slug</dt>
              <dd>{org.data.slug}</dd>
              <dt>Id</dt>
              <dd>{org.data.id}</dd>
              <dt>Created</dt>
              <dd>{when(org.data.created_at)}</dd>
            </dl>
          </div>
          <AdminKeys slug={org.data.slug} />
          <FreeTrialPanel slug={org.data.slug} />
        </>
      )}
    </>
  );
}
