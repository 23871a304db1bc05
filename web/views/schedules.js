// Recurring broadcasts: the list, and the form with its picker, preview and quiet-hours check.
import { all, api, ApiError, errorText, showError } from '../lib/api.js';
import { levelsNeedingApproval, submitDraft } from '../lib/approvals.js';
import { LEVELS } from '../lib/contract.js';
import { cronProblem, cronToPicker, describeCron, pickerToCron, WEEK } from '../lib/cron.js';
import { openDialog } from '../lib/dialog.js';
import { levelBadge } from '../lib/format.js';
import { clipOptions, reachLine, targetPicker } from '../lib/forms.js';
import { $, $$, html, piece, raw, show } from '../lib/html.js';
import { canSend, isTownOfficial, stillHere } from '../lib/state.js';
import { debounce } from '../lib/timers.js';
import { fmtClock, fmtZoned, t } from '../i18n.js';

/** Level I and II schedules need the explicit confirmation a sent emergency needs. */
const CONFIRM_SCHEDULE = new Set(['I', 'II']);

/** The server's refusal of a schedule, in the staff's language where the form knows the field. */
function scheduleErrorText(err) {
  const details = err?.body?.details;
  if (!(err instanceof ApiError) || err.status !== 400 || !Array.isArray(details))
    return errorText(err);
  const known = (d) => {
    // The same fields come bare from the quiet-hours preview and under template. when saving.
    const f = (d.field ?? '').replace(/^(?=level|target|clipId|windowMinutes)/, 'template.');
    if (f === 'cron') return t('sch.err.cron');
    if (f === 'timeZone') return t('sch.err.tz');
    if (f === 'name') return t('sch.err.name');
    if (f === 'template.title') return t('sch.err.title');
    if (f === 'template.level') return t('sch.err.level');
    if (f === 'template.windowMinutes') return t('sch.err.window');
    if (f === 'template.clipId')
      return t(
        { exists: 'sch.err.clipUnknown', usable: 'sch.err.clipFailed' }[d.rule] ?? 'sch.err.clip',
      );
    if (f.startsWith('template.target'))
      return d.rule === 'exists' ? t('sch.err.targetUnknown') : t('sch.err.target');
    return d.message ?? `${f}: ${d.rule}`;
  };
  return [...new Set(details.map(known))].join('\n');
}

const showDraft = (draft) => {
  location.hash = `#/approvals/${draft.id}`;
};

export async function schedulesView() {
  const page = await all('/api/schedules');
  show(
    html`<div class="toolbar">
        <h1 class="grow">${t('sch.title')}</h1>
        ${canSend() ? html`<a class="button primary" href="#/schedules/new" id="new-schedule">${t('sch.new')}</a>` : ''}
      </div>
      ${
        page.items.length
          ? html`<div class="scroll">
              <table id="schedules">
                <tr>
                  <th>${t('sch.col.name')}</th>
                  <th>${t('sch.col.cron')}</th>
                  <th>${t('bc.col.level')}</th>
                  <th>${t('sch.col.next')}</th>
                  <th>${t('sch.col.enabled')}</th>
                  <th></th>
                </tr>
                ${page.items.map(
                  (s) =>
                    html`<tr data-id="${s.id}">
                      <td>${s.name}</td>
                      <td class="rule">
                        ${describeCron(s.cron) ?? html`<code>${s.cron}</code>`}
                        <br /><small class="muted"
                          >${describeCron(s.cron) ? html`<code>${s.cron}</code> ` : ''}${s.timeZone}</small
                        >
                      </td>
                      <td>${levelBadge(s.template.level)}</td>
                      <td>${s.nextFireAt ? fmtZoned(s.nextFireAt, s.timeZone) : '—'}</td>
                      <td>${s.enabled ? t('sch.enabled') : t('sch.disabled')}</td>
                      <td>
                        ${
                          canSend()
                            ? html`<button
                                  type="button"
                                  class="toggle"
                                  data-id="${s.id}"
                                  data-enabled="${s.enabled}"
                                >
                                  ${s.enabled ? t('sch.disable') : t('sch.enable')}
                                </button>
                                <a class="button" href="#/schedules/${s.id}">${t('sch.edit')}</a>`
                            : ''
                        }
                      </td>
                    </tr>`,
                )}
              </table>
            </div>`
          : html`<p class="muted">${t('sch.empty')}</p>`
      }`,
  );
  for (const button of $$('button.toggle')) {
    button.addEventListener('click', async () => {
      const s = page.items.find((x) => x.id === button.dataset.id);
      const enabling = button.dataset.enabled !== 'true';
      // Re-arming a level I/II schedule sends emergencies without anyone looking: ask first.
      if (
        enabling &&
        CONFIRM_SCHEDULE.has(s.template.level) &&
        !confirm(
          t('sch.enableConfirm', {
            level: t(`level.${s.template.level}`),
            title: s.template.title,
            rule: describeCron(s.cron) ?? s.cron,
          }),
        )
      )
        return;
      try {
        // Re-arming one whose level needs approval is a change a second person approves.
        if (enabling && (await levelsNeedingApproval()).has(s.template.level))
          return showDraft(await submitDraft({ scheduleId: s.id, changes: { enabled: true } }));
        await api(`/api/schedules/${button.dataset.id}`, {
          method: 'PATCH',
          body: { enabled: enabling },
        });
        await schedulesView();
      } catch (err) {
        showError(err);
      }
    });
  }
}

