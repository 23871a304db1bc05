// The admin's list of staff: adding people (their one-time password is shown here once), resetting
// a forgotten password, unlocking, disabling, and changing a role or a town official's towns.
import { all, api, errorText, showError } from '../lib/api.js';
import { openDialog } from '../lib/dialog.js';
import { $, $$, html, raw, show } from '../lib/html.js';
import { isAdmin } from '../lib/state.js';
import { fmtTime, t } from '../i18n.js';

const ROLES = ['viewer', 'town_official', 'operator', 'admin'];
const isDisabled = (u) => Boolean(u.disabled ?? u.disabledAt);
const isLocked = (u) => Boolean(u.lockedUntil && Date.parse(u.lockedUntil) > Date.now());

/** Role select and town checkboxes: towns only mean something for a town official. */
function roleFields(towns, { role = 'operator', chosen = [] } = {}) {
  return html`<p>
      <label
        >${t('staff.role')}<br /><select id="u-role">
          ${ROLES.map((r) => html`<option value="${r}" ${r === role ? raw('selected') : ''}>${t(`role.${r}`)}</option>`)}
        </select></label
      >
    </p>
    <fieldset id="u-towns" ${role === 'town_official' ? '' : raw('hidden')}>
      <legend>${t('staff.towns')}</legend>
      <div class="checks">
        ${towns.map((x) => html`<label><input type="checkbox" name="u-town" value="${x.code}" ${chosen.includes(x.code) ? raw('checked') : ''} /> ${x.name}</label>`)}
      </div>
    </fieldset>`;
}
function bindRole(root) {
  $('#u-role', root).addEventListener('change', (e) => {
    $('#u-towns', root).hidden = e.target.value !== 'town_official';
  });
  return () => {
    const role = $('#u-role', root).value;
    const towns = $$('input[name="u-town"]:checked', root).map((i) => i.value);
    return { role, towns: role === 'town_official' ? towns : [] };
  };
}

/** A one-time password, shown this once: the admin hands it over; the person must replace it. */
function showOneTime(username, password) {
  openDialog(
    html`<div class="card">
      <h2>${t('staff.oneTimeTitle')}</h2>
      <p>${t('staff.oneTimeText', { username })}</p>
      <p><code id="one-time-password" style="font-size: 1.4em">${password}</code></p>
      <div class="toolbar">
        <button type="button" data-close autofocus id="one-time-done">${t('staff.done')}</button>
      </div>
    </div>`,
    { id: 'one-time', label: t('staff.oneTimeTitle') },
  );
}

