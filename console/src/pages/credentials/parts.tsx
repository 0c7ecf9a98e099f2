// Pieces of the Credentials page: a credential list of one kind (masked values; add, rotate and
// delete for owners), the active providers of the platform metadata, and the tenant's two switches.
import { Fragment, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, errorText } from '../../api.ts';
import { Field, TextAreaField } from '../../Field.tsx';
import { ConfirmButton, ErrorNote, useLoad } from '../../ui.tsx';
import { credentialsApi, maskedText, parseValue, type ActiveField, type Credential, type Kind, type Metadata } from './api.ts';

/** An id-safe form of a credential name (names may hold spaces, dots and colons). */
export const idOf = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, '-');

/** An API error's words for the field it is about (without DRF's "field: " prefix). */
function fieldMessage(e: ApiError): string {
  return e.param ? e.message.replace(new RegExp(`^${e.param.replace(/[^A-Za-z0-9_]/g, '')}: `), '') : e.message;
}

/** Errors of a form: by field when the API names one the form has, else for the whole form. */
function splitError(e: unknown, fields: string[]): { field?: string; message: string } {
  if (e instanceof ApiError && e.param && fields.includes(e.param)) return { field: e.param, message: fieldMessage(e) };
  return { message: errorText(e) };
}

/** A labelled value box (a textarea for JSON or a key) with its error under it. */
const ValueField = (props: { id: string; label: string; value: string; onInput: (v: string) => void; error?: string | undefined; hint?: string }): JSX.Element => <TextAreaField {...props} code />;

const VALUE_HINT = 'An API key, or JSON such as {"key": "sk-…", "base_url": "https://…"}. It is stored encrypted and never shown again: only its last four characters.';

