import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { api, ApiError, type Session } from './api.ts';
import { Field, FormError } from './Field.tsx';
import { parseHash } from './route.ts';

/** GET /console/api/oidc: whether the server offers OpenID Connect sign-in, and the provider's name. */
interface OidcInfo { enabled: boolean; name?: string; login_url?: string }

type Errors = Partial<Record<'email' | 'password' | 'org' | 'root_key' | 'form', string>>;

const message = (e: unknown): string => (e instanceof ApiError ? e.message : 'Something went wrong. Try again.');

export function SignIn(props: { onSignedIn: (s: Session) => void }): JSX.Element {
  const [tab, setTab] = useState<'user' | 'operator'>('user');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [org, setOrg] = useState('');
  const [rootKey, setRootKey] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [oidc, setOidc] = useState<OidcInfo>({ enabled: false });
  // a failed OpenID Connect sign-in comes back as #/signin?error=<plain words>
  const [oidcError] = useState(() => parseHash(location.hash).params.get('error') ?? undefined);

  useEffect(() => {
    let live = true;
    fetch('/console/api/oidc', { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then((r) => (r.ok ? (r.json() as Promise<OidcInfo>) : { enabled: false }))
      .then((info) => live && setOidc(info), () => {});
    return () => {
      live = false;
    };
  }, []);

  async function submit(e: Event) {
    e.preventDefault();
    const found: Errors = {};
    if (tab === 'user') {
      if (!email.trim()) found.email = 'Enter your email address.';
      else if (!/^[^\s@]+@[^\s@]+$/.test(email.trim())) found.email = 'This is not an email address.';
      if (!password) found.password = 'Enter your password.';
    } else if (!rootKey.trim()) found.root_key = 'Enter the root key.';
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const creds = tab === 'user' ? { email: email.trim(), password, ...(org.trim() ? { org: org.trim() } : {}) } : { root_key: rootKey.trim() };
      props.onSignedIn(await api.signIn(creds));
    } catch (err) {
      setErrors({ form: message(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="card narrow" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in to keyplane</h1>
      <div class="tabs" role="tablist" aria-label="How to sign in">
        <button type="button" role="tab" id="tab-user" aria-selected={tab === 'user'} onClick={() => (setTab('user'), setErrors({}))}>Email and password</button>
        <button type="button" role="tab" id="tab-operator" aria-selected={tab === 'operator'} onClick={() => (setTab('operator'), setErrors({}))}>Operator (root key)</button>
      </div>
      <form id="signin-form" onSubmit={submit} noValidate aria-describedby={errors.form ? 'signin-error' : undefined}>
        {tab === 'user' ? (
          <>
            <Field id="email" label="Email" type="email" autoComplete="username" value={email} onInput={setEmail} error={errors.email} required />
            <Field id="password" label="Password" type="password" autoComplete="current-password" value={password} onInput={setPassword} error={errors.password} required />
            <Field id="org" label="Organization (optional)" hint="The organization's slug, if you belong to more than one." value={org} onInput={setOrg} error={errors.org} />
          </>
        ) : (
          <Field id="root_key" label="Root key" type="password" autoComplete="off" hint="The operator's KEYPLANE_ROOT_KEY." value={rootKey} onInput={setRootKey} error={errors.root_key} required />
        )}
        <FormError id="signin-error" error={errors.form} />
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      {oidcError && <p class="error form-error" role="alert" id="signin-oidc-error">{oidcError}</p>}
      {oidc.enabled && tab === 'user' && (
        <div class="oidc">
          <p class="muted or">or</p>
          <a class="button" id="signin-oidc" href={oidc.login_url ?? '/console/api/oidc/login'}>Sign in with {oidc.name}</a>
        </div>
      )}
    </main>
  );
}
