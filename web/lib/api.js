// The API: a person's requests ride the session cookie (same origin only) and writes carry the
// session's CSRF token; an API token goes in the Authorization header. Errors read in the staff's
// language.
import { hasText, t } from '../i18n.js';
import { html, piece, view } from './html.js';
import { signOut } from './live.js';
import { session } from './state.js';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** The credential headers of a request: the token's bearer, or a session write's CSRF token. */
export function authHeaders(method = 'GET', token) {
  const s = session.get();
  const bearer = token ?? (s?.via === 'session' ? null : s?.token);
  if (bearer) return { Authorization: `Bearer ${bearer}` };
  if (s?.via === 'session' && !['GET', 'HEAD'].includes(method))
    return { 'X-CSRF-Token': s.csrfToken };
  return {};
}

/**
 * `background: true` marks a request the page makes by itself (a refetch on a live update): the
 * server does not count it as use of the session, so a page left open still times out when idle.
 */
export async function api(
  path,
  { method = 'GET', body, token, raw: wantRaw, headers: extra, background = false } = {},
) {
  const headers = {
    ...authHeaders(method, token),
    ...(background ? { 'X-Dalaba-Background': '1' } : {}),
    ...extra,
  };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (res.status === 401 && token === undefined) {
    const code = (await res.json().catch(() => null))?.error;
    signOut({ expired: code === 'SESSION_EXPIRED', tellServer: false });
    throw new ApiError(401, { message: t('login.bad'), error: code });
  }
  if (wantRaw && res.ok) return res;
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (res.status === 403 && data?.error === 'PASSWORD_CHANGE_REQUIRED')
    location.hash = '#/password';
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** Every page of a list endpoint; `options` as for {@link api} (e.g. `background`). */
export async function all(path, options = {}) {
  const items = [];
  for (let offset = 0; ; offset += 500) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}limit=500&offset=${offset}`, options);
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return { ...page, items };
  }
}

/** Downloads an authenticated file (CSV) through a blob, keeping the token out of the URL. */
export async function download(path, fallbackName = 'report.csv') {
  const res = await api(path, { raw: true });
  const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1];
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name ?? fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * What went wrong, in the reader's language: the server's stable error codes and field rules have
 * texts of their own (web/i18n.js, `err.*`); the server's English message is the last resort.
 */
export function errorText(err) {
  const code = err?.body?.error;
  // A refusal with a code of its own (SELF_APPROVAL, OUT_OF_SCOPE…) says why; others are generic.
  if (err instanceof ApiError && err.status === 403 && !(code && hasText(`err.${code}`)))
    return t('common.forbidden');
  if (err instanceof TypeError) return t('err.network');
  const body = err?.body;
  const details = body?.details;
  if (Array.isArray(details) && details.length)
    return details
      .map((d) =>
        hasText(`err.${d.field}.${d.rule}`)
          ? t(`err.${d.field}.${d.rule}`)
          : hasText('err.field')
            ? t('err.field', { field: d.field })
            : (d.message ?? `${d.field}: ${d.rule}`),
      )
      .join('\n');
  if (body?.error && hasText(`err.${body.error}`)) return t(`err.${body.error}`);
  if (body?.error && hasText('err.other')) return t('err.other', { code: body.error });
  return err?.message ?? String(err);
}

export function showError(err, where = view()) {
  where.insertAdjacentHTML(
    'afterbegin',
    piece(html`<p class="error" role="alert">${t('common.error')}${errorText(err)}</p>`),
  );
}
