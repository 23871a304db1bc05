// What the forms share: the target picker, its reach and the clip list (new broadcast, schedules),
// and the labelled input lines of the sign-in and password forms.
import { t } from '../i18n.js';
import { all, api, errorText } from './api.js';
import { DEVICE_TYPES } from './contract.js';
import { $, $$, html, piece, raw } from './html.js';
import { debounce } from './timers.js';

/**
 * Picks a broadcast target. With `preselect: false` nothing is chosen at first (value() is null
 * until a scope is picked): a schedule must never default to the whole county.
 */
export async function targetPicker(container, onChange, { preselect = true } = {}) {
  const [towns, villages] = await Promise.all([all('/api/towns'), all('/api/villages')]);
  container.innerHTML = piece(
    html` <div class="checks">
        <label
          ><input type="radio" name="scope" value="all" ${preselect ? raw('checked') : ''} />
          ${t('new.target.all')}</label
        >
        <label><input type="radio" name="scope" value="choose" /> ${t('new.target.choose')}</label>
      </div>
      <div id="places" hidden>
        <p class="muted">${t('new.target.towns')}</p>
        <div class="checks">
          ${towns.items.map((x) => html`<label><input type="checkbox" name="town" value="${x.code}" /> ${x.name}</label>`)}
        </div>
        <p class="muted">${t('new.target.villages')}</p>
        <input type="search" id="village-search" placeholder="${t('new.target.search')}" />
        <div class="villages-pick">
          ${villages.items.map(
            (v) =>
              html`<label style="display: block" data-search="${v.name} ${v.code} ${v.townName}"
                ><input type="checkbox" name="village" value="${v.code}" /> ${v.name}
                <small class="muted">${v.townName}</small></label
              >`,
          )}
        </div>
      </div>
      <p class="muted">${t('new.target.types')}</p>
      <div class="checks">
        ${DEVICE_TYPES.map((x) => html`<label><input type="checkbox" name="type" value="${x}" /> ${t(`type.${x}`)}</label>`)}
      </div>`,
  );
  const value = () => {
    const checked = (name) => $$(`input[name="${name}"]:checked`, container).map((i) => i.value);
    const scope = $('input[name="scope"]:checked', container)?.value;
    if (!scope) return null;
    const target = {};
    if (scope === 'all') target.all = true;
    else {
      if (checked('town').length) target.towns = checked('town');
      if (checked('village').length) target.villages = checked('village');
    }
    if (checked('type').length) target.deviceTypes = checked('type');
    return target;
  };
  container.addEventListener('change', () => {
    $('#places', container).hidden =
      $('input[name="scope"]:checked', container)?.value !== 'choose';
    onChange(value());
  });
  $('#village-search', container).addEventListener('input', (e) => {
    const q = e.target.value.trim().toLowerCase();
    for (const label of $$('.villages-pick label', container))
      label.hidden = q !== '' && !label.dataset.search.toLowerCase().includes(q);
  });
  return {
    value,
    set(target) {
      const scope = target.all ? 'all' : 'choose';
      $(`input[name="scope"][value="${scope}"]`, container).checked = true;
      $('#places', container).hidden = scope === 'all';
      for (const i of $$('input[name="town"]', container))
        i.checked = target.towns?.includes(i.value) ?? false;
      for (const i of $$('input[name="village"]', container))
        i.checked = target.villages?.includes(i.value) ?? false;
      for (const i of $$('input[name="type"]', container))
        i.checked = target.deviceTypes?.includes(i.value) ?? false;
    },
  };
}

/** Shows how many villages and devices a target reaches, asking the server as it changes. */
export function reachLine(el) {
  let current = null;
  const update = debounce(async (target) => {
    current = null;
    delete el.dataset.villages;
    delete el.dataset.devices;
    if (!target) {
      el.textContent = t('new.target.none');
      return;
    }
    try {
      const reach = await api('/api/broadcasts/target-preview', { method: 'POST', body: target });
      current = reach;
      el.textContent = t('new.reach', reach);
      el.dataset.villages = reach.villages;
      el.dataset.devices = reach.devices;
    } catch (err) {
      el.textContent = errorText(err);
    }
  }, 250);
  return { update, value: () => current };
}

export async function clipOptions(select, selected) {
  const clips = await api('/api/clips?status=ready&limit=500');
  select.innerHTML = piece(
    html`<option value="">${t('new.clip.pick')}</option>
      ${clips.items.map(
        (c) =>
          html`<option value="${c.id}" ${c.id === selected ? raw('selected') : ''}>
            ${c.title} (${Math.round(c.durationMs / 1000)} s)
          </option>`,
      )}`,
  );
}

/** Fetches a clip's audio with the token and plays it from a blob URL. */
export async function previewClip(id, audio) {
  if (audio.src) URL.revokeObjectURL(audio.src);
  audio.removeAttribute('src');
  audio.hidden = !id;
  if (!id) return;
  const res = await api(`/api/clips/${id}/audio`, { raw: true });
  audio.src = URL.createObjectURL(await res.blob());
}

/**
 * A required input under its label, one to a line, as the sign-in and password forms have them.
 * `wide` stretches it across its card.
 */
export function inputLine(label, id, { type = 'text', autocomplete, minlength, wide, extra } = {}) {
  return html`<p>
    <label
      >${label}<br /><input
        id="${id}"
        type="${type}"
        ${autocomplete ? html`autocomplete="${autocomplete}"` : ''}
        ${minlength ? html`minlength="${minlength}"` : ''}
        ${extra ?? ''}
        required
        ${wide ? html`style="width: 100%"` : ''}
    /></label>
  </p>`;
}