export async function staffView() {
  if (!isAdmin()) {
    show(html`<p class="error">${t('common.forbidden')}</p>`);
    return;
  }
  let users, towns;
  try {
    [users, towns] = await Promise.all([all('/api/users'), all('/api/towns')]);
  } catch (err) {
    // The page keeps its heading: the nav still leads somewhere that says what went wrong.
    show(html`<h1>${t('staff.title')}</h1>`);
    return showError(err);
  }
  const townName = new Map(towns.items.map((x) => [x.code, x.name]));
  show(
    html`<h1>${t('staff.title')}</h1>
      <p class="muted">${t('staff.intro')}</p>
      <div class="scroll">
        <table id="users">
          <thead>
            <tr>
              <th>${t('staff.username')}</th>
              <th>${t('staff.name')}</th>
              <th>${t('staff.role')}</th>
              <th>${t('staff.towns')}</th>
              <th>${t('staff.state')}</th>
              <th>${t('staff.lastLogin')}</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${users.items.map(
              (u) =>
                html`<tr data-id="${u.id}" data-username="${u.username}">
                  <td>${u.username}</td>
                  <td>
                    ${u.displayName}${u.phone ? html` <small class="muted">${u.phone}</small>` : ''}
                  </td>
                  <td class="role">${t(`role.${u.role}`)}</td>
                  <td class="towns">
                    ${(u.towns ?? []).map((c) => townName.get(c) ?? c).join('、')}
                  </td>
                  <td class="state">
                    ${isDisabled(u) ? t('staff.disabled') : isLocked(u) ? t('staff.locked') : t('staff.active')}
                    ${u.mustChangePassword ? html` · ${t('staff.mustChange')}` : ''}
                  </td>
                  <td>${u.lastLoginAt ? fmtTime(u.lastLoginAt) : '—'}</td>
                  <td class="toolbar">
                    <button type="button" data-act="edit">${t('staff.edit')}</button>
                    <button type="button" data-act="reset">${t('staff.reset')}</button>
                    ${isLocked(u) || u.failedLogins ? html`<button type="button" data-act="unlock">${t('staff.unlock')}</button>` : ''}
                    <button type="button" data-act="${isDisabled(u) ? 'enable' : 'disable'}">
                      ${isDisabled(u) ? t('staff.enable') : t('staff.disable')}
                    </button>
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
      <form id="add-user" class="card">
        <h2>${t('staff.add')}</h2>
        <p>
          <label
            >${t('staff.username')}<br /><input id="u-username" required autocapitalize="none"
          /></label>
        </p>
        <p>
          <label>${t('staff.name')}<br /><input id="u-display" required /></label>
        </p>
        <p>
          <label>${t('staff.phone')}<br /><input id="u-phone" type="tel" /></label>
        </p>
        ${roleFields(towns.items)}
        <p class="error" id="add-error" role="alert"></p>
        <button class="primary" type="submit" id="add-submit">${t('staff.addSubmit')}</button>
      </form>`,
  );
  const roleOf = bindRole($('#add-user'));
  $('#add-user').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const created = await api('/api/users', {
        method: 'POST',
        body: {
          username: $('#u-username').value.trim().toLowerCase(),
          displayName: $('#u-display').value.trim(),
          ...($('#u-phone').value.trim() ? { phone: $('#u-phone').value.trim() } : {}),
          ...roleOf(),
        },
      });
      await staffView();
      showOneTime(created.username, created.oneTimePassword);
    } catch (err) {
      $('#add-error').textContent = errorText(err);
    }
  });
  $('#users').addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-act]');
    if (!button) return;
    const row = button.closest('tr');
    const u = users.items.find((x) => x.id === row.dataset.id);
    const path = `/api/users/${u.id}`;
    try {
      if (button.dataset.act === 'reset') {
        if (!confirm(t('staff.resetConfirm', { username: u.username }))) return;
        const r = await api(`${path}/reset-password`, { method: 'POST' });
        await staffView();
        showOneTime(u.username, r.oneTimePassword);
      } else if (button.dataset.act === 'unlock') {
        await api(`${path}/unlock`, { method: 'POST' });
        await staffView();
      } else if (button.dataset.act === 'disable' || button.dataset.act === 'enable') {
        await api(path, { method: 'PATCH', body: { disabled: button.dataset.act === 'disable' } });
        await staffView();
      } else if (button.dataset.act === 'edit') editDialog(u, towns.items);
    } catch (err) {
      showError(err);
    }
  });
}

function editDialog(u, towns) {
  const dialog = openDialog(
    html`<form class="card" id="edit-user">
      <h2>${u.username}</h2>
      <p>
        <label
          >${t('staff.name')}<br /><input id="e-display" value="${u.displayName}" required
        /></label>
      </p>
      <p>
        <label
          >${t('staff.phone')}<br /><input id="e-phone" type="tel" value="${u.phone ?? ''}"
        /></label>
      </p>
      ${roleFields(towns, { role: u.role, chosen: u.towns ?? [] })}
      <p class="error" id="edit-error" role="alert"></p>
      <div class="toolbar">
        <button type="submit" class="primary" id="edit-save">${t('common.save')}</button>
        <button type="button" data-close>${t('common.back')}</button>
      </div>
    </form>`,
    { id: 'edit-dialog', label: u.username },
  );
  const roleOf = bindRole(dialog);
  $('#edit-user', dialog).addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api(`/api/users/${u.id}`, {
        method: 'PATCH',
        body: {
          displayName: $('#e-display', dialog).value.trim(),
          phone: $('#e-phone', dialog).value.trim() || null,
          ...roleOf(),
        },
      });
      dialog.close();
      await staffView();
    } catch (err) {
      $('#edit-error', dialog).textContent = errorText(err);
    }
  });
}
