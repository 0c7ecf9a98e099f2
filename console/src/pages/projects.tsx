// Projects: #/projects (the list), #/projects/<id> and its views (/keys, /members, /service-accounts,
// /limits, /models, /spend). Everything goes through the OpenAI admin API with the console session;
// the server decides what the user may see and do, the page only hides what they may not.
import type { JSX } from 'preact';
import type { PageProps } from './index.ts';
import { ProjectList } from './projects/list.tsx';
import { ProjectDetail } from './projects/detail.tsx';

export function ProjectsPage(props: PageProps): JSX.Element {
  const [, id, view] = props.route.path.split('/').filter(Boolean);
  if (!id) return <ProjectList {...props} />;
  return <ProjectDetail {...props} projectId={decodeURIComponent(id)} view={view ?? 'keys'} />;
}
