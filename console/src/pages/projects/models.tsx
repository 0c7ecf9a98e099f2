// A project's model permissions: an allow list (only these models) or a deny list (all but these);
// none set reads as an empty deny list. Owners replace it or delete it.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { request } from '../../api.ts';
import { ConfirmButton, ErrorNote, useLoad } from '../../ui.tsx';
import { Labelled, projectUrl, useSubmit } from './common.tsx';
import type { ViewProps } from './detail.tsx';

interface ModelPermissions { mode: 'allow_list' | 'deny_list'; model_ids: string[] }

export function ModelsView(props: ViewProps): JSX.Element {
  const { project, canWrite } = props;
  const url = projectUrl(project.id, '/model_permissions');
  const load = useLoad(() => request<ModelPermissions>('GET', url), [url]);
  const [mode, setMode] = useState<ModelPermissions['mode']>('deny_list');
  const [ids, setIds] = useState('');
  const [saved, setSaved] = useState(false);
  const form = useSubmit(['mode', 'model_ids']);
  useEffect(() => {
    if (!load.data) return;
    setMode(load.data.mode);
    setIds(load.data.model_ids.join('\n'));
  }, [load.data]);
  const current = load.data;
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    const list = [...new Set(ids.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
    if (mode === 'allow_list' && list.length === 0) return form.setErrors({ model_ids: 'An allow list with no models would refuse every request: name at least one model.' });
    if (await form.run(() => request('POST', url, { mode, model_ids: list }))) {
      setSaved(true);
      load.reload();
    }
  };
  return (
    <section class="panel" aria-labelledby="project-models-title">
      <h2 id="project-models-title">Model permissions</h2>
      <ErrorNote id="project-models-error" error={load.error} />
      {current && (
        <p id="project-models-summary">
          {current.mode === 'allow_list'
            ? `Only these models may be used: ${current.model_ids.join(', ')}.`
            : current.model_ids.length
              ? `Every model may be used except: ${current.model_ids.join(', ')}.`
              : 'Every model may be used.'}
        </p>
      )}
      {canWrite && current && (
        <form id="project-models-form" onSubmit={save} noValidate>
          <fieldset class="radios">
            <legend>Mode</legend>
            <label>
              <input type="radio" name="project-models-mode" id="project-models-mode-allow" checked={mode === 'allow_list'} onChange={() => setMode('allow_list')} /> Allow list: only the models below
            </label>
            <label>
              <input type="radio" name="project-models-mode" id="project-models-mode-deny" checked={mode === 'deny_list'} onChange={() => setMode('deny_list')} /> Deny list: every model except the ones below
            </label>
            {form.errors['mode'] && <p class="error" role="alert">{form.errors['mode']}</p>}
          </fieldset>
          <Labelled id="project-models-ids" label="Model ids" hint="One per line (or separated by commas)" error={form.errors['model_ids']}>
            {(a) => <textarea {...a} rows={5} value={ids} onInput={(e) => setIds((e.currentTarget as HTMLTextAreaElement).value)} />}
          </Labelled>
          <div class="buttons">
            <button type="submit" class="primary" id="project-models-save" disabled={form.busy}>Save permissions</button>
            <ConfirmButton
              id="project-models-delete"
              label="Delete permissions"
              question="Delete the model permissions? Every model becomes usable in this project."
              confirmLabel="Yes, delete them"
              onConfirm={async () => (await request('DELETE', url), setSaved(false), load.reload())}
            />
          </div>
          {saved && <p class="ok" id="project-models-saved" role="status">Saved.</p>}
          <ErrorNote id="project-models-save-error" error={form.formError} />
        </form>
      )}
    </section>
  );
}