export async function scheduleFormView(id) {
  const here = stillHere();
  if (!canSend()) {
    show(html`<p class="error">${t('common.forbidden')}</p>`);
    return;
  }
  const [existing, needsApproval] = await Promise.all([
    id === 'new' ? null : api(`/api/schedules/${encodeURIComponent(id)}`),
    levelsNeedingApproval(),
  ]);
  if (!here()) return;
  const modes = ['daily', 'weekdays', 'weekly', 'monthly'];
  show(
    html`<p><a href="#/schedules">← ${t('sch.title')}</a></p>
      <h1>${existing ? existing.name : t('sch.new')}</h1>
      <form id="schedule-form" class="card" novalidate>
        <div class="row">
          <label for="s-name">${t('sch.name')}</label><input id="s-name" maxlength="200" />
        </div>
        <div class="row">
          <label>${t('sch.when')}</label>
          <div id="s-when">
            <div id="s-picker">
              <div class="checks" role="radiogroup">
                ${modes.map(
                  (m) =>
                    html`<label
                      ><input
                        type="radio"
                        name="s-mode"
                        value="${m}"
                        ${m === 'daily' ? raw('checked') : ''}
                      />
                      ${t(`sch.mode.${m}`)}</label
                    >`,
                )}
              </div>
              <div class="checks" id="s-days" hidden>
                ${WEEK.map(
                  (d) =>
                    html`<label
                      ><input type="checkbox" name="s-day" value="${d}" /> ${t(`wd.${d}`)}</label
                    >`,
                )}
              </div>
              <p id="s-dom-row" hidden>
                <label
                  >${t('sch.dom')}
                  <input type="number" id="s-dom" min="1" max="31" value="1" style="width: 5rem"
                /></label>
                <small class="muted">${t('sch.dom.hint')}</small>
              </p>
              <p>
                <label>${t('sch.time')} <input type="time" id="s-time" value="08:00" /></label>
                <small class="muted" id="s-cron-shown"></small>
              </p>
            </div>
            <p id="s-picker-off" class="warn-text" hidden>${t('sch.advanced.only')}</p>
            <label><input type="checkbox" id="s-advanced" /> ${t('sch.advanced')}</label>
            <div id="s-cron-row" hidden>
              <input id="s-cron" placeholder="0 8 * * 1-5" autocomplete="off" spellcheck="false" />
              <small class="muted">${t('sch.cron.hint')}</small>
            </div>
          </div>
        </div>
        <div class="row">
          <label for="s-tz">${t('sch.tz')}</label><input id="s-tz" value="Asia/Shanghai" />
        </div>
        <div class="row">
          <label>${t('sch.preview')}</label>
          <div>
            <ol id="s-preview" class="muted">
              <li>${t('sch.previewNeeded')}</li>
            </ol>
            <small class="muted" id="s-preview-zone"></small>
          </div>
        </div>
        <div class="row">
          <label for="s-title">${t('new.name')}</label><input id="s-title" maxlength="200" />
        </div>
        <div class="row">
          <label for="clip">${t('new.clip')}</label
          ><select id="clip"></select>
        </div>
        <div class="row">
          <label for="s-level">${t('new.level')}</label>
          <div>
            <select id="s-level">
              <option value="">${t('level.pick')}</option>
              ${(isTownOfficial() ? LEVELS.filter((l) => l === 'routine' || l === 'test') : LEVELS).map((l) => html`<option value="${l}">${t(`level.${l}`)}</option>`)}
            </select>
            <span id="s-level-badge"></span>
          </div>
        </div>
        <div class="row">
          <label>${t('new.target')}</label>
          <div>
            <div id="target"></div>
            <p id="reach" class="muted" role="status"></p>
          </div>
        </div>
        <div class="row">
          <label>${t('sch.quiet.title')}</label>
          <div id="s-quiet" class="muted" role="status">${t('sch.quiet.pending')}</div>
        </div>
        <div class="row">
          <label for="s-window">${t('sch.window')}</label>
          <div>
            <input type="number" id="s-window" min="1" max="10080" />
            <small class="muted">${t('sch.window.hint')}</small>
          </div>
        </div>
        <div class="row">
          <label></label
          ><label><input type="checkbox" id="s-enabled" checked /> ${t('sch.enabled')}</label>
        </div>
        <p class="error" id="form-error" role="alert"></p>
        <button class="primary" type="submit" id="s-save">${t('common.save')}</button>
      </form>`,
  );
  await clipOptions($('#clip'), existing?.template.clipId);
  if (!here()) return;
  const reachOf = reachLine($('#reach'));

  // -- when: the picker writes the cron; the advanced field takes any cron --
  const pickerState = () => ({
    mode: $('input[name="s-mode"]:checked').value,
    days: $$('input[name="s-day"]:checked').map((i) => Number(i.value)),
    dom: Number($('#s-dom').value),
    time: $('#s-time').value,
  });
  const showPicker = (p) => {
    $(`input[name="s-mode"][value="${p.mode}"]`).checked = true;
    for (const i of $$('input[name="s-day"]')) i.checked = p.days.includes(Number(i.value));
    $('#s-dom').value = String(p.dom);
    $('#s-time').value = p.time;
  };
  const advanced = () => $('#s-advanced').checked;
  /** The rule as the form stands: `{ cron }` or `{ problem }`. */
  const rule = () => {
    if (!advanced()) return pickerToCron(pickerState());
    const cron = $('#s-cron').value.trim().replace(/\s+/g, ' ');
    if (!cron) return { problem: t('sch.previewNeeded') };
    const problem = cronProblem(cron);
    return problem ? { problem } : { cron };
  };
  const layout = () => {
    const mode = pickerState().mode;
    $('#s-days').hidden = mode !== 'weekly';
    $('#s-dom-row').hidden = mode !== 'monthly';
    $('#s-cron-row').hidden = !advanced();
    $('#s-picker').hidden = advanced();
    $('#s-picker-off').hidden = !advanced() || cronToPicker($('#s-cron').value) !== null;
    const r = rule();
    $('#s-cron-shown').textContent = r.cron ? t('sch.cronIs', { cron: r.cron }) : '';
  };

  // -- the next firings, and the villages quiet hours hold back --
  let previewOk = false;
  const level = () => $('#s-level').value;
  const windowMinutes = () => Number($('#s-window').value) || undefined;
  let quietAsked = 0;
  const showQuiet = debounce(async () => {
    if (!here()) return;
    // Answers can arrive out of order: only the latest question's answer is drawn.
    const asked = ++quietAsked;
    const box = $('#s-quiet');
    const r = rule();
    const target = picker.value();
    if (!previewOk || !r.cron || !level() || !target) {
      box.textContent = t('sch.quiet.pending');
      delete box.dataset.held;
      return;
    }
    try {
      const q = await api('/api/schedules/quiet-preview', {
        method: 'POST',
        body: {
          cron: r.cron,
          timeZone: $('#s-tz').value.trim() || undefined,
          level: level(),
          target,
          ...(windowMinutes() ? { windowMinutes: windowMinutes() } : {}),
          count: 10,
        },
      });
      if (!here() || asked !== quietAsked) return;
      box.dataset.held = String(q.villages.length);
      box.innerHTML = piece(
        !q.heldByQuietHours
          ? html`<span>${t('sch.quiet.emergency')}</span>`
          : !q.villages.length
            ? html`<span
                >${t('sch.quiet.none', { n: q.firings, villages: q.targetedVillages })}</span
              >`
            : html`<details ${q.villages.length <= 8 ? raw('open') : ''}>
                <summary class="warn-text">
                  ${t('sch.quiet.some', { n: q.firings, count: q.villages.length })}
                </summary>
                <ul id="s-quiet-villages">
                  ${q.villages.map(
                    (v) =>
                      html`<li data-code="${v.code}" data-never="${v.neverPlayed}">
                        <a href="#/village/${v.code}">${v.name}</a>${t('sch.quiet.village', {
                          town: v.townName,
                          hours: v.quietHours,
                          held: v.held,
                        })}${
                          v.first.playsAt
                            ? t('sch.quiet.later', {
                                time: fmtClock(v.first.playsAt, q.quietTimeZone),
                              })
                            : ''
                        }${v.neverPlayed ? t('sch.quiet.never', { never: v.neverPlayed }) : ''}
                      </li>`,
                  )}
                </ul>
              </details>`,
      );
    } catch (err) {
      if (asked === quietAsked) box.textContent = scheduleErrorText(err);
    }
  }, 300);
  const preview = debounce(async () => {
    if (!here()) return;
    layout();
    previewOk = false;
    const r = rule();
    const list = $('#s-preview');
    if (r.problem) {
      list.innerHTML = piece(html`<li class="error" data-problem>${r.problem}</li>`);
      showQuiet();
      return;
    }
    const zone = $('#s-tz').value.trim();
    try {
      const p = await api(
        `/api/schedules/preview?cron=${encodeURIComponent(r.cron)}&count=10${zone ? `&timeZone=${encodeURIComponent(zone)}` : ''}`,
      );
      if (!here()) return;
      list.innerHTML = piece(p.times.map((x) => html`<li>${fmtZoned(x, p.timeZone)}</li>`));
      $('#s-preview-zone').textContent = t('sch.previewZone', { zone: p.timeZone });
      previewOk = true;
    } catch (err) {
      list.innerHTML = piece(html`<li class="error" data-problem>${scheduleErrorText(err)}</li>`);
    }
    showQuiet();
  }, 300);
  const picker = await targetPicker(
    $('#target'),
    (target) => {
      reachOf.update(target);
      showQuiet();
    },
    { preselect: false },
  );
  const levelChanged = () => {
    $('#s-level-badge').innerHTML = level() ? piece(levelBadge(level())) : '';
    showQuiet();
  };

  const whenChanged = () => {
    layout();
    preview();
  };
  $('#s-when').addEventListener('input', whenChanged);
  $('#s-when').addEventListener('change', whenChanged);
  $('#s-advanced').addEventListener('change', () => {
    if (advanced()) {
      // The advanced field starts from what the picker says.
      const r = pickerToCron(pickerState());
      if (r.cron && !$('#s-cron').value.trim()) $('#s-cron').value = r.cron;
    } else {
      const p = cronToPicker($('#s-cron').value);
      if (p) showPicker(p);
      $('#s-cron').value = '';
    }
  });
  $('#s-tz').addEventListener('input', preview);
  $('#s-level').addEventListener('change', levelChanged);
  $('#s-window').addEventListener('input', showQuiet);

  if (existing) {
    $('#s-name').value = existing.name;
    const p = cronToPicker(existing.cron);
    if (p) showPicker(p);
    else {
      $('#s-advanced').checked = true;
      $('#s-cron').value = existing.cron;
    }
    $('#s-tz').value = existing.timeZone;
    $('#s-title').value = existing.template.title;
    $('#s-level').value = existing.template.level;
    $('#s-window').value = existing.template.windowMinutes ?? '';
    $('#s-enabled').checked = existing.enabled;
    picker.set(existing.template.target);
    reachOf.update(picker.value());
  } else reachOf.update(null);
  levelChanged();
  layout();
  preview();

  const save = async (body) => {
    const button = $('#s-save');
    button.disabled = true;
    // A level needing a second person is saved as a draft; its page says it waits for approval.
    const asDraft = needsApproval.has(body.template.level);
    try {
      if (existing) {
        // A changed rule restarts the schedule from now; an unchanged one must not skip a firing.
        const patch = { ...body };
        if (patch.cron === existing.cron) delete patch.cron;
        if ((patch.timeZone ?? existing.timeZone) === existing.timeZone) delete patch.timeZone;
        if (asDraft)
          return showDraft(await submitDraft({ scheduleId: existing.id, changes: patch }));
        await api(`/api/schedules/${existing.id}`, { method: 'PATCH', body: patch });
      } else if (asDraft) return showDraft(await submitDraft({ schedule: body }));
      else await api('/api/schedules', { method: 'POST', body });
      location.hash = '#/schedules';
    } catch (err) {
      $('#form-error').textContent = scheduleErrorText(err);
      button.disabled = false;
    }
  };
  $('#schedule-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const r = rule();
    const target = picker.value();
    const title = $('#s-title').value.trim();
    const problems = [
      !$('#s-name').value.trim() && t('sch.err.name'),
      r.problem,
      !title && t('sch.err.title'),
      !$('#clip').value && t('sch.err.clip'),
      !level() && t('sch.err.level'),
      !target && t('sch.err.target'),
    ].filter(Boolean);
    $('#form-error').textContent = problems.join('\n');
    if (problems.length) return;
    const body = {
      name: $('#s-name').value.trim(),
      cron: r.cron,
      timeZone: $('#s-tz').value.trim() || undefined,
      enabled: $('#s-enabled').checked,
      template: {
        title,
        clipId: $('#clip').value,
        level: level(),
        target,
        ...(windowMinutes() ? { windowMinutes: windowMinutes() } : {}),
      },
    };
    if (!CONFIRM_SCHEDULE.has(body.template.level)) return void save(body);
    // A level I/II schedule is an emergency sent later without anyone looking: confirm it now,
    // with its reach, as sending one is confirmed.
    const reach = reachOf.value();
    const dialog = openDialog(
      html`<div class="card">
        <h2>${t('sch.confirmTitle')}</h2>
        <p>${levelBadge(body.template.level)}</p>
        <p>
          ${t('sch.confirmText', {
            level: t(`level.${body.template.level}`),
            title,
            rule: describeCron(body.cron) ?? body.cron,
            villages: reach?.villages ?? '?',
            devices: reach?.devices ?? '?',
          })}
        </p>
        <div class="toolbar">
          <button type="button" class="danger" id="confirm-save">${t('sch.confirmGo')}</button>
          <button type="button" id="confirm-back" data-close autofocus>${t('common.back')}</button>
        </div>
      </div>`,
      { id: 'confirm', label: t('sch.confirmTitle') },
    );
    $('#confirm-save', dialog).addEventListener('click', () => {
      dialog.close();
      void save(body);
    });
  });
}