function AddForm(props: { slug: string; kind: Kind; onAdded: (c: Credential) => void }): JSX.Element {
  const p = `credentials-${props.kind}`;
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [errors, setErrors] = useState<{ name?: string; value?: string; form?: string }>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const errs: typeof errors = {};
    if (!name.trim()) errs.name = props.kind === 'llm' ? 'Enter the provider name, such as openai or anthropic.' : 'Enter the integration name, such as github or slack.';
    const parsed = parseValue(value);
    if ('error' in parsed) errs.value = parsed.error;
    setErrors(errs);
    if (errs.name || errs.value || 'error' in parsed) return;
    setBusy(true);
    try {
      const created = await credentialsApi.create(props.slug, props.kind, name.trim(), parsed.value);
      setName('');
      setValue('');
      props.onAdded(created);
    } catch (err) {
      const s = splitError(err, ['name', 'value']);
      setErrors(s.field ? { [s.field]: s.message } : { form: s.message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="cred-add" id={`${p}-form`} onSubmit={submit} noValidate>
      <h3>Add {props.kind === 'llm' ? 'an LLM' : 'an integration'} credential</h3>
      <Field id={`${p}-name`} label={props.kind === 'llm' ? 'Provider' : 'Integration'} value={name} onInput={setName} error={errors.name} hint={props.kind === 'llm' ? 'The provider the gateway calls with it: openai, anthropic, azure_openai, google…' : 'github, slack, google-drive, notion…'} autoComplete="off" />
      <ValueField id={`${p}-value`} label="Value" value={value} onInput={setValue} error={errors.value} hint={VALUE_HINT} />
      <ErrorNote id={`${p}-form-error`} error={errors.form} />
      <button type="submit" class="primary" id={`${p}-add`} disabled={busy}>{busy ? 'Adding…' : 'Add credential'}</button>
    </form>
  );
}

function RotateForm(props: { slug: string; kind: Kind; name: string; onDone: (c: Credential | null) => void }): JSX.Element {
  const p = `credentials-${props.kind}-rotate`;
  const [value, setValue] = useState('');
  const [error, setError] = useState<{ value?: string; form?: string }>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const parsed = parseValue(value);
    if ('error' in parsed) return setError({ value: parsed.error });
    setBusy(true);
    setError({});
    try {
      const updated = await credentialsApi.rotate(props.slug, props.kind, props.name, parsed.value);
      setValue('');
      props.onDone(updated);
    } catch (err) {
      const s = splitError(err, ['value']);
      setError(s.field ? { value: s.message } : { form: s.message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="cred-rotate" id={`${p}-form`} onSubmit={submit} noValidate>
      <ValueField id={`${p}-value`} label={`New value for ${props.name}`} value={value} onInput={setValue} error={error.value} hint="Replaces the stored value; requests use the new one right away." />
      <ErrorNote id={`${p}-error`} error={error.form} />
      <div class="row-actions">
        <button type="submit" class="primary" id={`${p}-save`} disabled={busy}>{busy ? 'Saving…' : 'Save new value'}</button>
        <button type="button" id={`${p}-cancel`} disabled={busy} onClick={() => props.onDone(null)}>Cancel</button>
      </div>
    </form>
  );
}

/** The organization's credentials of one kind: masked values; owners add, rotate and delete. */
export function CredentialList(props: { slug: string; kind: Kind; canWrite: boolean; onChanged?: () => void; onNames?: (names: string[]) => void }): JSX.Element {
  const { slug, kind, canWrite } = props;
  const p = `credentials-${kind}`;
  const list = useLoad(() => credentialsApi.list(slug, kind), [slug, kind]);
  const [rotating, setRotating] = useState<string | null>(null);
  const [notice, setNotice] = useState<string>();
  const changed = (text: string) => {
    setNotice(text);
    list.reload();
    props.onChanged?.();
  };
  const items = list.data ?? [];
  useEffect(() => {
    if (list.data) props.onNames?.(list.data.map((c) => c.name));
  }, [list.data]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <section class="panel" aria-labelledby={`${p}-title`} id={`${p}-panel`}>
      <h2 id={`${p}-title`}>{kind === 'llm' ? 'LLM credentials' : 'Integration credentials'}</h2>
      <p class="muted">
        {kind === 'llm'
          ? 'The keys keyplane\'s gateway uses to call each AI provider for this organization.'
          : 'Keys of the services your AI platform connects to (drives, chat, code hosting).'}{' '}
        Values are shown masked; nobody can read them back.
      </p>
      <ErrorNote id={`${p}-error`} error={list.error} />
      {notice && <p class="notice" role="status" id={`${p}-notice`}>{notice}</p>}
      {list.loading && !list.data ? (
        <p class="muted">Loading…</p>
      ) : items.length === 0 ? (
        !list.error && <p class="empty" id={`${p}-empty`}>No {kind === 'llm' ? 'LLM' : 'integration'} credentials yet.</p>
      ) : (
        <div class="table-wrap">
          <table id={`${p}-table`}>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value (masked)</th>
                {canWrite && <th scope="col"><span class="sr-only">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {items.map((c) => (
                <Fragment key={c.name}>
                  <tr id={`${p}-row-${idOf(c.name)}`} data-name={c.name}>
                    <th scope="row">
                      {c.name}
                      {c.service_info.display_name !== c.name && <div class="muted small">{c.service_info.display_name}</div>}
                    </th>
                    <td><code class="masked" id={`${p}-value-${idOf(c.name)}`}>{maskedText(c.value)}</code></td>
                    {canWrite && (
                      <td>
                        <div class="row-actions">
                        <button type="button" id={`${p}-rotate-${idOf(c.name)}`} aria-expanded={rotating === c.name} onClick={() => (setRotating(rotating === c.name ? null : c.name), setNotice(undefined))}>Rotate</button>
                        <ConfirmButton
                          id={`${p}-delete-${idOf(c.name)}`}
                          label="Delete"
                          question={kind === 'llm' ? `Delete the ${c.name} credential? Requests to ${c.service_info.display_name} stop working until a new one is added.` : `Delete the ${c.name} credential?`}
                          onConfirm={async () => {
                            await credentialsApi.remove(slug, kind, c.name);
                            if (rotating === c.name) setRotating(null);
                            changed(`The ${c.name} credential was deleted.`);
                          }}
                        />
                        </div>
                      </td>
                    )}
                  </tr>
                  {canWrite && rotating === c.name && (
                    <tr class="rotate-row">
                      <td colSpan={3}>
                        <RotateForm slug={slug} kind={kind} name={c.name} onDone={(u) => (setRotating(null), u && changed(`The ${c.name} credential has a new value.`))} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {canWrite && <AddForm slug={slug} kind={kind} onAdded={(c) => changed(`The ${c.name} credential was added.`)} />}
    </section>
  );
}

const ACTIVE: Array<{ field: ActiveField; label: string; what: string }> = [
  { field: 'active_llm', label: 'Language model (LLM)', what: 'chat and completions' },
  { field: 'active_stt', label: 'Speech to text (STT)', what: 'transcription' },
  { field: 'active_tts', label: 'Text to speech (TTS)', what: 'speech' },
];

/** The platform metadata's active providers: shown to all, changed by owners (each needs an LLM credential). */
export function ActiveProviders(props: { slug: string; canWrite: boolean; llmNames: string[] }): JSX.Element {
  const { slug, canWrite } = props;
  const meta = useLoad(() => credentialsApi.metadata(slug), [slug, props.llmNames.join('\n')]);
  const [errors, setErrors] = useState<Partial<Record<ActiveField | 'form', string>>>({});
  const [busy, setBusy] = useState<ActiveField | null>(null);
  const [saved, setSaved] = useState<string>();
  // no metadata yet: every provider with an LLM credential may be chosen, and none is active
  const m: Metadata | undefined = meta.data === null ? { services: Object.fromEntries(props.llmNames.map((n) => [n, { llm_options: {} }])), active_llm: null, active_stt: null, active_tts: null } : meta.data;
  const providers = m ? Object.keys(m.services) : [];
  const change = async (field: ActiveField, value: string) => {
    setBusy(field);
    setErrors({});
    setSaved(undefined);
    try {
      await credentialsApi.setActive(slug, field, value || null);
      setSaved(`${ACTIVE.find((a) => a.field === field)!.label}: ${value || 'none'}.`);
      meta.reload();
    } catch (e) {
      const s = splitError(e, ACTIVE.map((a) => a.field));
      setErrors(s.field ? { [s.field]: s.message } : { form: s.message });
    } finally {
      setBusy(null);
    }
  };
  return (
    <section class="panel" aria-labelledby="credentials-active-title" id="credentials-active">
      <h2 id="credentials-active-title">Active providers</h2>
      <p class="muted">The provider the platform uses for each kind of request. A provider needs an LLM credential first.</p>
      <ErrorNote id="credentials-active-error" error={meta.error ?? errors.form} />
      {saved && <p class="notice" role="status" id="credentials-active-saved">Saved — {saved}</p>}
      {m && (
        <dl class="active-list">
          {ACTIVE.map(({ field, label, what }) => {
            const current = m[field];
            const id = `credentials-${field.replace('_', '-')}`;
            return (
              <div key={field} class="active-item">
                <dt>{canWrite ? <label for={id}>{label}</label> : label}</dt>
                <dd>
                  {canWrite ? (
                    <>
                      <select id={id} value={current ?? ''} disabled={busy !== null} onChange={(e) => change(field, (e.currentTarget as HTMLSelectElement).value)} aria-invalid={errors[field] ? 'true' : undefined} aria-describedby={errors[field] ? `${id}-error` : undefined}>
                        <option value="">None</option>
                        {[...new Set([...providers, ...(current ? [current] : [])])].map((p) => <option key={p} value={p}>{p}</option>)}
                      </select>
                      <span class="muted small"> for {what}</span>
                      {errors[field] && <p class="error" id={`${id}-error`} role="alert">{errors[field]}</p>}
                    </>
                  ) : (
                    <span id={id}>{current ?? 'None'}</span>
                  )}
                </dd>
              </div>
            );
          })}
        </dl>
      )}
      {m && providers.length === 0 && <p class="muted" id="credentials-active-none">Add an LLM credential to choose a provider.</p>}
    </section>
  );
}

/** One tenant switch: its state in words, and for owners a button that flips it. */
function Switch(props: { id: string; title: string; on: boolean | undefined; onText: string; offText: string; canWrite: boolean; flip: (on: boolean) => Promise<unknown> }): JSX.Element {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const click = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await props.flip(!props.on);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="switch-row" id={props.id}>
      <div>
        <strong>{props.title}</strong>
        <p class="muted small" id={`${props.id}-state`} data-on={props.on === undefined ? '' : String(props.on)}>
          {props.on === undefined ? '…' : props.on ? props.onText : props.offText}
        </p>
      </div>
      {props.canWrite && props.on !== undefined && (
        <button type="button" id={`${props.id}-toggle`} role="switch" aria-checked={props.on} disabled={busy} onClick={click}>
          {props.on ? 'Turn off' : 'Turn on'}
        </button>
      )}
      {error && <p class="error" role="alert" id={`${props.id}-error`}>{error}</p>}
    </div>
  );
}

/** The default-LLM-key and free-trial switches of the tenant. */
export function TenantSwitches(props: { slug: string; userId: string | null; canWrite: boolean }): JSX.Element {
  const { slug, userId, canWrite } = props;
  const state = useLoad(() => (userId ? credentialsApi.switches(slug, userId) : Promise.resolve(undefined)), [slug, userId]);
  const s = state.data;
  return (
    <section class="panel" aria-labelledby="credentials-switches-title" id="credentials-switches">
      <h2 id="credentials-switches-title">Platform key and free trial</h2>
      <ErrorNote id="credentials-switches-error" error={state.error} />
      <Switch
        id="credentials-default-key"
        title="Use the platform's default LLM key"
        on={s?.defaultKey}
        onText="On: requests without a credential of this organization use the platform's key."
        offText="Off: requests use this organization's own LLM credentials only."
        canWrite={canWrite}
        flip={async (on) => (await credentialsApi.setDefaultKey(slug, on), state.reload())}
      />
      <Switch
        id="credentials-free-trial"
        title="Free trial"
        on={s?.freeTrial}
        onText="On: the organization is in its free trial."
        offText="Off: the organization is not in a free trial."
        canWrite={canWrite}
        flip={async (on) => (await credentialsApi.setFreeTrial(slug, on), state.reload())}
      />
    </section>
  );
}
