import type { JSX } from 'preact';
import type { PageProps } from './index.ts';
import { Page } from '../ui.tsx';

export function OrganizationPage(_props: PageProps): JSX.Element {
  return (
    <Page title="Organization">
      <p class="coming-soon">Coming soon.</p>
    </Page>
  );
}
