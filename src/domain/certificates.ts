// Certificates: uploaded (PEM, public material) to an organization, then activated for the whole
// organization and/or for single projects. A certificate is deleted only once it is inactive
// everywhere. Activation and deactivation are atomic and idempotent over a list of ids.
import { X509Certificate } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Executor, Store } from '../store/db.ts';
import type { CertificatesTable } from '../store/schema.ts';
import { requireOrgAdmin, type Actor, requireProjectRead, requireOrgRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { lockOrganization } from './locks.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import { loadActiveProject, loadProject } from './projects.ts';

export type Certificate = Selectable<CertificatesTable>;
/** A certificate with its state at the scope it was listed for (organization or one project). */
export type ScopedCertificate = Certificate & { active: boolean };

/** Organizations can hold this many certificates (as OpenAI). */
export const MAX_CERTIFICATES_PER_ORG = 50;
/** Certificates activated or deactivated by one call. */
export const MAX_TOGGLE = 10;
/** Longest PEM accepted; real certificates are a few kilobytes. */
export const MAX_PEM_CHARS = 64 * 1024;

const PEM_CERT = /^-----BEGIN CERTIFICATE-----\r?\n(?:[A-Za-z0-9+/=]+\r?\n)+-----END CERTIFICATE-----$/;

export interface ParsedCertificate {
  /** Canonical PEM of the certificate. */
  pem: string;
  /** SHA-256 of the DER, upper-case hex pairs separated by colons. */
  fingerprint: string;
  validAt: number;
  expiresAt: number;
}

/** Parses exactly one PEM certificate; anything else (keys, garbage, bundles) is invalid. */
export function parseCertificate(text: string): ParsedCertificate {
  const pem = typeof text === 'string' ? text.trim() : '';
  const bad = (why: string) => invalid(`The certificate must be exactly one X.509 certificate in PEM format: ${why}.`, 'certificate', 'invalid_certificate');
  if (!pem) throw bad('it is empty');
  if (pem.length > MAX_PEM_CHARS) throw bad(`it is longer than ${MAX_PEM_CHARS} characters`);
  const blocks = pem.match(/-----BEGIN [^-\r\n]*-----/g) ?? [];
  if (blocks.some((b) => b !== '-----BEGIN CERTIFICATE-----')) throw bad('it contains something other than a certificate (a private key?)');
  if (blocks.length !== 1) throw bad(blocks.length ? `it holds ${blocks.length} certificates` : 'no PEM certificate block found');
  if (!PEM_CERT.test(pem)) throw bad('it is not a well-formed PEM block');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(pem);
  } catch {
    throw bad('it does not decode');
  }
  const validAt = Date.parse(x509.validFrom);
  const expiresAt = Date.parse(x509.validTo);
  if (!Number.isFinite(validAt) || !Number.isFinite(expiresAt)) throw bad('its validity period cannot be read');
  return { pem: x509.toString().trim() + '\n', fingerprint: x509.fingerprint256, validAt, expiresAt };
}

function cleanName(name: string | null | undefined): string | null {
  if (name === undefined || name === null) return null;
  const n = name.trim();
  if (n.length > 256) throw invalid('A certificate name has at most 256 characters.', 'name');
  return n || null;
}

async function loadCertificate(db: Executor, orgId: string, certificateId: string): Promise<Certificate> {
  const c = await db.selectFrom('certificates').selectAll().where('org_id', '=', orgId).where('id', '=', certificateId).executeTakeFirst();
  if (!c) throw notFound(`No such certificate: '${certificateId}'.`, 'certificate_id');
  return c;
}

/** Loads every certificate of `ids` (deduplicated, in request order) or fails naming the first missing one. */
async function loadMany(db: Executor, orgId: string, ids: string[]): Promise<Certificate[]> {
  const unique = [...new Set(ids)];
  if (!unique.length) throw invalid('certificate_ids needs at least one id.', 'certificate_ids');
  if (unique.length > MAX_TOGGLE) throw invalid(`At most ${MAX_TOGGLE} certificates can be changed at a time.`, 'certificate_ids');
  const rows = await db.selectFrom('certificates').selectAll().where('org_id', '=', orgId).where('id', 'in', unique).execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  const missing = unique.find((id) => !byId.has(id));
  if (missing) throw notFound(`No such certificate: '${missing}'.`, 'certificate_ids');
  return unique.map((id) => byId.get(id)!);
}

