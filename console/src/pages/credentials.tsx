// Credentials (#/credentials): the organization's provider credentials through the ibl.ai face —
// LLM and integration credentials (masked values; owners add, rotate, delete), the active LLM, STT
// and TTS providers, and the default-LLM-key and free-trial switches. Readers see masked values and
// states only; the server refuses their writes anyway.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { PageProps } from './index.ts';
import { Page } from '../ui.tsx';
import { ActiveProviders, CredentialList, TenantSwitches } from './credentials/parts.tsx';

export function CredentialsPage({ session, perms }: PageProps): JSX.Element {
  const slug = session.org?.slug;
  const canWrite = perms.org_write;
  // the active-provider choices follow the LLM credentials: reloaded when their names change
  const [llmNames, setLlmNames] = useState<string[]>([]);
  if (!slug) {
    return (
      <Page title="Credentials">
        <p class="muted">Sign in to an organization to see its credentials.</p>
      </Page>
    );
  }
  if (!perms.org_read) {
    return (
      <Page title="Credentials">
        <p class="muted" id="credentials-not-allowed">Your role in this organization does not include its credentials. Ask an owner of the organization.</p>
      </Page>
    );
  }
  return (
    <Page title="Credentials">
      {!canWrite && <p class="notice" id="credentials-read-only">You can see which credentials exist, with their values masked. Only an owner of the organization can change them.</p>}
      <div class="cred-grid">
        <TenantSwitches slug={slug} userId={session.user?.id ?? null} canWrite={canWrite} />
        <ActiveProviders slug={slug} canWrite={canWrite} llmNames={llmNames} />
      </div>
      <CredentialList slug={slug} kind="llm" canWrite={canWrite} onNames={setLlmNames} />
      <CredentialList slug={slug} kind="integration" canWrite={canWrite} />
    </Page>
  );
}
