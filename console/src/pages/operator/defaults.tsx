// The platform's default provider credentials (used by organizations with the default LLM key or a
// free trial): listed masked (the server masks them), set (create or replace), deleted after a
// confirmation.
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { errorText, request } from '../../api.ts';
import { Field, FormError } from '../../Field.tsx';
import { ConfirmButton, useLoad, when } from '../../ui.tsx';

interface DefaultCredential { provider: string; value: unknown; created_at: number; updated_at: number }

const URL = '/platform/v1/default_credentials';

/** A masked value in a line: `key: sk-…abcd, base_url: https://…`. */
function masked(v: unknown): string {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k}: ${typeof x === 'string' ? x : JSON.stringify(x)}`)
      .join(', ');
  }
  return typeof v === 'string' ? v : JSON.stringify(v);
}

type Errors = Partial<Record<'provider' | 'key' | 'base_url' | 'form', string>>;

function SetDefault(props: { onSaved: () => void }): JSX.Element {
  const [provider, setProvider] = useState('');
  const [key, setKey] = useState('');
  const [baseUrl, setBaseUrl] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string>();
  async function submit(e: Event) {
    e.preventDefault();
    setSaved(undefined);
    const found: Errors = {};
    if (!provider.trim()) found.provider = 'Enter the provider (openai, anthropic, …).';
    if (!key.trim()) found.key = 'Enter the provider\'s API key.';
    if (baseUrl.trim() && !/^https?:\/\/\S+$/.test(baseUrl.trim())) found.base_url = 'Enter an http:// or https:// URL, or leave it empty.';
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const value = { key: key.trim(), ...(baseUrl.trim() ? { base_url: baseUrl.trim() } : {}) };
      await request('PUT', `${URL}/${encodeURIComponent(provider.trim())}`, { value });
      setSaved(provider.trim());
      setKey('');
      setBaseUrl('');
      setProvider('');
      props.onSaved();
    } catch (err) {
      setErrors({ form: errorText(err) });
    } finally {
      setBusy(false);
    }
  }
  return (
    <div class="panel">
      <h2>Set a default credential</h2>
      <p class="muted">Setting one for a provider that already has one replaces it. The key is stored encrypted and never shown again.</p>
      <form id="operator-default-form" class="inline-form" onSubmit={submit} noValidate>
        <Field id="operator-default-provider" label="Provider" value={provider} onInput={setProvider} error={errors.provider} required />
        <Field id="operator-default-key" label="API key" type="password" autoComplete="off" value={key} onInput={setKey} error={errors.key} required />
        <Field id="operator-default-base-url" label="Base URL (optional)" value={baseUrl} onInput={setBaseUrl} error={errors.base_url} />
        <button type="submit" class="primary" id="operator-default-save" disabled={busy}>{busy ? 'Saving…' : 'Save'}</button>
      </form>
      <FormError id="operator-default-error" error={errors.form} />
      {saved && <p role="status" id="operator-default-saved">Saved the default credential for {saved}.</p>}
    </div>
  );
}

export function DefaultCredentials(): JSX.Element {
  const list = useLoad(() => request<{ data: DefaultCredential[] }>('GET', URL), []);
  const rows = list.data?.data ?? [];
  return (
    <>
      <SetDefault onSaved={list.reload} />
      <div class="panel">
        <h2>Default credentials</h2>
        <FormError id="operator-defaults-error" error={list.error} />
        {list.loading && !list.data ? (
          <p class="loading">Loading…</p>
        ) : rows.length === 0 ? (
          <p class="muted" id="operator-defaults-empty">No default credentials: organizations on the default LLM key or a free trial cannot make requests.</p>
        ) : (
          <div class="table-wrap">
            <table id="operator-defaults">
              <thead>
                <tr><th>Provider</th><th>Value (masked)</th><th>Updated</th><th></th></tr>
              </thead>
              <tbody>
                {rows.map((c) => (
                  <tr key={c.provider} data-provider={c.provider}>
                    <td>{c.provider}</td>
                    <td><code>{masked(c.value)}</code></td>
                    <td>{when(c.updated_at)}</td>
                    <td>
                      <ConfirmButton
                        id={`operator-default-delete-${c.provider}`}
                        label="Delete"
                        question={`Delete the default credential for ${c.provider}? Organizations using the platform's key for it stop working.`}
                        onConfirm={async () => {
                          await request('DELETE', `${URL}/${encodeURIComponent(c.provider)}`);
                          list.reload();
                        }}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p class="muted">This list holds one row per provider; it has no paging.</p>
      </div>
    </>
  );
}
