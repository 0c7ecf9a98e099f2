// One project: its name and status, rename and archive (for its owners), and its views.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { request } from '../../api.ts';
import { Field } from '../../Field.tsx';
import { ConfirmButton, ErrorNote, Page, useLoad, when } from '../../ui.tsx';
import type { PageProps } from '../index.ts';
import { levelOf, type Level, type Project, projectUrl, useSubmit } from './common.tsx';
import { KeysView } from './keys.tsx';
import { MembersView } from './members.tsx';
import { ServiceAccountsView } from './service-accounts.tsx';
import { LimitsView } from './limits.tsx';
import { ModelsView } from './models.tsx';
import { SpendView } from './spend.tsx';

export interface ViewProps extends PageProps {
  project: Project;
  /** The user's level in the project; an archived project is read-only for everyone. */
  level: Level;
  /** Changes allowed: write level and the project is active. */
  canWrite: boolean;
}

const VIEWS: Array<{ path: string; label: string; component: (p: ViewProps) => JSX.Element }> = [
  { path: 'keys', label: 'API keys', component: KeysView },
  { path: 'members', label: 'Members', component: MembersView },
  { path: 'service-accounts', label: 'Service accounts', component: ServiceAccountsView },
  { path: 'limits', label: 'Rate limits', component: LimitsView },
  { path: 'models', label: 'Models', component: ModelsView },
  { path: 'spend', label: 'Spend', component: SpendView },
];

export function ProjectDetail(props: PageProps & { projectId: string; view: string }): JSX.Element {
  const { projectId, perms } = props;
  const load = useLoad(() => request<Project>('GET', projectUrl(projectId)), [projectId]);
  const [renamed, setRenamed] = useState<Project>();
  // while another project loads (or fails to), the previous one's data must not show
  const project = renamed?.id === projectId ? renamed : load.data?.id === projectId ? load.data : undefined;
  const level = levelOf(perms, projectId);
  if (!project) {
    return (
      <Page title="Project">
        <p><a href="#/projects">← All projects</a></p>
        {load.error && !load.loading ? <ErrorNote id="project-error" error={load.error} /> : <p class="muted">Loading…</p>}
      </Page>
    );
  }
  const active = project.status === 'active';
  const canWrite = level === 'write' && active;
  const view = VIEWS.find((v) => v.path === props.view) ?? VIEWS[0]!;
  const View = view.component;
  return (
    <Page
      title={project.name}
      actions={
        canWrite && (
          <>
            <Rename project={project} onDone={setRenamed} />
            <ConfirmButton
              id="project-archive"
              label="Archive"
              question={`Archive ${project.name}? Its keys stop working and it can no longer be changed.`}
              onConfirm={async () => setRenamed(await request<Project>('POST', projectUrl(project.id, '/archive')))}
            />
          </>
        )
      }
    >
      <p class="crumbs">
        <a href="#/projects">← All projects</a> <span class="muted mono small" id="project-id">{project.id}</span>{' '}
        {active ? null : <span class="badge" id="project-archived">Archived {when(project.archived_at)}</span>}
      </p>
      <nav class="subnav" aria-label="Project sections">
        {VIEWS.map((v) => (
          <a key={v.path} id={`project-tab-${v.path}`} href={`#/projects/${encodeURIComponent(project.id)}/${v.path}`} aria-current={v === view ? 'page' : undefined}>
            {v.label}
          </a>
        ))}
      </nav>
      <View {...props} project={project} level={level} canWrite={canWrite} />
    </Page>
  );
}

function Rename(props: { project: Project; onDone: (p: Project) => void }): JSX.Element {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(props.project.name);
  const form = useSubmit(['name']);
  if (!open)
    return (
      <button type="button" id="project-rename" onClick={() => (setName(props.project.name), setOpen(true))}>
        Rename
      </button>
    );
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return form.setErrors({ name: 'Give the project a name.' });
    let p: Project | undefined;
    if (await form.run(async () => (p = await request<Project>('POST', projectUrl(props.project.id), { name: name.trim() })))) {
      props.onDone(p!);
      setOpen(false);
    }
  };
  return (
    <form class="inline-form" id="project-rename-form" onSubmit={submit} noValidate>
      <Field id="project-rename-name" label="Project name" value={name} onInput={(v) => (setName(v), form.setErrors({}))} error={form.errors['name']} />
      <button type="submit" class="primary" id="project-rename-submit" disabled={form.busy}>Save</button>
      <button type="button" id="project-rename-cancel" onClick={() => setOpen(false)}>Cancel</button>
      <ErrorNote id="project-rename-error" error={form.formError} />
    </form>
  );
}
