import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { api, ApiError, type Session } from './api.ts';
import { Field, FormError } from './Field.tsx';

type Errors = Partial<Record<'name' | 'password' | 'password2' | 'form', string>>;

export function Accept(props: { token: string; onSignedIn: (s: Session) => void }): JSX.Element {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [password2, setPassword2] = useState('');
  const [errors, setErrors] = useState<Errors>(props.token ? {} : { form: 'This invitation link has no token. Open the link from your invitation again.' });
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const found: Errors = {};
    if (!props.token) found.form = 'This invitation link has no token. Open the link from your invitation again.';
    if (!name.trim()) found.name = 'Enter your name.';
    if (password.length < 12) found.password = 'Use at least 12 characters.';
    if (password2 !== password) found.password2 = 'The two passwords are not the same.';
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      props.onSignedIn(await api.acceptInvite({ token: props.token, name: name.trim(), password }));
    } catch (err) {
      setErrors({ form: err instanceof ApiError ? err.message : 'Something went wrong. Try again.' });
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="card narrow" aria-labelledby="accept-title">
      <h1 id="accept-title">Accept your invitation</h1>
      <p>Choose your name and a password to join the organization.</p>
      <form id="accept-form" onSubmit={submit} noValidate>
        <Field id="name" label="Your name" autoComplete="name" value={name} onInput={setName} error={errors.name} required />
        <Field id="new-password" label="Password" type="password" autoComplete="new-password" hint="At least 12 characters." value={password} onInput={setPassword} error={errors.password} required />
        <Field id="new-password2" label="Password again" type="password" autoComplete="new-password" value={password2} onInput={setPassword2} error={errors.password2} required />
        <FormError id="accept-error" error={errors.form} />
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Joining…' : 'Join'}</button>
      </form>
    </main>
  );
}
