// What the dashboard holds between calls, in one place: the session, the current view's
// generation and what to undo when it is left. Views import it; nothing keeps a copy.
// A session is a person's (via 'session': the cookie carries it, csrfToken guards writes) or an
// API token's (via 'token': the token goes in the Authorization header).

export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem('dalaba.session') ?? 'null');
    } catch {
      return null;
    }
  },
  set(s) {
    sessionStorage.setItem('dalaba.session', JSON.stringify(s));
  },
  clear() {
    sessionStorage.removeItem('dalaba.session');
  },
};
/** County operators and admins (town officials have towns and are never county-wide). */
export const canOperate = () =>
  ['operator', 'admin'].includes(session.get()?.role) && !session.get()?.towns;
/** Who may send at all: operators, and town officials (routine and test, in their towns). */
export const canSend = () => canOperate() || session.get()?.role === 'town_official';
/** County-wide staff: town officials (towns set) never see county-only pages or links. */
export const isCounty = () => !session.get()?.towns;
export const isTownOfficial = () => session.get()?.role === 'town_official';
export const isAdmin = () => session.get()?.role === 'admin';
/** Who may approve drafts: county operators and admins. */
export const mayApprove = () => isCounty() && ['operator', 'admin'].includes(session.get()?.role);

/** Why the sign-in page is shown, said once there ('expired' after SESSION_EXPIRED). */
export const notice = {
  value: null,
  take() {
    const v = this.value;
    this.value = null;
    return v;
  },
};

/** A cookie session's state from the server's SessionDto. */
export function sessionFrom(dto) {
  const u = dto.user ?? {};
  return {
    via: 'session',
    name: u.name ?? u.displayName ?? u.username,
    role: u.role,
    towns: u.towns ?? null,
    userId: u.userId ?? u.id ?? null,
    username: u.username ?? null,
    csrfToken: dto.csrfToken,
    mustChangePassword: Boolean(u.mustChangePassword ?? dto.mustChangePassword),
  };
}

const cleanup = [];
export function onLeave(fn) {
  cleanup.push(fn);
}
/** Bumped on every navigation: work started for an earlier view must not draw over this one. */
export let generation = 0;
export function stillHere() {
  const mine = generation;
  return () => mine === generation;
}
/** Leaves the current view: later work of the old one sees it is gone, and its cleanups run. */
export function enterView() {
  generation++;
  for (const fn of cleanup.splice(0)) fn();
}
