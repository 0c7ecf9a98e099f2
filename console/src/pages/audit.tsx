// The Audit log page: every event of the organization (GET /console/api/audit_logs — keyplane's own
// event types too, which the OpenAI face hides), newest first, keyset-paged, filtered by event type,
// actor (id or email), target (resource id) and time range. The filters live in the URL
// (#/audit?type=…&actor=…), so a filtered view can be linked. Each event expands to its details.
import { useEffect, useState } from 'preact/hooks';
import { Fragment, type JSX } from 'preact';
import type { PageProps } from './index.ts';
import { request } from '../api.ts';
import { Field } from '../Field.tsx';
import { go } from '../route.ts';
import { ErrorNote, Page, Pager, usePager, useLoad, when } from '../ui.tsx';

export interface AuditEvent {
  id: string;
  type: string;
  effective_at: number;
  actor: { type: string; id: string | null; key_id: string | null; email: string | null };
  target: { type: string | null; id: string | null };
  project: { id: string; name: string | null } | null;
  payload: unknown;
  request: { id: string | null; ip: string | null; user_agent: string | null };
}
interface AuditList { data: AuditEvent[]; has_more: boolean; next: string | null }

const FILTERS = ['type', 'actor', 'target', 'from', 'to'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

/** Unix seconds → the value of a datetime-local input (local time), and back. */
function toLocalInput(seconds: string): string {
  const n = Number(seconds);
  if (!seconds || !Number.isFinite(n)) return '';
  const d = new Date(n * 1000);
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
function fromLocalInput(value: string): string {
  if (!value) return '';
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? String(Math.floor(ms / 1000)) : 'invalid';
}

const ACTOR_LABEL: Record<string, string> = {
  console_user: 'console user',
  api_key: 'API key',
  system: 'keyplane',
  root: 'operator (root key)',
  operator_cli: 'operator (CLI)',
  console_anonymous: 'anonymous',
};

function actorText(a: AuditEvent['actor']): string {
  if (a.email) return a.email;
  if (a.key_id) return `${ACTOR_LABEL[a.type] ?? a.type} ${a.key_id}`;
  if (a.id) return a.id;
  return ACTOR_LABEL[a.type] ?? a.type;
}

export function AuditPage(props: PageProps): JSX.Element {
  const params = props.route.params;
  const applied: Filters = { type: params.get('type') ?? '', actor: params.get('actor') ?? '', target: params.get('target') ?? '', from: params.get('from') ?? '', to: params.get('to') ?? '' };
  const query = FILTERS.filter((k) => applied[k]).map((k) => `${k}=${encodeURIComponent(applied[k])}`).join('&');
  const list = usePager((after) => request<AuditList>('GET', `/console/api/audit_logs?limit=25${query ? `&${query}` : ''}${after ? `&after=${encodeURIComponent(after)}` : ''}`).then((l) => ({ items: l.data, next: l.has_more ? l.next : null })), [query]);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const toggle = (id: string) => setOpen((s) => {
    const n = new Set(s);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    return n;
  });
  return (
    <Page title="Audit log">
      <FilterForm applied={applied} />
      <ErrorNote id="audit-error" error={list.error} />
      {list.loading && !list.data ? (
        <p class="muted">Loading…</p>
      ) : list.items.length === 0 ? (
        <p class="muted" id="audit-empty">{query ? 'No event matches these filters.' : 'No events yet.'}</p>
      ) : (
        <div class="table-wrap">
          <table id="audit-table" class="audit-table">
            <thead>
              <tr>
                <th>When</th>
                <th>Event</th>
                <th>Actor</th>
                <th>Target</th>
                <th><span class="visually-hidden">Details</span></th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((e) => (
                <EventRows key={e.id} e={e} open={open.has(e.id)} onToggle={() => toggle(e.id)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="audit-pager" page={list.page} hasPrev={list.hasPrev} hasNext={list.hasNext} prev={list.prev} next={list.next} />
    </Page>
  );
}

function EventRows(props: { e: AuditEvent; open: boolean; onToggle: () => void }): JSX.Element {
  const { e } = props;
  const detailsId = `audit-details-${e.id}`;
  return (
    <>
      <tr class="audit-row" data-event-id={e.id} data-type={e.type}>
        <td class="nowrap" data-label="When">{when(e.effective_at)}</td>
        <td data-label="Event"><code class="audit-type">{e.type.split('.').map((part, i) => <Fragment key={i}>{i ? <><wbr />.{part}</> : part}</Fragment>)}</code></td>
        <td data-label="Actor">{actorText(e.actor)}</td>
        <td data-label="Target">{e.target.id ? <><span class="muted">{e.target.type}</span> <code>{e.target.id}</code></> : <span class="muted">—</span>}</td>
        <td class="audit-toggle">
          <button type="button" class="small" id={`audit-toggle-${e.id}`} aria-expanded={props.open} aria-controls={detailsId} onClick={props.onToggle}>{props.open ? 'Hide' : 'Details'}</button>
        </td>
      </tr>
      {props.open && (
        <tr class="audit-details-row">
          <td colSpan={5} id={detailsId}>
            <dl class="facts audit-facts">
              <dt>Event id</dt>
              <dd><code>{e.id}</code></dd>
              <dt>Actor</dt>
              <dd>
                {ACTOR_LABEL[e.actor.type] ?? e.actor.type}
                {e.actor.email && <> · {e.actor.email}</>}
                {e.actor.id && <> · <code>{e.actor.id}</code></>}
                {e.actor.key_id && <> · key <code>{e.actor.key_id}</code></>}
              </dd>
              {e.project && (
                <>
                  <dt>Project</dt>
                  <dd>{e.project.name ?? ''} <code>{e.project.id}</code></dd>
                </>
              )}
              <dt>Request id</dt>
              <dd>{e.request.id ? <code>{e.request.id}</code> : '—'}</dd>
              <dt>IP address</dt>
              <dd>{e.request.ip ?? '—'}</dd>
              <dt>User agent</dt>
              <dd>{e.request.user_agent ?? '—'}</dd>
            </dl>
            <p class="muted">Details</p>
            <pre class="audit-payload" id={`audit-payload-${e.id}`}>{JSON.stringify(e.payload, null, 2)}</pre>
          </td>
        </tr>
      )}
    </>
  );
}

function FilterForm(props: { applied: Filters }): JSX.Element {
  const a = props.applied;
  const [v, setV] = useState({ type: a.type, actor: a.actor, target: a.target, from: toLocalInput(a.from), to: toLocalInput(a.to) });
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const key = FILTERS.map((k) => a[k]).join('|');
  useEffect(() => setV({ type: a.type, actor: a.actor, target: a.target, from: toLocalInput(a.from), to: toLocalInput(a.to) }), [key]); // eslint-disable-line react-hooks/exhaustive-deps
  const types = useLoad(() => request<{ data: string[] }>('GET', '/console/api/audit_logs/event_types').then((r) => r.data), []);
  const groups = [...new Set((types.data ?? []).map((t) => t.slice(0, t.indexOf('.'))).filter(Boolean))];
  const set = (k: keyof typeof v) => (value: string) => setV((o) => ({ ...o, [k]: value }));

  const apply = (e: Event) => {
    e.preventDefault();
    const from = fromLocalInput(v.from);
    const to = fromLocalInput(v.to);
    const found: Record<string, string> = {};
    if (from === 'invalid') found.from = 'This is not a date and time.';
    if (to === 'invalid') found.to = 'This is not a date and time.';
    if (!found.from && !found.to && from && to && Number(from) >= Number(to)) found.to = 'The end must be after the start.';
    if (v.actor.trim().length > 320) found.actor = 'At most 320 characters.';
    if (v.target.trim().length > 320) found.target = 'At most 320 characters.';
    setErrors(found);
    if (Object.keys(found).length) return;
    const next: Filters = { type: v.type, actor: v.actor.trim(), target: v.target.trim(), from, to };
    const qs = FILTERS.filter((k) => next[k]).map((k) => `${k}=${encodeURIComponent(next[k])}`).join('&');
    go(qs ? `/audit?${qs}` : '/audit');
  };
  const clear = () => {
    setErrors({});
    go('/audit');
  };
  return (
    <form class="panel audit-filters" id="audit-filters" onSubmit={apply} noValidate>
      <div class="field">
        <label for="audit-filter-type">Event type</label>
        <select id="audit-filter-type" value={v.type} onChange={(e) => set('type')((e.currentTarget as HTMLSelectElement).value)}>
          <option value="">All events</option>
          <optgroup label="Areas">
            {groups.map((g) => (
              <option key={g} value={`${g}.*`}>{`All ${g} events`}</option>
            ))}
          </optgroup>
          <optgroup label="Event types">
            {(types.data ?? []).map((t) => (
              <option key={t} value={t}>{t}</option>
            ))}
            {v.type && !v.type.endsWith('.*') && types.data && !types.data.includes(v.type) && <option value={v.type}>{v.type}</option>}
          </optgroup>
        </select>
        {types.error && <p class="error" role="alert">{types.error}</p>}
      </div>
      <Field id="audit-filter-actor" label="Actor" hint="User, key or service account id, or an email." value={v.actor} onInput={set('actor')} error={errors.actor} autoComplete="off" />
      <Field id="audit-filter-target" label="Target" hint="The id of the resource changed." value={v.target} onInput={set('target')} error={errors.target} autoComplete="off" />
      <div class="field">
        <label for="audit-filter-from">From</label>
        <input id="audit-filter-from" type="datetime-local" value={v.from} aria-invalid={errors.from ? 'true' : undefined} onInput={(e) => set('from')((e.currentTarget as HTMLInputElement).value)} />
        {errors.from && <p class="error" id="audit-filter-from-error" role="alert">{errors.from}</p>}
      </div>
      <div class="field">
        <label for="audit-filter-to">Until</label>
        <input id="audit-filter-to" type="datetime-local" value={v.to} aria-invalid={errors.to ? 'true' : undefined} onInput={(e) => set('to')((e.currentTarget as HTMLInputElement).value)} />
        {errors.to && <p class="error" id="audit-filter-to-error" role="alert">{errors.to}</p>}
      </div>
      <div class="form-buttons">
        <button type="submit" class="primary" id="audit-filter-apply">Filter</button>
        <button type="button" id="audit-filter-clear" onClick={clear}>Clear</button>
      </div>
    </form>
  );
}
