import type { JSX } from 'preact';
import type { PageProps } from './index.ts';
import { Page } from '../ui.tsx';

export function ProjectsPage(_props: PageProps): JSX.Element {
  return (
    <Page title="Projects">
      <p class="coming-soon">Coming soon.</p>
    </Page>
  );
}
