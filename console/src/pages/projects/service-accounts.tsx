// A project's service accounts: list, create (its first key's secret shown once), delete.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { request } from '../../api.ts';
import { Field } from '../../Field.tsx';
import { ConfirmButton, ErrorNote, Pager, SecretOnce, usePager, when } from '../../ui.tsx';
import { fetchPage, projectUrl, type ServiceAccount, useSubmit } from './common.tsx';
import type { ViewProps } from './detail.tsx';

interface NewServiceAccount extends ServiceAccount {
  api_key: { id: string; name: string; value: string } | null;
}

export function ServiceAccountsView(props: ViewProps): JSX.Element {
  const { project, canWrite } = props;
  const [tick, setTick] = useState(0);
  const [secret, setSecret] = useState<{ name: string; value: string }>();
  const pager = usePager<ServiceAccount>((after) => fetchPage<ServiceAccount>(projectUrl(project.id, '/service_accounts'), after), [project.id, tick]);
  const [name, setName] = useState('');
  const form = useSubmit(['name']);
  const create = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return form.setErrors({ name: 'Give the service account a name.' });
    let sa: NewServiceAccount | undefined;
    if (await form.run(async () => (sa = await request<NewServiceAccount>('POST', projectUrl(project.id, '/service_accounts'), { name: name.trim() })))) {
      setName('');
      if (sa!.api_key) setSecret({ name: sa!.name, value: sa!.api_key.value });
      setTick((t) => t + 1);
    }
  };
  return (
    <section class="panel" aria-labelledby="project-sa-title">
      <h2 id="project-sa-title">Service accounts</h2>
      <p class="muted">A service account is a bot identity of the project with its own API key, not tied to a person.</p>
      {secret && (
        <>
          <p>Key of the new service account <strong>{secret.name}</strong>:</p>
          <SecretOnce id="project-sa-secret" secret={secret.value} onDone={() => setSecret(undefined)} />
        </>
      )}
      {canWrite && (
        <form class="inline-form" id="project-sa-create-form" onSubmit={create} noValidate>
          <Field id="project-sa-name" label="Service account name" value={name} onInput={setName} error={form.errors['name']} />
          <button type="submit" class="primary" id="project-sa-create" disabled={form.busy}>Create service account</button>
          <ErrorNote id="project-sa-create-error" error={form.formError} />
        </form>
      )}
      <ErrorNote id="project-sa-error" error={pager.error} />
      {pager.loading && !pager.data ? (
        <p class="muted">Loading…</p>
      ) : pager.items.length === 0 && !pager.error ? (
        <p class="muted" id="project-sa-empty">No service accounts.</p>
      ) : (
        <div class="table-wrap">
          <table id="project-sa-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Role</th>
                <th>Created</th>
                <th><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {pager.items.map((sa) => (
                <tr key={sa.id} data-sa-id={sa.id}>
                  <td>
                    {sa.name}
                    <div class="muted mono small">{sa.id}</div>
                  </td>
                  <td>{sa.role}</td>
                  <td>{when(sa.created_at)}</td>
                  <td class="actions">
                    {canWrite && (
                      <ConfirmButton
                        id={`project-sa-delete-${sa.id}`}
                        label="Delete"
                        question={`Delete ${sa.name}? Its API keys stop working.`}
                        onConfirm={async () => (await request('DELETE', projectUrl(project.id, `/service_accounts/${encodeURIComponent(sa.id)}`)), pager.reload())}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager id="project-sa-pager" {...pager} />
    </section>
  );
}
