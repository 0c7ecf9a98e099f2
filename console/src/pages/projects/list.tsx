// The list of projects the user may see (the server filters), keyset-paged, with archived ones on
// request, and the create form for organization administrators.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { request } from '../../api.ts';
import { Field } from '../../Field.tsx';
import { go } from '../../route.ts';
import { ErrorNote, Page, Pager, usePager, when } from '../../ui.tsx';
import type { PageProps } from '../index.ts';
import { fetchPage, levelOf, type Project, useSubmit } from './common.tsx';

const LEVEL_TEXT = { write: 'Owner', member: 'Member', read: 'Viewer' } as const;

export function ProjectList(props: PageProps): JSX.Element {
  const { perms } = props;
  const [archived, setArchived] = useState(false);
  const pager = usePager<Project>((after) => fetchPage<Project>(`/v1/organization/projects${archived ? '?include_archived=true' : ''}`, after), [archived]);
  return (
    <Page title="Projects">
      {perms.org_write && <CreateProject />}
      <div class="toolbar">
        <label class="check">
          <input type="checkbox" id="projects-include-archived" checked={archived} onChange={(e) => setArchived((e.currentTarget as HTMLInputElement).checked)} /> Show archived projects
        </label>
      </div>
      <ErrorNote id="projects-error" error={pager.error} />
      {pager.loading && !pager.data ? (
        <p class="muted">Loading…</p>
      ) : pager.items.length === 0 && !pager.error ? (
        <p class="muted" id="projects-empty">{perms.org_write ? 'No projects yet. Create the first one above.' : 'You are not a member of any project.'}</p>
      ) : (
        <div class="table-wrap">
          <table id="projects-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th>Your access</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {pager.items.map((p) => {
                const level = levelOf(perms, p.id);
                return (
                  <tr key={p.id} data-project-id={p.id}>
                    <td>
                      <a href={`#/projects/${encodeURIComponent(p.id)}`} class="project-link">{p.name}</a>
                      <div class="muted mono small">{p.id}</div>
                    </td>
                    <td>{p.status === 'archived' ? <span class="badge">Archived</span> : 'Active'}</td>
                    <td>{level ? LEVEL_TEXT[level] : '—'}</td>
                    <td>{when(p.created_at)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="projects-pager" {...pager} />
    </Page>
  );
}

function CreateProject(): JSX.Element {
  const [name, setName] = useState('');
  const form = useSubmit(['name']);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return form.setErrors({ name: 'Give the project a name.' });
    let created: Project | undefined;
    const ok = await form.run(async () => {
      created = await request<Project>('POST', '/v1/organization/projects', { name: name.trim() });
    });
    if (ok && created) go(`/projects/${encodeURIComponent(created.id)}`);
  };
  return (
    <form class="panel inline-form" id="project-create-form" onSubmit={submit} noValidate>
      <Field id="project-create-name" label="New project name" value={name} onInput={(v) => (setName(v), form.setErrors({}))} error={form.errors['name']} />
      <button type="submit" class="primary" id="project-create-submit" disabled={form.busy}>Create project</button>
      <ErrorNote id="project-create-error" error={form.formError} />
    </form>
  );
}
