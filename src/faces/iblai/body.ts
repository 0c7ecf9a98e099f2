// Request bodies of the ibl.ai face: JSON (inherited from the server), and, as DRF accepts them,
// application/x-www-form-urlencoded and multipart/form-data (text fields; a JSON field such as
// `value` or `data` is then a JSON string). Fields are read with DRF's rules and messages, every
// error of a body collected before answering.
import type { FastifyInstance } from 'fastify';
import { Busboy, type BusboyHeaders } from '@fastify/busboy';
import { ADMIN_BODY_LIMIT as BODY_LIMIT } from '../kit.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../json-depth.ts';
import { DrfParseError, DrfValidationError, type FieldErrors } from './envelope.ts';

/** Marks a body that came from a form: its values are text. */
const FORM = Symbol('form');

type FormBody = Record<string, string | string[]>;

function formObject(pairs: Iterable<[string, string]>): FormBody {
  const out: FormBody = Object.create(null);
  for (const [k, v] of pairs) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  Object.defineProperty(out, FORM, { value: true, enumerable: false });
  return out;
}

/** Limits of a multipart/form-data body: text fields only, within the server's body limit. */
const MULTIPART_LIMITS = { fieldSize: BODY_LIMIT, fields: 200, parts: 200, fieldNameSize: 200 };

/** Adds the form parsers to the face's (encapsulated) plugin. */
export function addFormParsers(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, formObject(new URLSearchParams(body as string).entries()));
  });
  // multipart through busboy (the parser @fastify/multipart uses); file parts are refused
  app.addContentTypeParser('multipart/form-data', (req, payload, done) => {
    let finished = false;
    const finish = (err: Error | null, body?: FormBody) => {
      if (finished) return;
      finished = true;
      if (err) done(err, undefined);
      else done(null, body);
    };
    let bb: ReturnType<typeof Busboy>;
    try {
      bb = Busboy({ headers: req.headers as BusboyHeaders, limits: MULTIPART_LIMITS });
    } catch {
      return finish(new DrfParseError('Multipart form parse error - Invalid boundary in multipart: None'));
    }
    const pairs: Array<[string, string]> = [];
    let failure: DrfParseError | null = null;
    bb.on('field', (name, value, nameTruncated, valueTruncated) => {
      if (nameTruncated || valueTruncated) failure ??= new DrfParseError('Multipart form parse error - a field is too large.');
      else pairs.push([name, value]);
    });
    bb.on('file', (_name, stream) => {
      failure ??= new DrfParseError('File uploads are not accepted here; send text fields.');
      stream.resume();
    });
    for (const limit of ['partsLimit', 'fieldsLimit'] as const) bb.on(limit, () => (failure ??= new DrfParseError('Multipart form parse error - too many fields.')));
    bb.on('error', (err) => finish(new DrfParseError(`Multipart form parse error - ${(err as Error)?.message ?? 'malformed body'}`)));
    bb.on('finish', () => finish(failure, failure ? undefined : formObject(pairs)));
    payload.on('error', (err) => finish(err));
    payload.pipe(bb);
  });
}

/** Python's name of a JSON value's type, as DRF's messages show it. */
function pyType(v: unknown): string {
  if (v === null) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return 'dict';
}

const TRUE = new Set<unknown>(['t', 'T', 'y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON', '1', 1, true]);
const FALSE = new Set<unknown>(['f', 'F', 'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF', '0', 0, false]);

/** A DRF serializer in miniature: read fields, collect errors, then `done()`. */
export class Fields {
  readonly errors: FieldErrors = {};
  private readonly data: Record<string, unknown>;
  private readonly form: boolean;

