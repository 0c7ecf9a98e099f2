// /v1/organization/certificates (upload, list, retrieve, update, delete, activate, deactivate) and
// /v1/organization/projects/{project_id}/certificates (list, activate, deactivate).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { MAX_PEM_CHARS, MAX_TOGGLE, type Certificate, type ScopedCertificate } from '../../domain/certificates.ts';
import { toUnixSeconds } from '../common.ts';
import { cursorList } from '../shared/openai-wire.ts';
import { Id, Order, PageQuery } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

type CertObject = 'certificate' | 'organization.certificate' | 'organization.project.certificate';

export function formatCertificate(c: Certificate, object: CertObject, extra: { active?: boolean; content?: boolean } = {}) {
  return {
    object,
    id: c.id,
    name: c.name,
    created_at: toUnixSeconds(c.created_at),
    certificate_details: {
      valid_at: toUnixSeconds(c.valid_at),
      expires_at: toUnixSeconds(c.expires_at),
      ...(extra.content ? { content: c.content } : {}),
    },
    ...(extra.active !== undefined ? { active: extra.active } : {}),
  };
}

const scoped = (object: 'organization.certificate' | 'organization.project.certificate') => (c: ScopedCertificate) =>
  formatCertificate(c, object, { active: c.active });

const ListQuery = Type.Object({ ...PageQuery, order: Type.Optional(Order) });
const CertParams = Type.Object({ certificate_id: Id });
const ProjectParams = Type.Object({ project_id: Id });
const Name = Type.Union([Type.String({ maxLength: 256 }), Type.Null()]);
const UploadBody = Type.Object({
  certificate: Type.String({ minLength: 1, maxLength: MAX_PEM_CHARS }),
  name: Type.Optional(Name),
});
const UpdateBody = Type.Object({ name: Type.Optional(Name) });
const ToggleBody = Type.Object({ certificate_ids: Type.Array(Id, { minItems: 1, maxItems: MAX_TOGGLE }) });
const Include = Type.Optional(Type.Array(Type.Literal('content'), { maxItems: 10 }));
// The SDK sends `include[]=content`; plain `include=content` is accepted too.
const RetrieveQuery = Type.Object({ 'include[]': Include, include: Include });

export const certificatesRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const base = '/organization/certificates';
  const page = (q: { limit?: number; after?: string; order?: 'asc' | 'desc' }) => ({ limit: q.limit ?? 20, after: q.after, order: q.order ?? 'desc' });

  app.get(base, { schema: { response: R.ok(R.CursorPage(R.Certificate)), querystring: ListQuery } }, async (req) => {
    const p = await core.certificates.list(req.actor, req.org.id, page(req.query));
    return cursorList(p.items.map(scoped('organization.certificate')), p.hasMore);
  });

  app.post(base, { schema: { response: R.ok(R.Certificate), body: UploadBody } }, async (req) =>
    formatCertificate(await core.certificates.upload(req.actor, req.org.id, { certificate: req.body.certificate, name: req.body.name }), 'certificate'),
  );

  app.post(`${base}/activate`, { schema: { response: R.ok(R.CertificateToggle), body: ToggleBody } }, async (req) => ({
    object: 'organization.certificate.activation' as const,
    data: (await core.certificates.setOrgActive(req.actor, req.org.id, req.body.certificate_ids, true)).map(scoped('organization.certificate')),
  }));

  app.post(`${base}/deactivate`, { schema: { response: R.ok(R.CertificateToggle), body: ToggleBody } }, async (req) => ({
    object: 'organization.certificate.deactivation' as const,
    data: (await core.certificates.setOrgActive(req.actor, req.org.id, req.body.certificate_ids, false)).map(scoped('organization.certificate')),
  }));

  app.get(`${base}/:certificate_id`, { schema: { response: R.ok(R.Certificate), params: CertParams, querystring: RetrieveQuery } }, async (req) => {
    const content = [...(req.query['include[]'] ?? []), ...(req.query.include ?? [])].includes('content');
    return formatCertificate(await core.certificates.get(req.actor, req.org.id, req.params.certificate_id), 'certificate', { content });
  });

  app.post(`${base}/:certificate_id`, { schema: { response: R.ok(R.Certificate), params: CertParams, body: UpdateBody } }, async (req) =>
    formatCertificate(await core.certificates.rename(req.actor, req.org.id, req.params.certificate_id, req.body.name), 'certificate'),
  );

  app.delete(`${base}/:certificate_id`, { schema: { response: R.ok(R.CertificateDeleted), params: CertParams } }, async (req) => {
    const c = await core.certificates.delete(req.actor, req.org.id, req.params.certificate_id);
    return { object: 'certificate.deleted' as const, id: c.id };
  });

  const projectBase = '/organization/projects/:project_id/certificates';

  app.get(projectBase, { schema: { response: R.ok(R.CursorPage(R.Certificate)), params: ProjectParams, querystring: ListQuery } }, async (req) => {
    const p = await core.certificates.listForProject(req.actor, req.org.id, req.params.project_id, page(req.query));
    return cursorList(p.items.map(scoped('organization.project.certificate')), p.hasMore);
  });

  app.post(`${projectBase}/activate`, { schema: { response: R.ok(R.CertificateToggle), params: ProjectParams, body: ToggleBody } }, async (req) => ({
    object: 'organization.project.certificate.activation' as const,
    data: (await core.certificates.setProjectActive(req.actor, req.org.id, req.params.project_id, req.body.certificate_ids, true)).map(
      scoped('organization.project.certificate'),
    ),
  }));

  app.post(`${projectBase}/deactivate`, { schema: { response: R.ok(R.CertificateToggle), params: ProjectParams, body: ToggleBody } }, async (req) => ({
    object: 'organization.project.certificate.deactivation' as const,
    data: (await core.certificates.setProjectActive(req.actor, req.org.id, req.params.project_id, req.body.certificate_ids, false)).map(
      scoped('organization.project.certificate'),
    ),
  }));
};
