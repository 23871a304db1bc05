// The period report: coverage, usage and availability by town and village, CSV, Excel, print.
import { api, download, errorText, showError } from '../lib/api.js';
import { levelBadge, resultBadges } from '../lib/format.js';
import { $, html, piece, show } from '../lib/html.js';
import { stillHere } from '../lib/state.js';
import { fmtDuration, fmtPct, fmtTime, lang, t } from '../i18n.js';

/** The calendar day of an instant in the county's time zone (report days are the county's days). */
function dayIn(ms, timeZone) {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(ms));
}

export async function reportsView() {
  show(
    html`<h1>${t('rep.title')}</h1>
      <form id="report-form" class="toolbar card">
        <label>${t('rep.from')} <input type="date" id="r-from" required /></label>
        <label>${t('rep.to')} <input type="date" id="r-to" required /></label>
        <label
          >${t('rep.threshold')}
          <input type="number" id="r-threshold" min="0" max="100" value="90" style="width: 5rem"
        /></label>
        <button class="primary" type="submit">${t('rep.run')}</button>
        <span class="grow"></span>
        <button type="button" id="csv-villages">${t('rep.csvVillages')}</button>
        <button type="button" id="csv-broadcasts">${t('rep.csvBroadcasts')}</button>
        <button type="button" id="xlsx-villages">${t('rep.xlsxVillages')}</button>
        <button type="button" id="xlsx-broadcasts">${t('rep.xlsxBroadcasts')}</button>
        <button type="button" id="print">${t('rep.print')}</button>
      </form>
      <div id="report"></div>`,
  );
  // The first run takes the server's default (the last 30 days up to now), then shows its days.
  const query = () =>
    [
      $('#r-from').value && `from=${$('#r-from').value}`,
      $('#r-to').value && `to=${$('#r-to').value}`,
      `threshold=${(Number($('#r-threshold').value) || 0) / 100}`,
    ]
      .filter(Boolean)
      .join('&');
  const here = stillHere();
  const run = async () => {
    const target = $('#report');
    target.innerHTML = piece(html`<p class="muted">${t('common.loading')}</p>`);
    try {
      const r = await api(`/api/reports/coverage?${query()}`);
      if (!here()) return;
      if (!$('#r-from').value) $('#r-from').value = dayIn(Date.parse(r.from), r.timeZone);
      if (!$('#r-to').value) $('#r-to').value = dayIn(Date.parse(r.to) - 1, r.timeZone);
      const levels = Object.entries(r.broadcasts.byLevel).filter(([, n]) => n > 0);
      const outcomes = Object.entries(r.broadcasts.byOutcome).filter(([, n]) => n > 0);
      const towns = new Map();
      for (const v of r.villages) {
        if (!towns.has(v.townCode)) towns.set(v.townCode, { name: v.townName, villages: [] });
        towns.get(v.townCode).villages.push(v);
      }
      // Per town: what a town head signs off on paper (the print stylesheet keeps this table).
      const townLines = [...towns.entries()].map(([code, town]) => {
        const sum = (f) => town.villages.reduce((n, v) => n + f(v), 0);
        const avail = town.villages.filter((v) => v.availability !== null);
        return {
          code,
          name: town.name,
          villages: town.villages.length,
          targeted: sum((v) => v.targeted),
          covered: sum((v) => v.covered),
          manual: sum((v) => v.coveredManually),
          below: sum((v) => (v.belowThreshold ? 1 : 0)),
          used: sum((v) => (v.used ? 1 : 0)),
          availability: avail.length
            ? avail.reduce((n, v) => n + v.availability, 0) / avail.length
            : null,
        };
      });
      const fromDay = dayIn(Date.parse(r.from), r.timeZone);
      const toDay = dayIn(Date.parse(r.to) - 1, r.timeZone);
      target.innerHTML = piece(
        html`<p class="print-only print-title">
            ${t('rep.printTitle', { from: fromDay, to: toDay })}<br /><small
              >${t('rep.printGenerated', { at: fmtTime(r.generatedAt), zone: r.timeZone })}</small
            >
          </p>
          <div class="cards" id="report-summary" data-usage="${r.usage.rate ?? ''}">
            <div class="stat">
              <div class="v">${r.broadcasts.total}</div>
              <div class="k">${t('rep.broadcasts')}</div>
            </div>
            <div class="stat">
              <div class="v">${fmtPct(r.coverage.mean)}</div>
              <div class="k">${t('rep.mean')}</div>
            </div>
            <div class="stat">
              <div class="v">${fmtPct(r.coverage.worst?.rate)}</div>
              <div class="k">
                ${t('rep.worst')}${r.coverage.worst ? html`<br /><a href="#/broadcasts/${r.coverage.worst.id}">${r.coverage.worst.title}</a>` : ''}
              </div>
            </div>
            <div class="stat">
              <div class="v">${fmtPct(r.usage.rate)}</div>
              <div class="k">${t('rep.usage')}: ${r.usage.used}/${r.usage.villages}</div>
            </div>
            <div class="stat">
              <div class="v">${fmtPct(r.availability.mean)}</div>
              <div class="k">${t('rep.availability')}</div>
            </div>
          </div>
          <p class="muted">
            ${t('rep.byLevel')}:
            ${levels.length ? levels.map(([l, n]) => html`${levelBadge(l)} ${n} `) : t('common.none')}
            <br />${t('rep.byOutcome')}:
            ${outcomes.length ? outcomes.map(([o, n]) => `${t(`result.${o}`)} ${n}`).join(' · ') : t('common.none')}
          </p>
          <h2>${t('rep.byTown')}</h2>
          <div class="scroll">
            <table id="report-towns">
              <tr>
                <th>${t('detail.col.town')}</th>
                <th class="num">${t('rep.col.villages')}</th>
                <th class="num">${t('rep.col.targeted')}</th>
                <th class="num">${t('rep.col.covered')}</th>
                <th class="num">${t('rep.col.rate')}</th>
                <th class="num">${t('rep.col.below')}</th>
                <th class="num">${t('rep.col.used')}</th>
                <th class="num">${t('rep.availability')}</th>
              </tr>
              ${townLines.map(
                (x) =>
                  html`<tr data-town="${x.code}">
                    <td>${x.name}</td>
                    <td class="num">${x.villages}</td>
                    <td class="num">${x.targeted}</td>
                    <td class="num">
                      ${x.covered}${x.manual ? html` <small class="muted">(${t('detail.manual')} ${x.manual})</small>` : ''}
                    </td>
                    <td class="num">${fmtPct(x.targeted ? x.covered / x.targeted : null)}</td>
                    <td class="num">${x.below}</td>
                    <td class="num">${x.used}/${x.villages}</td>
                    <td class="num">${fmtPct(x.availability)}</td>
                  </tr>`,
              )}
            </table>
          </div>
          <h2>${t('rep.list')}</h2>
          ${
            r.broadcasts.items.length
              ? html`<div class="scroll">
                  <table id="report-broadcasts">
                    <tr>
                      <th>${t('bc.col.title')}</th>
                      <th>${t('bc.col.level')}</th>
                      <th>${t('rep.col.outcome')}</th>
                      <th class="num">${t('rep.col.rate')}</th>
                      <th class="num">${t('rep.col.firstSound')}</th>
                      <th class="num">${t('rep.col.played')}</th>
                    </tr>
                    ${r.broadcasts.items.map(
                      (b) =>
                        html`<tr data-id="${b.id}">
                          <td><a href="#/broadcasts/${b.id}">${b.title}</a></td>
                          <td>${levelBadge(b.level)}</td>
                          <td>${resultBadges(b)}</td>
                          <td class="num">${fmtPct(b.rate)}</td>
                          <td class="num first-sound">
                            ${b.firstSound.p90Ms === null ? '—' : fmtDuration(b.firstSound.p90Ms)}
                          </td>
                          <td class="num played">
                            ${b.played.p90Ms === null ? '—' : fmtDuration(b.played.p90Ms)}
                          </td>
                        </tr>`,
                    )}
                  </table>
                </div>`
              : ''
          }
          <h2>${t('rep.below')}</h2>
          ${
            r.belowThreshold.length
              ? html`<p id="below">
                  ${r.belowThreshold.map((v) => html`<a class="badge" href="#/village/${v.code}">${v.name} ${fmtPct(v.rate)}</a> `)}
                </p>`
              : html`<p class="ok-text">${t('rep.noneBelow')}</p>`
          }
          <h2 class="chart-title">${t('rep.chart')}</h2>
          <div class="legend">
            <span><i style="background: var(--ok)"></i>${t('rep.chart.rate')}</span
            ><span><i style="background: var(--info)"></i>${t('rep.chart.avail')}</span>
          </div>
          <div class="chart card" id="chart">
            ${[...towns.values()].map(
              (town) =>
                html`<h3>${town.name}</h3>
                  ${town.villages.map(
                    (v) =>
                      html`<div
                        class="line ${v.belowThreshold ? 'below' : ''}"
                        data-code="${v.code}"
                      >
                        <span>${v.name}</span>
                        <span class="bars"
                          ><span
                            class="rate"
                            style="width: ${((v.rate ?? 0) * 100).toFixed(1)}%"
                          ></span
                          ><span
                            class="avail"
                            style="width: ${((v.availability ?? 0) * 100).toFixed(1)}%"
                          ></span
                        ></span>
                        <span class="num">${fmtPct(v.rate)}</span>
                      </div>`,
                  )}`,
            )}
          </div>`,
      );
    } catch (err) {
      target.innerHTML = piece(html`<p class="error" role="alert">${errorText(err)}</p>`);
    }
  };
  $('#report-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void run();
  });
  $('#csv-villages').addEventListener('click', () =>
    download(`/api/reports/coverage?${query()}&format=csv&lang=${lang()}`).catch((err) =>
      showError(err),
    ),
  );
  for (const table of ['villages', 'broadcasts'])
    $(`#xlsx-${table}`).addEventListener('click', () =>
      download(`/api/reports/coverage?${query()}&format=xlsx&table=${table}&lang=${lang()}`).catch(
        (err) => showError(err),
      ),
    );
  $('#print').addEventListener('click', () => window.print());
  $('#csv-broadcasts').addEventListener('click', () =>
    download(`/api/reports/coverage?${query()}&format=csv&table=broadcasts&lang=${lang()}`).catch(
      (err) => showError(err),
    ),
  );
  await run();
}
