// Validates response bodies against the OpenAPI extracts in test/fixtures/specs (see SOURCES.md there).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SPECS_DIR = process.env.KEYPLANE_SPECS_DIR ?? path.resolve(here, '../fixtures/specs');

const cache = new Map<string, Ajv2020>();

function ajvFor(file: string): Ajv2020 {
  let ajv = cache.get(file);
  if (!ajv) {
    const spec = JSON.parse(fs.readFileSync(path.join(SPECS_DIR, file), 'utf8'));
    ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema(spec, file);
    cache.set(file, ajv);
  }
  return ajv;
}

const escape = (p: string) => p.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Asserts that `body` matches the spec's response schema for `method path` (a template such as
 * `/organization/admin_api_keys/{key_id}`) and `status`. Throws with the validation errors otherwise.
 */
export function assertMatchesSpec(file: string, method: string, pathTemplate: string, status: number | string, body: unknown): void {
  const ajv = ajvFor(file);
  const ref = `${file}#/paths/${escape(pathTemplate)}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`;
  const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
  if (!validate(body)) {
    throw new Error(`${method} ${pathTemplate} ${status} does not match ${file}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 800)}`);
  }
}
