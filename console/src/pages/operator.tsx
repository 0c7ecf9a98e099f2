import type { JSX } from 'preact';
import type { PageProps } from './index.ts';
import { Page } from '../ui.tsx';

export function OperatorPage(_props: PageProps): JSX.Element {
  return (
    <Page title="Operator">
      <p class="coming-soon">Coming soon.</p>
    </Page>
  );
}