const brief = (c: Certificate) => ({ id: c.id, ...(c.name !== null ? { name: c.name } : {}) });

export class CertificateService {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async upload(actor: Actor, orgId: string, input: { certificate: string; name?: string | null }): Promise<Certificate> {
    requireOrgAdmin(actor, orgId);
    const parsed = parseCertificate(input.certificate);
    const name = cleanName(input.name);
    const now = this.now();
    return this.store.db.transaction().execute(async (tx) => {
      await lockOrganization(tx, orgId); // the cap is a count: concurrent uploads take turns (locks.ts)
      const count = await tx.selectFrom('certificates').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', orgId).executeTakeFirstOrThrow();
      if (Number(count.n) >= MAX_CERTIFICATES_PER_ORG) {
        throw invalid(`An organization can hold at most ${MAX_CERTIFICATES_PER_ORG} certificates; delete one first.`, 'certificate', 'certificate_limit_reached');
      }
      const dup = await tx.selectFrom('certificates').select('id').where('org_id', '=', orgId).where('fingerprint', '=', parsed.fingerprint).executeTakeFirst();
      if (dup) throw conflict(`This certificate is already uploaded as '${dup.id}'.`, 'certificate');
      const cert: Certificate = {
        id: newId(ID_PREFIX.certificate, now),
        org_id: orgId,
        name,
        content: parsed.pem,
        fingerprint: parsed.fingerprint,
        valid_at: parsed.validAt,
        expires_at: parsed.expiresAt,
        org_active: 0,
        created_at: now,
      };
      await tx.insertInto('certificates').values(cert).execute();
      await recordAudit(tx, actor, { orgId, type: 'certificate.created', targetType: 'certificate', targetId: cert.id, payload: { ...brief(cert), fingerprint: cert.fingerprint } }, now);
      return cert;
    });
  }

  async get(actor: Actor, orgId: string, certificateId: string): Promise<Certificate> {
    requireOrgRead(actor, orgId);
    return loadCertificate(this.store.db, orgId, certificateId);
  }

  /** The organization's certificates, `active` at organization level. */
  async list(actor: Actor, orgId: string, page: PageQuery): Promise<Page<ScopedCertificate>> {
    requireOrgRead(actor, orgId);
    const q = this.store.db.selectFrom('certificates').selectAll().where('org_id', '=', orgId);
    const p = await keysetPage(q, 'certificates', page);
    return { items: p.items.map((c) => ({ ...c, active: c.org_active === 1 })), hasMore: p.hasMore };
  }

  async rename(actor: Actor, orgId: string, certificateId: string, name: string | null | undefined): Promise<Certificate> {
    requireOrgAdmin(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => {
      const c = await loadCertificate(tx, orgId, certificateId);
      if (name === undefined) return c;
      const n = cleanName(name);
      if (n === c.name) return c;
      await tx.updateTable('certificates').set({ name: n }).where('id', '=', c.id).execute();
      const updated = { ...c, name: n };
      await recordAudit(tx, actor, { orgId, type: 'certificate.updated', targetType: 'certificate', targetId: c.id, payload: brief(updated) });
      return updated;
    });
  }

  /** Deletes a certificate that is inactive for the organization and every project. */
  async delete(actor: Actor, orgId: string, certificateId: string): Promise<Certificate> {
    requireOrgAdmin(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => {
      const c = await loadCertificate(tx, orgId, certificateId);
      if (c.org_active === 1) {
        throw invalid(`Certificate '${c.id}' is active for the organization; deactivate it before deleting it.`, 'certificate_id', 'certificate_active');
      }
      const inProject = await tx.selectFrom('project_certificates').select('project_id').where('certificate_id', '=', c.id).executeTakeFirst();
      if (inProject) {
        throw invalid(`Certificate '${c.id}' is active for project '${inProject.project_id}'; deactivate it there before deleting it.`, 'certificate_id', 'certificate_active');
      }
      await tx.deleteFrom('certificates').where('id', '=', c.id).execute();
      await recordAudit(tx, actor, { orgId, type: 'certificate.deleted', targetType: 'certificate', targetId: c.id, payload: { ...brief(c), content: c.content } });
      return c;
    });
  }

