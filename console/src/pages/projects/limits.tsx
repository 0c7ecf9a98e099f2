// A project's per-model rate limits: every model of the catalog has a row; owners edit its numbers.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { request } from '../../api.ts';
import { ErrorNote, Pager, usePager } from '../../ui.tsx';
import { fetchPage, NumberField, projectUrl, useSubmit, wholeNumber } from './common.tsx';
import type { ViewProps } from './detail.tsx';

const FIELDS = [
  ['max_requests_per_1_minute', 'Requests / minute'],
  ['max_tokens_per_1_minute', 'Tokens / minute'],
  ['max_images_per_1_minute', 'Images / minute'],
  ['max_audio_megabytes_per_1_minute', 'Audio MB / minute'],
  ['max_requests_per_1_day', 'Requests / day'],
  ['batch_1_day_max_input_tokens', 'Batch input tokens / day'],
] as const;
type LimitField = (typeof FIELDS)[number][0];
type RateLimit = { id: string; model: string } & Partial<Record<LimitField, number>>;

export function LimitsView(props: ViewProps): JSX.Element {
  const { project, canWrite } = props;
  const pager = usePager<RateLimit>((after) => fetchPage<RateLimit>(projectUrl(project.id, '/rate_limits'), after, 100), [project.id]);
  const [saved, setSaved] = useState<Record<string, RateLimit>>({});
  const rows = pager.items.map((r) => saved[r.id] ?? r);
  return (
    <section class="panel" aria-labelledby="project-limits-title">
      <h2 id="project-limits-title">Rate limits per model</h2>
      <p class="muted">Requests over a limit are refused with HTTP 429. Empty cells: the limit does not apply to that model.</p>
      <ErrorNote id="project-limits-error" error={pager.error} />
      {pager.loading && !pager.data ? (
        <p class="muted">Loading…</p>
      ) : (
        <div class="table-wrap">
          <table id="project-limits-table">
            <thead>
              <tr>
                <th>Model</th>
                {FIELDS.map(([f, label]) => (
                  <th key={f}>{label}</th>
                ))}
                <th><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <LimitRow key={r.id} projectId={project.id} r={r} canWrite={canWrite} onSaved={(n) => setSaved((s) => ({ ...s, [n.id]: n }))} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="project-limits-pager" {...pager} />
    </section>
  );
}

function LimitRow(props: { projectId: string; r: RateLimit; canWrite: boolean; onSaved: (r: RateLimit) => void }): JSX.Element {
  const { r } = props;
  const present = FIELDS.filter(([f]) => r[f] !== undefined);
  const [editing, setEditing] = useState(false);
  const [values, setValues] = useState<Record<string, string>>({});
  const form = useSubmit(present.map(([f]) => f));
  const slug = r.model.replace(/[^A-Za-z0-9_-]/g, '_');
  const open = () => {
    setValues(Object.fromEntries(present.map(([f]) => [f, String(r[f])])));
    setEditing(true);
  };
  const save = async (e: Event) => {
    e.preventDefault();
    const changes: Record<string, number> = {};
    const errors: Record<string, string> = {};
    for (const [f] of present) {
      const n = wholeNumber(values[f] ?? '');
      if (n === undefined) errors[f] = 'Enter a whole number, 1 or more.';
      else if (n !== r[f]) changes[f] = n;
    }
    if (Object.keys(errors).length) return form.setErrors(errors);
    if (!Object.keys(changes).length) return setEditing(false);
    let updated: RateLimit | undefined;
    if (await form.run(async () => (updated = await request<RateLimit>('POST', projectUrl(props.projectId, `/rate_limits/${encodeURIComponent(r.id)}`), changes)))) {
      props.onSaved(updated!);
      setEditing(false);
    }
  };
  if (editing)
    return (
      <tr data-model={r.model} class="editing">
        <td colSpan={FIELDS.length + 2}>
          <form class="inline-form" id={`project-limit-form-${slug}`} onSubmit={save} noValidate>
            <strong class="form-title">{r.model}</strong>
            {present.map(([f, label]) => (
              <NumberField key={f} id={`project-limit-${slug}-${f}`} label={label} value={values[f] ?? ''} onInput={(v) => setValues((s) => ({ ...s, [f]: v }))} error={form.errors[f]} />
            ))}
            <button type="submit" class="primary" id={`project-limit-save-${slug}`} disabled={form.busy}>Save</button>
            <button type="button" onClick={() => setEditing(false)}>Cancel</button>
            <ErrorNote id={`project-limit-error-${slug}`} error={form.formError} />
          </form>
        </td>
      </tr>
    );
  return (
    <tr data-model={r.model}>
      <td class="mono">{r.model}</td>
      {FIELDS.map(([f]) => (
        <td key={f} class="num" data-field={f}>{r[f] === undefined ? '' : r[f]!.toLocaleString('en-US')}</td>
      ))}
      <td class="actions">
        {props.canWrite && (
          <button type="button" class="small" id={`project-limit-edit-${slug}`} onClick={open}>Edit</button>
        )}
      </td>
    </tr>
  );
}
