// A project's monthly spend: its hard limit (the gateway refuses traffic once it is reached) and
// its email alerts (thresholds that notify recipients).
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, request } from '../../api.ts';
import { Field } from '../../Field.tsx';
import { ConfirmButton, ErrorNote, Pager, useLoad, usePager } from '../../ui.tsx';
import { dollars, fetchPage, NumberField, projectUrl, useSubmit } from './common.tsx';
import type { ViewProps } from './detail.tsx';

interface SpendLimit { threshold_amount: number; currency: 'USD'; interval: 'month'; enforcement: { status: 'enforcing' | 'inactive' } }
interface SpendAlert { id: string; threshold_amount: number; notification_channel: { type: 'email'; recipients: string[]; subject_prefix: string | null } }

/** Dollars typed in a field as cents (≥ `min`), or undefined. */
function cents(v: string, min: number): number | undefined {
  const t = v.trim().replace(/^\$/, '');
  if (!/^\d+(\.\d{1,2})?$/.test(t)) return undefined;
  const c = Math.round(Number(t) * 100);
  return Number.isSafeInteger(c) && c >= min ? c : undefined;
}

export function SpendView(props: ViewProps): JSX.Element {
  return (
    <>
      <LimitPanel {...props} />
      <AlertsPanel {...props} />
    </>
  );
}

function LimitPanel(props: ViewProps): JSX.Element {
  const { project, canWrite } = props;
  const url = projectUrl(project.id, '/spend_limit');
  // no limit set is a 404: read as "none"
  const load = useLoad(() => request<SpendLimit>('GET', url).catch((e) => (e instanceof ApiError && e.status === 404 ? null : Promise.reject(e))), [url]);
  const [amount, setAmount] = useState('');
  const form = useSubmit(['threshold_amount']);
  const limit = load.data;
  const save = async (e: Event) => {
    e.preventDefault();
    const c = cents(amount, 1);
    if (c === undefined) return form.setErrors({ threshold_amount: 'Enter an amount in dollars, e.g. 250 or 99.50.' });
    if (await form.run(() => request('POST', url, { threshold_amount: c, currency: 'USD', interval: 'month' }))) {
      setAmount('');
      load.reload();
    }
  };
  return (
    <section class="panel" aria-labelledby="project-spend-limit-title">
      <h2 id="project-spend-limit-title">Monthly spend limit</h2>
      <ErrorNote id="project-spend-limit-error" error={load.error} />
      {limit !== undefined && (
        <p id="project-spend-limit-current">
          {limit === null ? (
            'No limit: the project may spend without a cap.'
          ) : (
            <>
              {dollars(limit.threshold_amount)} per month. {limit.enforcement.status === 'enforcing' ? <strong class="error">Reached: requests are refused until next month.</strong> : 'Not reached this month.'}
            </>
          )}
        </p>
      )}
      {canWrite && limit !== undefined && (
        <form class="inline-form" id="project-spend-limit-form" onSubmit={save} noValidate>
          <Field id="project-spend-limit-amount" label={limit ? 'New limit (USD per month)' : 'Limit (USD per month)'} value={amount} onInput={setAmount} error={form.errors['threshold_amount']} />
          <button type="submit" class="primary" id="project-spend-limit-save" disabled={form.busy}>Set limit</button>
          {limit && <ConfirmButton id="project-spend-limit-delete" label="Remove limit" question="Remove the spend limit? The project may then spend without a cap." onConfirm={async () => (await request('DELETE', url), load.reload())} />}
          <ErrorNote id="project-spend-limit-save-error" error={form.formError} />
        </form>
      )}
    </section>
  );
}

function AlertsPanel(props: ViewProps): JSX.Element {
  const { project, canWrite } = props;
  const url = projectUrl(project.id, '/spend_alerts');
  const [tick, setTick] = useState(0);
  const pager = usePager<SpendAlert>((after) => fetchPage<SpendAlert>(url, after), [url, tick]);
  const [amount, setAmount] = useState('');
  const [recipients, setRecipients] = useState('');
  const [prefix, setPrefix] = useState('');
  const form = useSubmit(['threshold_amount', 'notification_channel']);
  const create = async (e: Event) => {
    e.preventDefault();
    const errors: Record<string, string> = {};
    const c = cents(amount, 0);
    if (c === undefined) errors['threshold_amount'] = 'Enter an amount in dollars, e.g. 100.';
    const to = recipients.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
    if (!to.length) errors['notification_channel'] = 'Enter at least one email address.';
    else if (to.some((r) => !/^[^@\s]+@[^@\s]+$/.test(r))) errors['notification_channel'] = 'One of these is not an email address.';
    if (Object.keys(errors).length) return form.setErrors(errors);
    const body = { threshold_amount: c, currency: 'USD', interval: 'month', notification_channel: { type: 'email', recipients: to, ...(prefix.trim() ? { subject_prefix: prefix.trim() } : {}) } };
    if (await form.run(() => request('POST', url, body))) {
      setAmount('');
      setRecipients('');
      setPrefix('');
      setTick((t) => t + 1);
    }
  };
  return (
    <section class="panel" aria-labelledby="project-spend-alerts-title">
      <h2 id="project-spend-alerts-title">Spend alerts</h2>
      {canWrite && (
        <form class="inline-form" id="project-spend-alert-form" onSubmit={create} noValidate>
          <Field id="project-spend-alert-amount" label="When the month's spend reaches (USD)" value={amount} onInput={setAmount} error={form.errors['threshold_amount']} />
          <Field id="project-spend-alert-recipients" label="Email to" hint="Separate addresses with commas" value={recipients} onInput={setRecipients} error={form.errors['notification_channel']} />
          <Field id="project-spend-alert-prefix" label="Subject prefix" hint="Optional" value={prefix} onInput={setPrefix} />
          <button type="submit" class="primary" id="project-spend-alert-create" disabled={form.busy}>Add alert</button>
          <ErrorNote id="project-spend-alert-create-error" error={form.formError} />
        </form>
      )}
      <ErrorNote id="project-spend-alerts-error" error={pager.error} />
      {pager.loading && !pager.data ? (
        <p class="muted">Loading…</p>
      ) : pager.items.length === 0 && !pager.error ? (
        <p class="muted" id="project-spend-alerts-empty">No alerts.</p>
      ) : (
        <div class="table-wrap">
          <table id="project-spend-alerts-table">
            <thead>
              <tr>
                <th>Threshold</th>
                <th>Recipients</th>
                <th>Subject prefix</th>
                <th><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {pager.items.map((a) => (
                <tr key={a.id} data-alert-id={a.id}>
                  <td>{dollars(a.threshold_amount)}</td>
                  <td>{a.notification_channel.recipients.join(', ')}</td>
                  <td>{a.notification_channel.subject_prefix ?? '—'}</td>
                  <td class="actions">
                    {canWrite && (
                      <ConfirmButton id={`project-spend-alert-delete-${a.id}`} label="Delete" question={`Delete the ${dollars(a.threshold_amount)} alert?`} onConfirm={async () => (await request('DELETE', `${url}/${encodeURIComponent(a.id)}`), pager.reload())} />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="project-spend-alerts-pager" {...pager} />
    </section>
  );
}
