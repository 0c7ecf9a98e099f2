import type { InputHTMLAttributes, JSX } from 'preact';

/** A labelled input with its error, in plain words, right under it (and tied to it for screen readers). */
export function Field(props: {
  id: string;
  label: string;
  type?: 'text' | 'email' | 'password';
  value: string;
  onInput: (v: string) => void;
  error?: string | undefined;
  hint?: string;
  autoComplete?: string;
  required?: boolean;
}): JSX.Element {
  const described = [props.hint ? `${props.id}-hint` : '', props.error ? `${props.id}-error` : ''].filter(Boolean).join(' ');
  // Preact's types tie each input type to its own attributes; this field's type is one of three
  const inputAttrs = {
    id: props.id,
    name: props.id,
    type: props.type ?? 'text',
    value: props.value,
    onInput: (e: Event) => props.onInput((e.currentTarget as HTMLInputElement).value),
    autoComplete: props.autoComplete,
    required: props.required,
    'aria-invalid': props.error ? 'true' : undefined,
    'aria-describedby': described || undefined,
  } as InputHTMLAttributes<HTMLInputElement>;
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.hint && <p class="hint" id={`${props.id}-hint`}>{props.hint}</p>}
      <input {...inputAttrs} />
      {props.error && <p class="error" id={`${props.id}-error`} role="alert">{props.error}</p>}
    </div>
  );
}

export function FormError(props: { id: string; error?: string | undefined }): JSX.Element | null {
  return props.error ? <p class="error form-error" id={props.id} role="alert">{props.error}</p> : null;
}

/**
 * A labelled textarea with its hint and error under it. `code`: a value such as JSON or a secret
 * (no spell-checking, no autocomplete).
 */
export function TextAreaField(props: { id: string; label: string; value: string; onInput: (v: string) => void; hint?: string | undefined; error?: string | undefined; rows?: number; code?: boolean }): JSX.Element {
  const described = [props.hint ? `${props.id}-hint` : '', props.error ? `${props.id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.hint && <p class="hint" id={`${props.id}-hint`}>{props.hint}</p>}
      <textarea
        id={props.id}
        name={props.id}
        rows={props.rows ?? 3}
        value={props.value}
        {...(props.code ? { spellcheck: false, autoComplete: 'off' } : {})}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={described || undefined}
        onInput={(e) => props.onInput((e.currentTarget as HTMLTextAreaElement).value)}
      />
      {props.error && <p class="error" id={`${props.id}-error`} role="alert">{props.error}</p>}
    </div>
  );
}