  /** Activates (or deactivates) certificates for the organization: all or nothing, idempotent. */
  async setOrgActive(actor: Actor, orgId: string, certificateIds: string[], active: boolean): Promise<ScopedCertificate[]> {
    requireOrgAdmin(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => {
      const certs = await loadMany(tx, orgId, certificateIds);
      const flag = active ? 1 : 0;
      const stale = certs.filter((c) => c.org_active !== flag);
      // only the rows this very update changed: a concurrent activation that committed first (on
      // PostgreSQL the update re-reads a row another transaction changed) is not audited twice
      const updated = stale.length
        ? await tx.updateTable('certificates').set({ org_active: flag }).where('org_id', '=', orgId).where('id', 'in', stale.map((c) => c.id)).where('org_active', '!=', flag).returning('id').execute()
        : [];
      const ids = new Set(updated.map((r) => r.id));
      const changed = stale.filter((c) => ids.has(c.id));
      if (changed.length) {
        await recordAudit(tx, actor, {
          orgId,
          type: active ? 'certificates.activated' : 'certificates.deactivated',
          targetType: 'certificate',
          targetId: changed.length === 1 ? changed[0]!.id : undefined,
          payload: { certificates: changed.map(brief) },
        });
      }
      return certs.map((c) => ({ ...c, org_active: flag, active }));
    });
  }

  /** The organization's certificates, `active` for one project (archived projects can be read). */
  async listForProject(actor: Actor, orgId: string, projectId: string, page: PageQuery): Promise<Page<ScopedCertificate>> {
    requireProjectRead(actor, orgId, projectId);
    const db = this.store.db;
    await loadProject(db, orgId, projectId);
    const q = db
      .selectFrom('certificates')
      .leftJoin('project_certificates', (j) =>
        j.onRef('project_certificates.certificate_id', '=', 'certificates.id').on('project_certificates.project_id', '=', projectId),
      )
      .selectAll('certificates')
      .select('project_certificates.project_id as active_in')
      .where('certificates.org_id', '=', orgId);
    const p = await keysetPage(q, 'certificates', page);
    return { items: p.items.map(({ active_in, ...c }) => ({ ...c, active: active_in !== null })), hasMore: p.hasMore };
  }

  /** Activates (or deactivates) certificates for one active project: all or nothing, idempotent. */
  async setProjectActive(actor: Actor, orgId: string, projectId: string, certificateIds: string[], active: boolean): Promise<ScopedCertificate[]> {
    requireOrgAdmin(actor, orgId);
    const now = this.now();
    return this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const certs = await loadMany(tx, orgId, certificateIds);
      const ids = certs.map((c) => c.id);
      const current = new Set(
        (await tx.selectFrom('project_certificates').select('certificate_id').where('project_id', '=', projectId).where('certificate_id', 'in', ids).execute()).map(
          (r) => r.certificate_id,
        ),
      );
      const stale = certs.filter((c) => current.has(c.id) !== active);
      // only the rows this very statement inserted or deleted: a concurrent activation (or
      // deactivation) that committed first is not audited twice
      let written: Array<{ certificate_id: string }> = [];
      if (stale.length && active) {
        written = await tx
          .insertInto('project_certificates')
          .values(stale.map((c) => ({ project_id: projectId, certificate_id: c.id, org_id: orgId, created_at: now })))
          .onConflict((oc) => oc.columns(['project_id', 'certificate_id']).doNothing()) // a concurrent activation won
          .returning('certificate_id')
          .execute();
      } else if (stale.length) {
        written = await tx.deleteFrom('project_certificates').where('project_id', '=', projectId).where('certificate_id', 'in', stale.map((c) => c.id)).returning('certificate_id').execute();
      }
      const done = new Set(written.map((r) => r.certificate_id));
      const changed = stale.filter((c) => done.has(c.id));
      if (changed.length) {
        await recordAudit(
          tx,
          actor,
          {
            orgId,
            type: active ? 'certificates.activated' : 'certificates.deactivated',
            targetType: 'certificate',
            targetId: changed.length === 1 ? changed[0]!.id : undefined,
            projectId,
            payload: { certificates: changed.map(brief) },
          },
          now,
        );
      }
      return certs.map((c) => ({ ...c, active }));
    });
  }
}