  constructor(body: unknown) {
    if (body === undefined || body === null) body = {};
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw new DrfValidationError({ non_field_errors: [`Invalid data. Expected a dictionary, but got ${pyType(body)}.`] });
    }
    this.data = body as Record<string, unknown>;
    this.form = FORM in (body as object);
  }

  add(field: string, message: string): void {
    (this.errors[field] ??= []).push(message);
  }

  has(field: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.data, field);
  }

  /** The raw value; in a form, the last one given (as Django's QueryDict does). */
  private raw(field: string): unknown {
    const v = this.data[field];
    return this.form && Array.isArray(v) ? v[v.length - 1] : v;
  }

  string(field: string, opts: { required?: boolean; nullable?: boolean; max?: number } = {}): string | null | undefined {
    if (!this.has(field)) {
      if (opts.required) this.add(field, 'This field is required.');
      return undefined;
    }
    const v = this.raw(field);
    if (v === null) {
      if (!opts.nullable) this.add(field, 'This field may not be null.');
      return null;
    }
    if (typeof v !== 'string') return void this.add(field, 'Not a valid string.');
    if (!v.trim()) return void this.add(field, 'This field may not be blank.');
    const max = opts.max ?? 255;
    if (v.length > max) return void this.add(field, `Ensure this field has no more than ${max} characters.`);
    return v;
  }

  bool(field: string): boolean | undefined {
    if (!this.has(field)) return undefined;
    const v = this.raw(field);
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    this.add(field, 'Must be a valid boolean.');
    return undefined;
  }

  /** Any JSON value (a JSON string in a form). */
  json(field: string, opts: { required?: boolean; nullable?: boolean } = {}): unknown {
    if (!this.has(field)) {
      if (opts.required) this.add(field, 'This field is required.');
      return undefined;
    }
    let v = this.raw(field);
    if (this.form && typeof v === 'string') {
      if (jsonTooDeep(Buffer.from(v, 'utf8'))) return void this.add(field, `Value is nested too deeply: at most ${MAX_JSON_DEPTH} levels of arrays and objects.`);
      try {
        v = JSON.parse(v);
      } catch {
        return void this.add(field, 'Value must be valid JSON.');
      }
    }
    if (v === null && !opts.nullable) return void this.add(field, 'This field may not be null.');
    return v;
  }

  /** A JSON object (a JSON string in a form). */
  object(field: string, opts: { required?: boolean; nullable?: boolean } = {}): Record<string, unknown> | null | undefined {
    const errorsBefore = this.errors[field]?.length ?? 0;
    const v = this.json(field, opts);
    if (v === undefined || (this.errors[field]?.length ?? 0) > errorsBefore) return undefined;
    if (v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) return void this.add(field, `Expected a dictionary of items but got type "${pyType(v)}".`);
    return v as Record<string, unknown>;
  }

  /** A list of non-blank strings (repeated keys in a form). */
  stringList(field: string): string[] | undefined {
    if (!this.has(field)) return undefined;
    let v = this.data[field];
    if (this.form && typeof v === 'string') v = [v];
    if (!Array.isArray(v)) return void this.add(field, `Expected a list of items but got type "${pyType(v)}".`);
    const bad = v.findIndex((x) => typeof x !== 'string' || !x.trim() || x.length > 255);
    if (bad >= 0) return void this.add(field, `Item ${bad}: ${typeof v[bad] === 'string' ? 'This field may not be blank.' : 'Not a valid string.'}`);
    return v as string[];
  }

  /** Throws the collected errors, if any. */
  done(): void {
    if (Object.keys(this.errors).length) throw new DrfValidationError(this.errors);
  }
}

/** A query parameter: absent, or one non-blank value (the last when repeated). */
export function queryParam(query: unknown, name: string, errors: FieldErrors): string | undefined {
  const q = (query ?? {}) as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(q, name)) return undefined;
  let v = q[name];
  if (Array.isArray(v)) v = v[v.length - 1];
  if (typeof v !== 'string' || !v.trim()) {
    (errors[name] ??= []).push('This field may not be blank.');
    return undefined;
  }
  if (v.length > 255) {
    (errors[name] ??= []).push('Ensure this field has no more than 255 characters.');
    return undefined;
  }
  return v;
}
