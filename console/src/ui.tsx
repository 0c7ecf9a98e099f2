// Small building blocks every console page uses: loading a resource, a keyset pager, a confirmation
// before anything destructive, a secret shown once with a copy button, and errors in plain words.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren, JSX } from 'preact';
import { errorText } from './api.ts';

/** Loads `fn()` when `deps` change; `reload()` loads again. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: string | undefined; loading: boolean; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    fn().then(
      (d) => live && (setData(d), setError(undefined), setLoading(false)),
      (e) => live && (setError(errorText(e)), setLoading(false)),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { data, error, loading, reload: useCallback(() => setTick((t) => t + 1), []) };
}

/**
 * A keyset-paged list: `fetchPage(after)` returns a page of items with the cursor of the next one
 * (null at the end). "Next"/"Previous" keep a stack of cursors, so a list of a million rows pages
 * as fast as the first page.
 */
export function usePager<T>(fetchPage: (after: string | null) => Promise<{ items: T[]; next: string | null }>, deps: unknown[]) {
  const [stack, setStack] = useState<Array<string | null>>([null]);
  const after = stack[stack.length - 1] ?? null;
  const load = useLoad(() => fetchPage(after), [after, ...deps]);
  useEffect(() => setStack([null]), deps); // eslint-disable-line react-hooks/exhaustive-deps
  return {
    ...load,
    items: load.data?.items ?? [],
    page: stack.length,
    hasNext: !!load.data?.next,
    hasPrev: stack.length > 1,
    next: () => load.data?.next && setStack((s) => [...s, load.data!.next]),
    prev: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
  };
}

export function Pager(props: { id: string; page: number; hasPrev: boolean; hasNext: boolean; prev: () => void; next: () => void }): JSX.Element | null {
  if (!props.hasPrev && !props.hasNext) return null;
  return (
    <div class="pager" id={props.id}>
      <button type="button" disabled={!props.hasPrev} onClick={props.prev}>Previous</button>
      <span class="muted">Page {props.page}</span>
      <button type="button" disabled={!props.hasNext} onClick={props.next}>Next</button>
    </div>
  );
}

/** An error in plain words, next to what caused it. */
export function ErrorNote(props: { id?: string; error?: string | undefined }): JSX.Element | null {
  return props.error ? <p class="error form-error" id={props.id} role="alert">{props.error}</p> : null;
}

/**
 * A button that asks before it acts: the first click opens a confirmation naming what will happen,
 * "Yes, …" runs `onConfirm`; its error is shown beside the button.
 */
export function ConfirmButton(props: { id: string; label: string; question: string; confirmLabel?: string; onConfirm: () => Promise<unknown>; danger?: boolean; disabled?: boolean }): JSX.Element {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) yes.current?.focus();
  }, [open]);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm();
      setOpen(false);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="confirm">
      {!open ? (
        <button type="button" id={props.id} class={props.danger === false ? '' : 'danger'} disabled={props.disabled} onClick={() => (setOpen(true), setError(undefined))}>{props.label}</button>
      ) : (
        <span class="confirm-box" role="alertdialog" aria-labelledby={`${props.id}-q`}>
          <span id={`${props.id}-q`}>{props.question}</span>
          <button type="button" ref={yes} id={`${props.id}-yes`} class="danger" disabled={busy} onClick={run}>{props.confirmLabel ?? `Yes, ${props.label.toLowerCase()}`}</button>
          <button type="button" id={`${props.id}-no`} disabled={busy} onClick={() => setOpen(false)}>Cancel</button>
        </span>
      )}
      {error && <span class="error" role="alert" id={`${props.id}-error`}>{error}</span>}
    </span>
  );
}

/** A secret shown once (a new API key): a read-only field, a copy button, and the warning. */
export function SecretOnce(props: { id: string; secret: string; onDone?: () => void }): JSX.Element {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.secret);
      setCopied(true);
    } catch {
      // the clipboard may be refused (no permission, plain http): the field stays selectable
      (document.getElementById(`${props.id}-value`) as HTMLInputElement | null)?.select();
    }
  };
  return (
    <div class="secret-once" id={props.id} role="status">
      <p><strong>Copy this key now.</strong> keyplane keeps only its hash: it will not be shown again.</p>
      <div class="secret-row">
        <input id={`${props.id}-value`} readOnly value={props.secret} aria-label="The new secret" onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
        <button type="button" id={`${props.id}-copy`} onClick={copy}>{copied ? 'Copied' : 'Copy'}</button>
      </div>
      {props.onDone && <button type="button" id={`${props.id}-done`} onClick={props.onDone}>I have copied it</button>}
    </div>
  );
}

/** A page's frame: its title, optional actions, then its content. */
export function Page(props: { title: string; actions?: ComponentChildren; children: ComponentChildren }): JSX.Element {
  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">{props.title}</h1>
        {props.actions && <div class="page-actions">{props.actions}</div>}
      </div>
      {props.children}
    </section>
  );
}

/** Unix seconds (or milliseconds) as a short local date and time; "—" for none. */
export function when(t: number | null | undefined): string {
  if (t === null || t === undefined) return '—';
  const ms = t < 1e12 ? t * 1000 : t;
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
