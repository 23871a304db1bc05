/**
 * A URL as a log line or an audit entry may show it: scheme, host, port and path, without the
 * user name, password, query string or fragment, which often carry a key (`?token=…`). A query
 * that was there shows as `?…`.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url.split(/[?#]/)[0]; // a relative one, say: its query may still hold a key
  }
  const hadQuery = u.search !== '';
  u.username = '';
  u.password = '';
  u.search = '';
  u.hash = '';
  return `${u.toString()}${hadQuery ? '?…' : ''}`;
}
