import type { JSX } from 'preact';
import type { PageProps } from './index.ts';
import { Page } from '../ui.tsx';

export function UsagePage(_props: PageProps): JSX.Element {
  return (
    <Page title="Usage">
      <p class="coming-soon">Coming soon.</p>
    </Page>
  );
}
