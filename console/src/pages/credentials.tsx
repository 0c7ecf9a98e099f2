import type { JSX } from 'preact';
import type { PageProps } from './index.ts';
import { Page } from '../ui.tsx';

export function CredentialsPage(_props: PageProps): JSX.Element {
  return (
    <Page title="Credentials">
      <p class="coming-soon">Coming soon.</p>
    </Page>
  );
}
