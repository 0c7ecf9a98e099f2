// Hash routing: #/signin, #/accept?token=…, #/ (home), #/organization, #/projects, …
import { useEffect, useState } from 'preact/hooks';

export interface Route { path: string; params: URLSearchParams }

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#/, '') || '/';
  const q = h.indexOf('?');
  return { path: q >= 0 ? h.slice(0, q) : h, params: new URLSearchParams(q >= 0 ? h.slice(q + 1) : '') };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function go(path: string): void {
  if (location.hash !== '#' + path) location.hash = path;
}
