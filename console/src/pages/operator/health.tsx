// This node's health: the unauthenticated probes GET /healthz (liveness) and GET /readyz (readiness:
// the database answers; `degraded` while the shared rate limiter's Redis is unusable). keyplane keeps
// no list of a cluster's nodes: this is the node that served the console.
import { Fragment, type JSX } from 'preact';
import { useLoad } from '../../ui.tsx';

interface Probe { http: number; body: Record<string, unknown> | null; error?: string }

async function probe(url: string): Promise<Probe> {
  try {
    const res = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
    const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
    return { http: res.status, body };
  } catch {
    return { http: 0, body: null, error: 'keyplane could not be reached.' };
  }
}

function ProbePanel(props: { id: string; title: string; url: string; what: string; probe: Probe | undefined }): JSX.Element {
  const p = props.probe;
  const ok = p && p.http >= 200 && p.http < 300;
  return (
    <div class="panel" id={props.id}>
      <h2>{props.title} <span class={`badge ${ok ? 'ok' : 'bad'}`} id={`${props.id}-badge`}>{!p ? '…' : ok ? 'OK' : p.http ? `HTTP ${p.http}` : 'unreachable'}</span></h2>
      <p class="muted">{props.what} (<code>GET {props.url}</code>)</p>
      {p?.error && <p class="error" role="alert">{p.error}</p>}
      {p?.body && (
        <dl class="facts">
          {Object.entries(p.body).map(([k, v]) => (
            <Fragment key={k}>
              <dt>{k}</dt>
              <dd id={`${props.id}-${k}`}>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
            </Fragment>
          ))}
        </dl>
      )}
    </div>
  );
}

export function NodeHealth(): JSX.Element {
  const probes = useLoad(async () => ({ live: await probe('/healthz'), ready: await probe('/readyz'), at: Date.now() }), []);
  return (
    <>
      <div class="inline-form">
        <button type="button" id="operator-health-refresh" onClick={probes.reload} disabled={probes.loading}>{probes.loading ? 'Checking…' : 'Check again'}</button>
        {probes.data && <span class="muted" id="operator-health-at">Checked {new Date(probes.data.at).toLocaleTimeString()}</span>}
      </div>
      <ProbePanel id="operator-health-ready" title="Readiness" url="/readyz" what="Whether this node serves requests: its database answers" probe={probes.data?.ready} />
      <ProbePanel id="operator-health-live" title="Liveness" url="/healthz" what="Whether this node's process is up" probe={probes.data?.live} />
      <p class="muted" id="operator-health-note">
        These are the probes of the node that served this page. The probes report status, role and database; they do not report a version or uptime, and keyplane keeps no list of a cluster's nodes (each node answers its own probes).
      </p>
    </>
  );
}
