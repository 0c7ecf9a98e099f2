import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { api, ApiError, type Session } from './api.ts';
import { go, useRoute } from './route.ts';
import { SignIn } from './SignIn.tsx';
import { Accept } from './Accept.tsx';
import { Shell } from './Shell.tsx';
import './style.css';

function App(): JSX.Element {
  const route = useRoute();
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [loadError, setLoadError] = useState<string>();
  const [signOutError, setSignOutError] = useState<string>();

  useEffect(() => {
    api.session().then(setSession, (e) => {
      setSession(null);
      setLoadError(e instanceof ApiError ? e.message : 'keyplane could not be reached.');
    });
  }, []);

  const signedIn = (s: Session) => {
    setSession(s);
    setLoadError(undefined);
    go('/');
  };
  const signOut = async () => {
    setSignOutError(undefined);
    try {
      await api.signOut();
      setSession(null);
      go('/signin');
    } catch (e) {
      setSignOutError(e instanceof ApiError ? e.message : 'Signing out failed. Try again.');
    }
  };

  if (route.path === '/accept') return <Accept token={route.params.get('token') ?? ''} onSignedIn={signedIn} />;
  if (session === undefined) return <p class="loading" aria-live="polite">Loading…</p>;
  if (session === null || route.path === '/signin') {
    if (session) {
      go('/');
      return <p class="loading">Loading…</p>;
    }
    return (
      <>
        {loadError && <p class="error banner" role="alert">{loadError}</p>}
        <SignIn onSignedIn={signedIn} />
      </>
    );
  }
  return <Shell session={session} route={route} onSignOut={signOut} signOutError={signOutError} />;
}

render(<App />, document.getElementById('app')!);
